// orderctl: a command line client for people and scripts, built on the client library
// (a fresh idempotency key per command, retried with the same key on transient errors).
//
//   orderctl create --customer=alice --items=book:2:1250,pen:1:300 [--currency=USD]
//                   [--payment_method=pm_card_visa] [--key=K]
//   orderctl get ID
//   orderctl list [--customer=C] [--status=PAID] [--page_size=N] [--page_token=T] [--all]
//   orderctl cancel ID [--reason=R] [--key=K]
//   orderctl address ID --name=N --line1=L [--line2=] --city=C --postal_code=P --country=JP
//   orderctl analytics CUSTOMER
//   orderctl import --file=orders.jsonl [--import_id=ID] [--chunk_size=100]
//                   (one CreateOrderRequest JSON per line; rerun with the same id to resume)
//   orderctl outbox list [--status=DEAD] [--min_age=10m] [--page_size=N]
//   orderctl outbox requeue [ID...]          (no ids: every DEAD event)
//   orderctl outbox stats
//   orderctl reconcile [--repair]            (= outbox reconcile; exit 1 while mismatches remain)
//   orderctl health [liveness]               (readiness; `liveness`: the database-free name)
//
// Global: --addr (env ORDER_ADDR), --token (env ORDER_TOKEN), --json, --timeout, TLS flags;
// outbox commands: --admin_token (env ORDER_ADMIN_TOKEN).
// Exit status: 0 success, 1 the server said no (code and reason on stderr), 2 usage error.
#include "tools/orderctl.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/orders_client.h"
#include "common/env.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/status_mapper.h"
#include "common/tls.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

ABSL_FLAG(std::string, addr, common::EnvOr("ORDER_ADDR", "127.0.0.1:50051"),
          "order service target: host:port, dns:///name:port or ipv4:a:p1,b:p2; env ORDER_ADDR");
ABSL_FLAG(std::string, token, "", "bearer token; when empty, env ORDER_TOKEN");
ABSL_FLAG(std::string, admin_token, "",
          "operator token for the outbox commands (OutboxAdmin); when empty, env "
          "ORDER_ADMIN_TOKEN");
ABSL_FLAG(bool, json, false, "print JSON (proto field names) instead of text");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30), "overall deadline, retries included");
ABSL_FLAG(absl::Duration, attempt_timeout, absl::Seconds(5), "deadline of each try");
ABSL_FLAG(std::string, lb, "round_robin", "load-balancing policy over the target's addresses");
ABSL_FLAG(std::string, service_config, "",
          "a gRPC service config JSON file for the channel (e.g. deploy/service_config.json)");
ABSL_FLAG(bool, tls, common::EnvBoolOr("ORDER_TLS", false),
          "use TLS (implied by --tls_ca/--tls_cert); env ORDER_TLS");
ABSL_FLAG(std::string, tls_ca, common::EnvOr("ORDER_TLS_CA", ""),
          "CA certificate (PEM) that signs the server's; empty: system roots; env ORDER_TLS_CA");
ABSL_FLAG(std::string, tls_cert, common::EnvOr("ORDER_TLS_CLIENT_CERT", ""),
          "client certificate for mTLS; env ORDER_TLS_CLIENT_CERT");
ABSL_FLAG(std::string, tls_key, common::EnvOr("ORDER_TLS_CLIENT_KEY", ""),
          "client private key for mTLS; env ORDER_TLS_CLIENT_KEY");
ABSL_FLAG(std::string, tls_server_name, "", "name to verify in the server's certificate");
// create
ABSL_FLAG(std::string, customer, "", "customer id (create, list)");
ABSL_FLAG(std::vector<std::string>, items, {}, "line items sku:quantity:unit_price_cents,...");
ABSL_FLAG(std::string, currency, "USD", "ISO 4217 currency (create)");
ABSL_FLAG(std::string, payment_method, "pm_card_visa", "payment method token (create)");
ABSL_FLAG(std::string, key, "",
          "idempotency key (create, cancel); empty: a new random one, printed so you can retry");
// list
ABSL_FLAG(std::string, status, "",
          "status filter: CREATED, PAID, ... (list; outbox list: DEAD...)");
ABSL_FLAG(int, page_size, 0, "page size (list, outbox list); 0: the server's default");
ABSL_FLAG(std::string, page_token, "", "page token from a previous list");
ABSL_FLAG(bool, all, false, "follow next_page_token to the end (list)");
// cancel
ABSL_FLAG(std::string, reason, "", "cancellation reason (cancel)");
// address
ABSL_FLAG(std::string, name, "", "recipient (address)");
ABSL_FLAG(std::string, line1, "", "address line 1 (address)");
ABSL_FLAG(std::string, line2, "", "address line 2 (address)");
ABSL_FLAG(std::string, city, "", "city (address)");
ABSL_FLAG(std::string, postal_code, "", "postal code (address)");
ABSL_FLAG(std::string, country, "", "ISO 3166-1 alpha-2 country (address)");
// import
ABSL_FLAG(std::string, file, "", "JSON lines of CreateOrderRequest, '-' for stdin (import)");
ABSL_FLAG(std::string, import_id, "",
          "name of the import (import); empty: a new random one, printed so you can resume");
ABSL_FLAG(int, chunk_size, 100, "orders per chunk (import)");
// outbox
ABSL_FLAG(bool, repair, false, "repair what is safe (outbox reconcile)");
ABSL_FLAG(absl::Duration, min_age, absl::ZeroDuration(),
          "only events at least this old (outbox list)");

namespace orderctl {

constexpr char kUsage[] =
    "command line client for orders.v1\n"
    "  orderctl create --customer=C --items=sku:qty:cents[,...] [--currency=USD]\n"
    "                  [--payment_method=pm_card_visa] [--key=K]\n"
    "  orderctl get ID\n"
    "  orderctl list [--customer=C] [--status=PAID] [--page_size=N] [--page_token=T] [--all]\n"
    "  orderctl cancel ID [--reason=R] [--key=K]\n"
    "  orderctl address ID --name=N --line1=L [--line2=L2] --city=C --postal_code=P --country=CC\n"
    "  orderctl analytics CUSTOMER\n"
    "  orderctl import --file=orders.jsonl|- [--import_id=ID] [--chunk_size=100]\n"
    "  orderctl outbox list [--status=DEAD] [--min_age=10m] [--page_size=N]\n"
    "  orderctl outbox requeue [ID...]\n"
    "  orderctl outbox stats\n"
    "  orderctl reconcile [--repair]   (exit 1 while mismatches remain)\n"
    "  orderctl health [liveness]\n"
    "global: --addr (env ORDER_ADDR) --token (env ORDER_TOKEN) --admin_token (env "
    "ORDER_ADMIN_TOKEN)\n"
    "        --json --timeout --tls --tls_ca\n"
    "        --tls_cert --tls_key --tls_server_name --lb --service_config";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "orderctl: %s\n\n%s\n", problem.c_str(), kUsage);
  return 2;
}

}  // namespace orderctl

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(orderctl::kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return orderctl::Usage("no command");
  const std::string command = args[1];

  orders_client::ClientOptions options;
  options.target = absl::GetFlag(FLAGS_addr);
  options.token = common::SecretFlagOrEnv(absl::GetFlag(FLAGS_token), "ORDER_TOKEN");
  // Operator RPCs take the operator's credential, not a tenant's.
  if (const std::string admin_token =
          common::SecretFlagOrEnv(absl::GetFlag(FLAGS_admin_token), "ORDER_ADMIN_TOKEN");
      (command == "outbox" || command == "reconcile") && !admin_token.empty()) {
    options.token = admin_token;
  }
  options.lb_policy = absl::GetFlag(FLAGS_lb);
  options.overall_timeout = absl::GetFlag(FLAGS_timeout);
  options.attempt_timeout = absl::GetFlag(FLAGS_attempt_timeout);
  options.tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  options.tls.enabled =
      absl::GetFlag(FLAGS_tls) || !options.tls.ca_file.empty() || !options.tls.cert_file.empty();
  if (const std::string path = absl::GetFlag(FLAGS_service_config); !path.empty()) {
    auto json = common::ReadFileToString(path);
    if (!json.ok()) return orderctl::Usage(std::string(json.status().message()));
    options.service_config_json = *json;
  }
  auto client = orders_client::OrdersClient::Create(options);
  if (!client.ok()) return orderctl::Usage(std::string(client.status().message()));

  if (command == "create") return orderctl::Create(**client);
  if (command == "get") return orderctl::Get(**client, args);
  if (command == "list") return orderctl::List(**client);
  if (command == "cancel") return orderctl::Cancel(**client, args);
  if (command == "address") return orderctl::Address(**client, args);
  if (command == "outbox" || command == "reconcile") return orderctl::Outbox(**client, args);
  if (command == "analytics") return orderctl::Analytics(**client, args);
  if (command == "import") return orderctl::Import(**client);
  if (command == "health") return orderctl::Health(**client, args);
  return orderctl::Usage(absl::StrCat("unknown command '", command, "'"));
}

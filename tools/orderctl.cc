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
ABSL_FLAG(std::string, token, common::EnvOr("ORDER_TOKEN", ""), "bearer token; env ORDER_TOKEN");
ABSL_FLAG(std::string, admin_token, common::EnvOr("ORDER_ADMIN_TOKEN", ""),
          "operator token for the outbox commands (OutboxAdmin); env ORDER_ADMIN_TOKEN");
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

namespace {

namespace v1 = orders::v1;
using google::protobuf::Message;

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

std::string ToJson(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

// Exit 1 with the status on stderr (and as JSON on stdout with --json).
int Fail(const absl::Status& status, const orders_client::CallInfo* info = nullptr) {
  const std::string code = absl::StatusCodeToString(status.code());
  const std::string reason = common::ErrorReason(status).value_or("");
  if (absl::GetFlag(FLAGS_json)) {
    common::JsonLine line;
    line.Str("error", absl::AsciiStrToUpper(code))
        .Str("reason", reason)
        .Str("message", status.message());
    if (info && !info->idempotency_key.empty()) line.Str("idempotency_key", info->idempotency_key);
    if (info) line.Int("attempts", info->attempts);
    std::printf("%s\n", line.Build().c_str());
  }
  std::fprintf(stderr, "orderctl: %s%s%s: %s\n", absl::AsciiStrToUpper(code).c_str(),
               reason.empty() ? "" : " ", reason.c_str(), std::string(status.message()).c_str());
  for (const std::string& field : common::ViolatedFields(status)) {
    std::fprintf(stderr, "  invalid field: %s\n", field.c_str());
  }
  if (info && !info->idempotency_key.empty()) {
    std::fprintf(stderr, "  idempotency key %s (%d attempt%s)\n", info->idempotency_key.c_str(),
                 info->attempts, info->attempts == 1 ? "" : "s");
    // Only a transient failure leaves the outcome open; a deterministic one will not change.
    if (orders_client::IsRetryable(status)) {
      std::fprintf(stderr, "  the outcome is unknown: rerun with --key=%s to finish it safely\n",
                   info->idempotency_key.c_str());
    }
  }
  return 1;
}

std::string Money(int64_t minor, const std::string& currency) {
  const bool zero_decimal = currency == "JPY" || currency == "KRW" || currency == "VND" ||
                            currency == "CLP" || currency == "ISK";
  if (zero_decimal) return absl::StrCat(minor, " ", currency);
  const char* sign = minor < 0 ? "-" : "";
  const int64_t abs = minor < 0 ? -minor : minor;
  return absl::StrFormat("%s%d.%02d %s", sign, abs / 100, abs % 100, currency);
}

// Per-currency totals as "5.00 USD, 500 JPY" ("none" when empty): never one mixed sum.
std::string Totals(const google::protobuf::RepeatedPtrField<v1::MoneyTotal>& totals) {
  if (totals.empty()) return "none";
  std::vector<std::string> parts;
  for (const auto& t : totals) parts.push_back(Money(t.amount_minor_units(), t.currency()));
  return absl::StrJoin(parts, ", ");
}

std::string StatusName(v1::OrderStatus status) {
  std::string name = v1::OrderStatus_Name(status);
  constexpr absl::string_view kPrefix = "ORDER_STATUS_";
  return absl::StartsWith(name, kPrefix) ? name.substr(kPrefix.size()) : name;
}

std::string TimeText(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(t);
}

void PrintOrder(const v1::Order& o) {
  std::printf("order %lld  %s\n", static_cast<long long>(o.id()), StatusName(o.status()).c_str());
  std::printf("  customer   %s\n", o.customer_id().c_str());
  std::printf("  amount     %s\n", Money(o.amount_cents(), o.currency()).c_str());
  for (const auto& item : o.items()) {
    std::printf("    %-20s x%-4lld %s\n", item.sku().c_str(),
                static_cast<long long>(item.quantity()),
                Money(item.unit_price_cents(), o.currency()).c_str());
  }
  std::printf("  payment    %s", o.payment_method().c_str());
  if (o.charge_id() != 0) std::printf("  charge %lld", static_cast<long long>(o.charge_id()));
  if (!o.decline_reason().empty()) std::printf("  declined: %s", o.decline_reason().c_str());
  std::printf("\n");
  if (o.has_shipping_address()) {
    const auto& a = o.shipping_address();
    std::printf("  ship to    %s, %s%s%s, %s %s, %s\n", a.name().c_str(), a.line1().c_str(),
                a.line2().empty() ? "" : ", ", a.line2().c_str(), a.postal_code().c_str(),
                a.city().c_str(), a.country().c_str());
  }
  if (!o.cancel_reason().empty()) std::printf("  cancelled  %s\n", o.cancel_reason().c_str());
  std::printf("  created    %s\n", TimeText(o.create_time()).c_str());
  std::printf("  updated    %s\n", TimeText(o.update_time()).c_str());
}

// create and cancel: the order plus what the client did to get it.
void PrintMutation(const v1::Order& order, const orders_client::CallInfo& info) {
  if (absl::GetFlag(FLAGS_json)) {
    std::string order_json = ToJson(order);
    common::JsonLine line;
    line.Str("idempotency_key", info.idempotency_key)
        .Bool("replayed", info.replayed)
        .Int("attempts", info.attempts);
    std::string head = line.Build();
    head.pop_back();  // reopen the object to append the order
    std::printf("%s,\"order\":%s}\n", head.c_str(), order_json.c_str());
    return;
  }
  PrintOrder(order);
  std::printf("  key        %s%s (%d attempt%s)\n", info.idempotency_key.c_str(),
              info.replayed ? ", replayed" : "", info.attempts, info.attempts == 1 ? "" : "s");
}

bool ParseId(const std::vector<char*>& args, size_t index, int64_t* id) {
  return args.size() > index && absl::SimpleAtoi(args[index], id) && *id > 0;
}

bool ParseItems(v1::CreateOrderRequest* request, std::string* problem) {
  for (const std::string& spec : absl::GetFlag(FLAGS_items)) {
    std::vector<std::string> parts = absl::StrSplit(spec, ':');
    int64_t quantity = 0, price = 0;
    if (parts.size() != 3 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &quantity) ||
        !absl::SimpleAtoi(parts[2], &price)) {
      *problem = absl::StrCat("--items: '", spec, "' is not sku:quantity:unit_price_cents");
      return false;
    }
    v1::LineItem* item = request->add_items();
    item->set_sku(parts[0]);
    item->set_quantity(quantity);
    item->set_unit_price_cents(price);
  }
  return true;
}

template <typename Enum>
bool ParseEnum(const std::string& text, const std::string& prefix,
               bool (*parse)(const std::string&, Enum*), Enum* out) {
  if (text.empty()) return true;
  const std::string upper = absl::AsciiStrToUpper(text);
  return parse(upper, out) || parse(prefix + upper, out);
}

int Create(orders_client::OrdersClient& client) {
  v1::CreateOrderRequest request;
  request.set_customer_id(absl::GetFlag(FLAGS_customer));
  request.set_currency(absl::GetFlag(FLAGS_currency));
  request.set_payment_method(absl::GetFlag(FLAGS_payment_method));
  std::string problem;
  if (!ParseItems(&request, &problem)) return Usage(problem);
  if (request.items().empty()) return Usage("create needs --items=sku:quantity:unit_price_cents");
  orders_client::CallInfo info;
  auto order =
      client.CreateOrder(request, {.idempotency_key = absl::GetFlag(FLAGS_key), .info = &info});
  if (!order.ok()) return Fail(order.status(), &info);
  PrintMutation(*order, info);
  return 0;
}

int Get(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  int64_t id = 0;
  if (!ParseId(args, 2, &id)) return Usage("get needs an order id");
  auto order = client.GetOrder(id);
  if (!order.ok()) return Fail(order.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(*order).c_str());
  } else {
    PrintOrder(*order);
  }
  return 0;
}

int List(orders_client::OrdersClient& client) {
  v1::ListOrdersRequest request;
  request.set_customer_id(absl::GetFlag(FLAGS_customer));
  v1::OrderStatus status = v1::ORDER_STATUS_UNSPECIFIED;
  if (!ParseEnum<v1::OrderStatus>(absl::GetFlag(FLAGS_status), "ORDER_STATUS_",
                                  &v1::OrderStatus_Parse, &status)) {
    return Usage("--status must be CREATED, PAID, PAYMENT_FAILED or CANCELLED");
  }
  request.set_status(status);
  request.set_page_size(absl::GetFlag(FLAGS_page_size));
  request.set_page_token(absl::GetFlag(FLAGS_page_token));
  v1::ListOrdersResponse all;
  while (true) {
    auto page = client.ListOrders(request);
    if (!page.ok()) return Fail(page.status());
    for (const auto& o : page->orders()) *all.add_orders() = o;
    all.set_next_page_token(page->next_page_token());
    if (!absl::GetFlag(FLAGS_all) || page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(all).c_str());
    return 0;
  }
  std::printf("%-10s %-15s %-20s %16s  %s\n", "ID", "STATUS", "CUSTOMER", "AMOUNT", "CREATED");
  for (const auto& o : all.orders()) {
    std::printf("%-10lld %-15s %-20s %16s  %s\n", static_cast<long long>(o.id()),
                StatusName(o.status()).c_str(), o.customer_id().c_str(),
                Money(o.amount_cents(), o.currency()).c_str(), TimeText(o.create_time()).c_str());
  }
  if (!all.next_page_token().empty()) {
    std::printf("more: --page_token=%s (or --all)\n", all.next_page_token().c_str());
  }
  return 0;
}

int Cancel(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  int64_t id = 0;
  if (!ParseId(args, 2, &id)) return Usage("cancel needs an order id");
  orders_client::CallInfo info;
  auto order = client.CancelOrder(id, absl::GetFlag(FLAGS_reason),
                                  {.idempotency_key = absl::GetFlag(FLAGS_key), .info = &info});
  if (!order.ok()) return Fail(order.status(), &info);
  PrintMutation(*order, info);
  return 0;
}

int Address(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  int64_t id = 0;
  if (!ParseId(args, 2, &id)) return Usage("address needs an order id");
  v1::ShippingAddress address;
  address.set_name(absl::GetFlag(FLAGS_name));
  address.set_line1(absl::GetFlag(FLAGS_line1));
  address.set_line2(absl::GetFlag(FLAGS_line2));
  address.set_city(absl::GetFlag(FLAGS_city));
  address.set_postal_code(absl::GetFlag(FLAGS_postal_code));
  address.set_country(absl::GetFlag(FLAGS_country));
  auto order = client.SetShippingAddress(id, address);
  if (!order.ok()) return Fail(order.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(*order).c_str());
  } else {
    PrintOrder(*order);
  }
  return 0;
}

int Analytics(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  const std::string customer = args.size() > 2 ? args[2] : absl::GetFlag(FLAGS_customer);
  if (customer.empty()) return Usage("analytics needs a customer id");
  auto a = client.GetOrderAnalytics(customer);
  if (!a.ok()) return Fail(a.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(*a).c_str());
    return 0;
  }
  std::printf("customer %s (as of %s, %lld events)\n", a->customer_id().c_str(),
              TimeText(a->as_of()).c_str(), static_cast<long long>(a->events_applied()));
  std::printf("  orders          %lld\n", static_cast<long long>(a->order_count()));
  std::printf("  paid            %lld (%s)\n", static_cast<long long>(a->paid_count()),
              Totals(a->paid_totals()).c_str());
  std::printf("  payment failed  %lld\n", static_cast<long long>(a->payment_failed_count()));
  std::printf("  cancelled       %lld (%s)\n", static_cast<long long>(a->cancelled_count()),
              Totals(a->cancelled_totals()).c_str());
  return 0;
}

int Import(orders_client::OrdersClient& client) {
  const std::string path = absl::GetFlag(FLAGS_file);
  if (path.empty())
    return Usage("import needs --file (JSON lines of CreateOrderRequest, - for stdin)");
  FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "r");
  if (!in) return Usage(absl::StrCat("cannot read ", path));
  std::vector<v1::CreateOrderRequest> orders;
  std::string line;
  int number = 0;
  for (int c = 0; c != EOF;) {
    line.clear();
    while ((c = std::fgetc(in)) != EOF && c != '\n') line += static_cast<char>(c);
    ++number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    v1::CreateOrderRequest request;
    google::protobuf::util::JsonParseOptions options;
    if (!google::protobuf::util::JsonStringToMessage(line, &request, options).ok()) {
      if (in != stdin) std::fclose(in);
      return Usage(absl::StrCat(path, ":", number, ": not a CreateOrderRequest in JSON"));
    }
    orders.push_back(std::move(request));
  }
  if (in != stdin) std::fclose(in);
  std::string import_id = absl::GetFlag(FLAGS_import_id);
  if (import_id.empty()) import_id = orders_client::NewIdempotencyKey();
  orders_client::CallInfo info;
  auto summary =
      client.ImportOrders(import_id, orders, absl::GetFlag(FLAGS_chunk_size), {.info = &info});
  if (!summary.ok()) {
    if (common::IsMessageTooLarge(summary.status())) {
      // Resuming would send the same chunk again; other sizes rename every chunk's contents,
      // which the chunks already stored under this id refuse (IMPORT_CHUNK_REUSED).
      std::fprintf(stderr,
                   "orderctl: import %s: a chunk is larger than the server accepts: import again "
                   "with a smaller --chunk_size under a new --import_id\n",
                   import_id.c_str());
    } else {
      std::fprintf(stderr, "orderctl: import %s: rerun with --import_id=%s to resume safely\n",
                   import_id.c_str(), import_id.c_str());
    }
    return Fail(summary.status(), &info);
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(*summary).c_str());
    return 0;
  }
  std::printf("import %s: %d orders in %d chunks, ids %lld..%lld, %s\n",
              summary->import_id().c_str(), summary->order_count(), summary->chunk_count(),
              static_cast<long long>(summary->first_order_id()),
              static_cast<long long>(summary->last_order_id()), Totals(summary->totals()).c_str());
  return 0;
}

int Outbox(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  // `orderctl reconcile` is `orderctl outbox reconcile`.
  const std::string sub = std::string(args[1]) == "reconcile" ? "reconcile"
                          : args.size() > 2                   ? args[2]
                                                              : "";
  const bool json = absl::GetFlag(FLAGS_json);
  if (sub == "list") {
    v1::ListOutboxEventsRequest request;
    v1::OutboxEventStatus status = v1::OUTBOX_EVENT_STATUS_UNSPECIFIED;
    if (!ParseEnum<v1::OutboxEventStatus>(absl::GetFlag(FLAGS_status), "OUTBOX_EVENT_STATUS_",
                                          &v1::OutboxEventStatus_Parse, &status)) {
      return Usage("--status must be PENDING, DONE or DEAD");
    }
    request.set_status(status);
    request.set_min_age_seconds(absl::ToInt64Seconds(absl::GetFlag(FLAGS_min_age)));
    request.set_page_size(absl::GetFlag(FLAGS_page_size));
    request.set_page_token(absl::GetFlag(FLAGS_page_token));
    auto page = client.ListOutboxEvents(request);
    if (!page.ok()) return Fail(page.status());
    if (json) {
      std::printf("%s\n", ToJson(*page).c_str());
      return 0;
    }
    std::printf("%-10s %-10s %-8s %-8s %-8s %s\n", "EVENT", "ORDER", "KIND", "STATUS", "ATTEMPTS",
                "LAST ERROR");
    for (const auto& e : page->events()) {
      const std::string name = v1::OutboxEventStatus_Name(e.status());
      absl::string_view st = name;
      absl::ConsumePrefix(&st, "OUTBOX_EVENT_STATUS_");
      std::printf("%-10lld %-10lld %-8s %-8s %-8d %s\n", static_cast<long long>(e.id()),
                  static_cast<long long>(e.order_id()), e.kind().c_str(), std::string(st).c_str(),
                  e.attempts(), e.last_error().c_str());
    }
    if (!page->next_page_token().empty()) {
      std::printf("more: --page_token=%s\n", page->next_page_token().c_str());
    }
    return 0;
  }
  if (sub == "requeue") {
    v1::RequeueOutboxEventsRequest request;
    for (size_t i = 3; i < args.size(); ++i) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(args[i], &id)) return Usage(absl::StrCat("not an event id: ", args[i]));
      request.add_ids(id);
    }
    auto requeued = client.RequeueOutboxEvents(request);
    if (!requeued.ok()) return Fail(requeued.status());
    if (json) {
      std::printf("{\"requeued\":%lld}\n", static_cast<long long>(*requeued));
    } else {
      std::printf("requeued %lld event%s\n", static_cast<long long>(*requeued),
                  *requeued == 1 ? "" : "s");
    }
    return 0;
  }
  if (sub == "stats") {
    auto stats = client.GetOutboxStats();
    if (!stats.ok()) return Fail(stats.status());
    if (json) {
      std::printf("%s\n", ToJson(*stats).c_str());
      return 0;
    }
    const auto& s = *stats;
    std::printf("pending            %lld (oldest %.1f s)\n", static_cast<long long>(s.pending()),
                s.oldest_pending_age_seconds());
    std::printf("dead               %lld\n", static_cast<long long>(s.dead()));
    std::printf("open attempts      %lld\n", static_cast<long long>(s.open_attempts()));
    std::printf(
        "relay (this proc)  claimed %lld, completed %lld, rescheduled %lld, buried %lld, "
        "lease lost %lld\n",
        static_cast<long long>(s.relay_claimed()), static_cast<long long>(s.relay_completed()),
        static_cast<long long>(s.relay_rescheduled()), static_cast<long long>(s.relay_buried()),
        static_cast<long long>(s.relay_lease_lost()));
    std::printf("commit -> sent     p50 %.1f ms, p99 %.1f ms, max %.1f ms over %lld events\n",
                s.commit_to_sent_p50_ms(), s.commit_to_sent_p99_ms(), s.commit_to_sent_max_ms(),
                static_cast<long long>(s.commit_to_sent_count()));
    return 0;
  }
  if (sub == "reconcile") {
    auto report = client.Reconcile(absl::GetFlag(FLAGS_repair));
    if (!report.ok()) return Fail(report.status());
    if (json) {
      std::printf("%s\n", ToJson(*report).c_str());
    } else {
      const auto& r = *report;
      std::printf(
          "checked %lld orders, %lld charges (%lld in flight, %lld of other deployments)\n",
          static_cast<long long>(r.orders_checked()), static_cast<long long>(r.charges_checked()),
          static_cast<long long>(r.in_flight()), static_cast<long long>(r.foreign_charges()));
      std::printf(
          "order not paid, charge succeeded  %lld\n"
          "cancelled order holds money       %lld\n"
          "charge without order              %lld\n"
          "amount or currency mismatch       %lld\n"
          "paid order without charge         %lld\n"
          "repaired                          %lld\n",
          static_cast<long long>(r.order_not_paid_charge_succeeded()),
          static_cast<long long>(r.cancelled_order_holds_money()),
          static_cast<long long>(r.charge_without_order()),
          static_cast<long long>(r.amount_or_currency_mismatch()),
          static_cast<long long>(r.paid_order_without_charge()),
          static_cast<long long>(r.repaired()));
      for (const auto& m : r.mismatches()) {
        std::printf("  %s order=%lld %s%s\n", m.kind().c_str(),
                    static_cast<long long>(m.order_id()), m.detail().c_str(),
                    m.repaired() ? " (repaired)" : "");
      }
    }
    const int64_t open = report->order_not_paid_charge_succeeded() +
                         report->cancelled_order_holds_money() + report->charge_without_order() +
                         report->amount_or_currency_mismatch() +
                         report->paid_order_without_charge() - report->repaired();
    return open > 0 ? 1 : 0;  // scripts can alert on a non-zero exit
  }
  return Usage("outbox needs list, requeue, stats or reconcile");
}

// The health name: none for readiness, or `liveness`.
int Health(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  if (args.size() > 3) return Usage("health takes at most one name (liveness)");
  absl::Status s = client.CheckHealth(args.size() == 3 ? args[2] : "");
  if (!s.ok()) return Fail(s);
  std::printf(absl::GetFlag(FLAGS_json) ? "{\"status\":\"SERVING\"}\n" : "SERVING\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Usage("no command");
  const std::string command = args[1];

  orders_client::ClientOptions options;
  options.target = absl::GetFlag(FLAGS_addr);
  options.token = absl::GetFlag(FLAGS_token);
  // Operator RPCs take the operator's credential, not a tenant's.
  if ((command == "outbox" || command == "reconcile") &&
      !absl::GetFlag(FLAGS_admin_token).empty()) {
    options.token = absl::GetFlag(FLAGS_admin_token);
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
    if (!json.ok()) return Usage(std::string(json.status().message()));
    options.service_config_json = *json;
  }
  auto client = orders_client::OrdersClient::Create(options);
  if (!client.ok()) return Usage(std::string(client.status().message()));

  if (command == "create") return Create(**client);
  if (command == "get") return Get(**client, args);
  if (command == "list") return List(**client);
  if (command == "cancel") return Cancel(**client, args);
  if (command == "address") return Address(**client, args);
  if (command == "outbox" || command == "reconcile") return Outbox(**client, args);
  if (command == "analytics") return Analytics(**client, args);
  if (command == "import") return Import(**client);
  if (command == "health") return Health(**client, args);
  return Usage(absl::StrCat("unknown command '", command, "'"));
}

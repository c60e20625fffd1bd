// payment_service: a mock payment provider. Wiring only: flags, store, domain,
// gRPC services, readiness, reaper, signals.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/admission_main.h"
#include "common/auth.h"
#include "common/config_check.h"
#include "common/env.h"
#include "common/failpoint.h"
#include "common/grpc_server.h"
#include "common/metrics.h"
#include "common/metrics_pg.h"
#include "common/pg/pool.h"
#include "payment_service/fault_metrics.h"
#include "payment_service/faults.h"
#include "payment_service/payment_grpc_service.h"
#include "payment_service/memory_ledger.h"
#include "payment_service/payments.h"
#include "payment_service/pg_ledger.h"
#include "payment_service/reaper.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 50052,
          "port to listen on, 0 for any free one (env PAYMENT_PORT if not given)");
ABSL_FLAG(std::string, port_file, "",
          "write the port here once listening and the schema is in place");
ABSL_FLAG(std::string, database, "",
          "libpq connection string (env PAYMENT_DATABASE if empty; else libpq's PG* defaults)");
ABSL_FLAG(std::string, store, "postgres", "ledger store: postgres or memory");
ABSL_FLAG(int, pool_size, 16, "PostgreSQL connections");
ABSL_FLAG(bool, prepared_statements, common::EnvBoolOr("PAYMENT_PREPARED_STATEMENTS", true),
          "prepare each statement once per connection; false sends unnamed statements, which a "
          "transaction-mode pooler (PgBouncer before 1.21) requires; env "
          "PAYMENT_PREPARED_STATEMENTS");
ABSL_FLAG(double, fail_before_charge, 0, "probability of UNAVAILABLE before charging");
ABSL_FLAG(double, fail_after_charge, 0,
          "probability of charging and then answering UNAVAILABLE (charged, reply lost)");
ABSL_FLAG(int, latency_ms, 0, "latency added to each Charge/Refund");
ABSL_FLAG(int, latency_jitter_ms, 0, "uniform jitter around --latency_ms");
ABSL_FLAG(uint64_t, fault_seed, payment_service::kDefaultFaultSeed, "seed of the fault dice");
ABSL_FLAG(int, flaky_failures, 2, "UNAVAILABLE answers of pm_card_flaky per key before success");
ABSL_FLAG(std::string, tokens, "",
          "bearer tokens, token1=caller1,token2=caller2; empty: no authentication");
ABSL_FLAG(std::string, failpoints, "",
          "failpoints to arm (also env FAILPOINTS), e.g. payment_after_charge_commit@3");
ABSL_FLAG(bool, enable_fault_admin, false, "register the PaymentFaultAdmin service");
ABSL_FLAG(absl::Duration, retention, absl::Hours(24),
          "how long Refund idempotency records are kept");
ABSL_FLAG(absl::Duration, reap_interval, absl::Minutes(1), "how often the reaper runs");
ABSL_FLAG(int, reap_batch, 1000, "records deleted per reaper statement");
// Operations (deploy/OPERATIONS.md): metrics, logs, TLS, keepalive.
ABSL_FLAG(
    int, metrics_port, common::EnvIntOr("PAYMENT_METRICS_PORT", -1),
    "Prometheus GET /metrics on this HTTP port (0 picks one, -1 off); env PAYMENT_METRICS_PORT");
ABSL_FLAG(std::string, metrics_host, common::EnvOr("PAYMENT_METRICS_HOST", ""),
          "address of the metrics endpoint (empty: --host); env PAYMENT_METRICS_HOST");
ABSL_FLAG(std::string, metrics_port_file, "", "write the metrics port to this file once listening");
ABSL_FLAG(bool, log_rpcs, common::EnvBoolOr("PAYMENT_LOG_RPCS", true),
          "one JSON line per RPC on stderr (key hashed, never raw); env PAYMENT_LOG_RPCS");
ABSL_FLAG(std::string, tls_cert, common::EnvOr("PAYMENT_TLS_CERT", ""),
          "serve TLS with this PEM certificate chain (with --tls_key); env PAYMENT_TLS_CERT");
ABSL_FLAG(std::string, tls_key, common::EnvOr("PAYMENT_TLS_KEY", ""),
          "PEM private key of --tls_cert; env PAYMENT_TLS_KEY");
ABSL_FLAG(std::string, tls_client_ca, common::EnvOr("PAYMENT_TLS_CLIENT_CA", ""),
          "mTLS: require client certificates signed by this PEM CA; env PAYMENT_TLS_CLIENT_CA");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Minutes(1),
          "ping a connection idle this long (inf: never)");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "close it if the ping is unanswered");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::InfiniteDuration(),
          "close connections without calls after this (inf: never)");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(30),
          "close connections this old (GOAWAY, then 30 s for calls in flight) so clients behind "
          "an L4 balancer reconnect and spread over replicas (inf: never)");

namespace {

using namespace payment_service;  // NOLINT: wiring file

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "payment_service: %s\n", message.c_str());
  std::exit(2);
}

// Whether `--name` appeared on the command line (this Abseil keeps that bit private).
bool FlagGiven(int argc, char** argv, absl::string_view name) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
    if (arg == name || absl::StartsWith(arg, absl::StrCat(name, "="))) return true;
  }
  return false;
}

int PortFlag(bool given) {
  int port = absl::GetFlag(FLAGS_port);
  const char* env = std::getenv("PAYMENT_PORT");
  if (!given && env && *env && !absl::SimpleAtoi(env, &port)) {
    Die("PAYMENT_PORT is not a number");
  }
  return port;
}

std::string DatabaseFlag() {
  std::string conninfo = absl::GetFlag(FLAGS_database);
  if (const char* env = std::getenv("PAYMENT_DATABASE"); conninfo.empty() && env) conninfo = env;
  return conninfo;
}

}  // namespace

int main(int argc, char** argv) {
  common::BlockTerminationSignals();
  absl::SetProgramUsageMessage("mock payment provider: payments.v1.PaymentService over gRPC");
  const bool port_given = FlagGiven(argc, argv, "port");
  absl::ParseCommandLine(argc, argv);
  common::ArmFailpoints(absl::GetFlag(FLAGS_failpoints));
  if (const char* env = std::getenv("FAILPOINTS")) common::ArmFailpoints(env);

  if (absl::Status s =
          common::ConfigCheck()
              .Port("port", PortFlag(port_given))
              .Port("metrics_port", absl::GetFlag(FLAGS_metrics_port), /*allow_off=*/true)
              .AtLeast("pool_size", absl::GetFlag(FLAGS_pool_size), 1)
              .Probability("fail_before_charge", absl::GetFlag(FLAGS_fail_before_charge))
              .Probability("fail_after_charge", absl::GetFlag(FLAGS_fail_after_charge))
              .AtLeast("latency_ms", absl::GetFlag(FLAGS_latency_ms), 0)
              .AtLeast("latency_jitter_ms", absl::GetFlag(FLAGS_latency_jitter_ms), 0)
              .AtLeast("flaky_failures", absl::GetFlag(FLAGS_flaky_failures), 0)
              .Positive("retention", absl::GetFlag(FLAGS_retention))
              .Positive("reap_interval", absl::GetFlag(FLAGS_reap_interval))
              .AtLeast("reap_batch", absl::GetFlag(FLAGS_reap_batch), 1)
              .OneOf("store", absl::GetFlag(FLAGS_store), {"postgres", "memory"})
              .Status();
      !s.ok()) {
    Die(std::string(s.message()));
  }
  common::ServerConfig ops_config;  // the server's TLS and keepalive, checked before any work
  ops_config.port = PortFlag(port_given);
  ops_config.tls = {.cert_file = absl::GetFlag(FLAGS_tls_cert),
                    .key_file = absl::GetFlag(FLAGS_tls_key),
                    .client_ca_file = absl::GetFlag(FLAGS_tls_client_ca)};
  ops_config.keepalive.time = absl::GetFlag(FLAGS_keepalive_time);
  ops_config.keepalive.timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  ops_config.keepalive.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  ops_config.keepalive.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  if (absl::Status s = common::ValidateServerConfig(ops_config); !s.ok()) {
    Die(std::string(s.message()));
  }
  absl::StatusOr<common::TokenAuthenticator> auth =
      common::TokenAuthenticator::Parse(absl::GetFlag(FLAGS_tokens));
  if (!auth.ok()) Die(std::string(auth.status().message()));
  FaultConfig fault_config;
  fault_config.fail_before_charge = absl::GetFlag(FLAGS_fail_before_charge);
  fault_config.fail_after_charge = absl::GetFlag(FLAGS_fail_after_charge);
  fault_config.latency_ms = absl::GetFlag(FLAGS_latency_ms);
  fault_config.latency_jitter_ms = absl::GetFlag(FLAGS_latency_jitter_ms);
  fault_config.seed = absl::GetFlag(FLAGS_fault_seed);
  fault_config.flaky_failures = absl::GetFlag(FLAGS_flaky_failures);
  if (absl::Status s = FaultInjector::Validate(fault_config); !s.ok()) {
    Die(std::string(s.message()));
  }
  FaultInjector faults(fault_config);

  std::unique_ptr<pg::Pool> pool;
  std::unique_ptr<Ledger> ledger;
  PgLedger* pg_ledger = nullptr;  // its schema is applied once the server listens
  const std::string store = absl::GetFlag(FLAGS_store);
  if (store == "memory") {
    ledger = std::make_unique<MemoryLedger>();
  } else if (store == "postgres") {
    pool = std::make_unique<pg::Pool>(
        DatabaseFlag(), absl::GetFlag(FLAGS_pool_size),
        pg::ConnectOptions{.prepared_statements = absl::GetFlag(FLAGS_prepared_statements)});
    auto owned = std::make_unique<PgLedger>(pool.get());
    pg_ledger = owned.get();
    ledger = std::move(owned);
  } else {
    Die("--store must be postgres or memory");
  }

  Payments payments(*ledger, faults);
  absl::StatusOr<common::AdmissionOptions> admission_options =
      common::AdmissionOptionsFromFlags(absl::GetFlag(FLAGS_pool_size));
  if (!admission_options.ok()) Die(std::string(admission_options.status().message()));
  common::AdmissionController admission(*admission_options);
  admission.set_multi_tenant(auth->enabled());
  PaymentGrpcService service(payments, *auth,
                             absl::GetFlag(FLAGS_admission) ? &admission : nullptr);
  FaultAdminGrpcService admin(faults, *auth);
  std::vector<grpc::Service*> services = {&service};
  if (absl::GetFlag(FLAGS_enable_fault_admin)) services.push_back(&admin);

  // Declared after everything its collectors read, so it is destroyed (and stops scraping) first.
  auto metrics = common::Metrics::Start({.host = absl::GetFlag(FLAGS_metrics_host).empty()
                                                     ? absl::GetFlag(FLAGS_host)
                                                     : absl::GetFlag(FLAGS_metrics_host),
                                         .port = absl::GetFlag(FLAGS_metrics_port),
                                         .port_file = absl::GetFlag(FLAGS_metrics_port_file)});
  if (!metrics.ok()) Die(std::string(metrics.status().message()));
  if (pool) common::AddPoolMetrics(**metrics, *pool, "payments");
  AddFaultMetrics(**metrics, faults);
  common::AddAdmissionMetrics(**metrics, admission, "payment_service");

  common::ServerConfig config = ops_config;
  config.metrics = metrics->get();
  config.log_rpcs = absl::GetFlag(FLAGS_log_rpcs);
  config.max_threads = common::MaxThreadsFromFlags(*admission_options);
  config.service_name = "payment_service";
  config.error_domain = payment_service::kErrorDomain;
  config.host = absl::GetFlag(FLAGS_host);
  config.port = PortFlag(port_given);
  config.port_file = "";  // written below, once the schema is in place
  absl::StatusOr<std::unique_ptr<common::GrpcServer>> server =
      common::GrpcServer::Start(config, services);
  if (!server.ok()) Die(std::string(server.status().message()));
  // The database may be down at start: keep trying (readiness NOT_SERVING, liveness SERVING)
  // instead of exiting into a crash loop.
  if (pg_ledger != nullptr) {
    if (int sig = common::RetryUntilDone(
            "payment_service: database", [pg_ledger] { return pg_ledger->ApplySchema(); },
            absl::Milliseconds(250));
        sig != 0) {
      std::fprintf(stderr, "payment_service: signal %d before the database answered\n", sig);
      (*server)->Shutdown();
      return 0;
    }
  }
  (*server)->StartReadinessProbe([&ledger] { return ledger->Ready(); }, absl::Seconds(1));
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    common::WritePortFile(absl::GetFlag(FLAGS_port_file), (*server)->port());
  }

  Reaper reaper(*ledger, {absl::GetFlag(FLAGS_retention), absl::GetFlag(FLAGS_reap_interval),
                          absl::GetFlag(FLAGS_reap_batch)});
  reaper.Start();

  std::printf("payment_service listening on %s:%d\n", config.host.c_str(), (*server)->port());
  if ((*metrics)->port() > 0) {
    std::printf("payment_service: metrics on port %d\n", (*metrics)->port());
  }
  std::fflush(stdout);
  std::fprintf(stderr, "payment_service: store=%s auth=%s fault_admin=%s\n", store.c_str(),
               auth->enabled() ? "tokens" : "off",
               absl::GetFlag(FLAGS_enable_fault_admin) ? "on" : "off");
  const int sig = common::WaitForTerminationSignal();
  std::fprintf(stderr, "payment_service: signal %d, shutting down\n", sig);
  reaper.Stop();
  (*server)->Shutdown();
  return 0;
}

// payment_service's flags and the one function that turns them into a PaymentServiceConfig.
#include "payment_service/config.h"

#include "absl/flags/flag.h"
#include "common/admission_flags.h"
#include "common/config_check.h"
#include "common/env.h"
#include "common/failpoint_names.h"
#include "common/server_flags.h"
#include "payment_service/error_domain.h"

ABSL_FLAG(int, port, common::EnvIntOr("PAYMENT_PORT", 50052),
          "port to listen on, 0 for any free one (env PAYMENT_PORT if not given)");
ABSL_FLAG(std::string, port_file, "",
          "write the port here once listening and the schema is in place");
ABSL_FLAG(std::string, database, "",
          "libpq connection string (when empty, env PAYMENT_DATABASE; else libpq's PG* defaults)");
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
          "failpoints to arm (crash tests only), e.g. payment_after_charge_commit@3; when empty, "
          "env FAILPOINTS, where order_service's names are skipped");
ABSL_FLAG(bool, enable_fault_admin, false, "register the PaymentFaultAdmin service");
ABSL_FLAG(absl::Duration, retention, absl::Hours(24),
          "how long Refund idempotency records are kept");
ABSL_FLAG(absl::Duration, reap_interval, absl::Minutes(1), "how often the reaper runs");
ABSL_FLAG(int, reap_batch, 1000, "records deleted per reaper statement");
// Operations (deploy/OPERATIONS.md): host, pollers, keepalive, metrics, RPC logs and TLS, the same
// in both services (common/server_flags.h); their environment variables start PAYMENT_ here.
COMMON_DEFINE_SERVICE_FLAGS("PAYMENT");

namespace payment_service {
namespace {

absl::Status CheckFlags() {
  return common::ConfigCheck()
      .Port("port", absl::GetFlag(FLAGS_port))
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
}

}  // namespace

absl::StatusOr<PaymentServiceConfig> PaymentServiceConfigFromFlags() {
  if (absl::Status s = CheckFlags(); !s.ok()) return s;
  PaymentServiceConfig c;
  auto failpoints = common::FailpointsFromFlagOrEnv(absl::GetFlag(FLAGS_failpoints),
                                                    common::failpoints::kPaymentService,
                                                    common::failpoints::kOrderService);
  if (!failpoints.ok()) return failpoints.status();
  c.failpoints = *std::move(failpoints);
  c.store = absl::GetFlag(FLAGS_store);
  c.database = common::SecretFlagOrEnv(absl::GetFlag(FLAGS_database), "PAYMENT_DATABASE");
  c.pool_size = absl::GetFlag(FLAGS_pool_size);
  c.prepared_statements = absl::GetFlag(FLAGS_prepared_statements);
  absl::StatusOr<common::ServerConfig> server =
      common::ServerConfigFromFlags("payment_service", kErrorDomain, absl::GetFlag(FLAGS_port));
  if (!server.ok()) return server.status();
  c.server = *std::move(server);  // the port is written by RunPaymentService once ready
  c.port_file = absl::GetFlag(FLAGS_port_file);
  c.metrics = common::MetricsConfigFromFlags();
  auto callers = common::TokenAuthenticator::Parse(absl::GetFlag(FLAGS_tokens));
  if (!callers.ok()) return common::FlagError("tokens", callers.status());
  c.callers = *std::move(callers);
  absl::StatusOr<common::AdmissionConfig> admission = common::AdmissionConfigFromFlags(c.pool_size);
  if (!admission.ok()) return admission.status();
  c.admission = *admission;
  c.server.max_threads = c.admission.max_threads;
  c.faults = {.fail_before_charge = absl::GetFlag(FLAGS_fail_before_charge),
              .fail_after_charge = absl::GetFlag(FLAGS_fail_after_charge),
              .latency_ms = absl::GetFlag(FLAGS_latency_ms),
              .latency_jitter_ms = absl::GetFlag(FLAGS_latency_jitter_ms),
              .seed = absl::GetFlag(FLAGS_fault_seed),
              .flaky_failures = absl::GetFlag(FLAGS_flaky_failures)};
  if (absl::Status s = FaultInjector::Validate(c.faults); !s.ok()) return s;
  c.enable_fault_admin = absl::GetFlag(FLAGS_enable_fault_admin);
  c.retention = {.retention = absl::GetFlag(FLAGS_retention),
                 .interval = absl::GetFlag(FLAGS_reap_interval),
                 .batch = absl::GetFlag(FLAGS_reap_batch)};
  return c;
}

}  // namespace payment_service

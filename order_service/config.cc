// order_service's flags and the one function that turns them into an OrderServiceConfig.
#include "order_service/config.h"

#include "absl/flags/flag.h"
#include "common/admission_flags.h"
#include "common/config_check.h"
#include "common/env.h"
#include "common/failpoint_names.h"
#include "common/server_flags.h"
#include "common/tls.h"
#include "order_service/chaos.h"
#include "order_service/error_domain.h"
#include "order_service/validation.h"

ABSL_FLAG(int, port, common::EnvIntOr("ORDER_PORT", 50051), "port (0 picks one); env ORDER_PORT");
ABSL_FLAG(std::string, port_file, "",
          "write the chosen port to this file once listening and the schema is in place");
ABSL_FLAG(std::string, database, "",
          "libpq connection string; when empty, env ORDER_DATABASE, else "
          "\"host=/var/run/postgresql dbname=orders\"");
ABSL_FLAG(int, pool_size, 16, "database connections");
ABSL_FLAG(bool, prepared_statements, common::EnvBoolOr("ORDER_PREPARED_STATEMENTS", true),
          "prepare each statement once per connection; false sends unnamed statements, which a "
          "transaction-mode pooler (PgBouncer before 1.21) requires; env "
          "ORDER_PREPARED_STATEMENTS");
ABSL_FLAG(std::string, listen_database, "",
          "libpq connection string of the relay's LISTEN connection (empty: --database). Behind "
          "a transaction-mode pooler it must reach the PostgreSQL server directly (LISTEN is "
          "session state); without notifications the relay still polls (--relay_idle_poll); env "
          "ORDER_LISTEN_DATABASE");
ABSL_FLAG(int, create_batch, 32,
          "group commit: CreateOrders that arrive while others are being written are written "
          "together, up to this many per statement and commit; 1 turns it off");
ABSL_FLAG(int, create_lanes, 2,
          "group commit: batches written at once (each holds one connection while it writes)");
ABSL_FLAG(std::string, role, "all", "api (serve RPCs), relay (run the outbox relay) or all");
ABSL_FLAG(std::string, payment_addr, common::EnvOr("PAYMENT_ADDR", "127.0.0.1:50052"),
          "payment service address; env PAYMENT_ADDR");
ABSL_FLAG(std::string, payment_token, "",
          "bearer token presented to the payment service; when empty, env PAYMENT_TOKEN");
ABSL_FLAG(absl::Duration, payment_timeout, absl::Seconds(5), "deadline of each payment call");
ABSL_FLAG(std::string, tokens, "",
          "token=tenant,... accepted as 'authorization: Bearer <token>'; empty: one tenant, "
          "'default', no authentication; when empty, env ORDER_TOKENS");
ABSL_FLAG(int, relay_workers, 4, "outbox relay worker threads");
ABSL_FLAG(int, relay_batch, 16,
          "events each relay worker claims, sends to payments at once and completes together");
ABSL_FLAG(bool, relay_synchronous_commit, false,
          "wait for the WAL flush on the relay's own writes (claim, complete, reschedule). Off by "
          "default: a write lost in a PostgreSQL crash only means the event is sent again under "
          "the same derived key, and payments replays its first answer");
ABSL_FLAG(absl::Duration, relay_lease, absl::Seconds(30), "lease on a claimed event");
ABSL_FLAG(int, relay_max_attempts, 20,
          "claims of one event that end without an answer (crashes, lost leases) before it is "
          "DEAD; transient answers (payments down, deadlines) are not counted");
ABSL_FLAG(absl::Duration, relay_retry_window, absl::Hours(12),
          "a CHARGE's transient answers are retried this long from its first attempt, then "
          "payments is asked what it holds; keep it below payments' --idempotency_retention "
          "(REFUNDs retry for ever)");
ABSL_FLAG(absl::Duration, relay_backoff_initial, absl::Milliseconds(50),
          "first retry delay ceiling (full jitter)");
ABSL_FLAG(absl::Duration, relay_backoff_max, absl::Seconds(5), "largest retry delay");
ABSL_FLAG(absl::Duration, relay_idle_poll, absl::Seconds(1),
          "longest wait between polls of an idle relay: it polls again 5 ms after finding work "
          "and doubles the wait up to this while idle; a NOTIFY wakes it at once");
ABSL_FLAG(absl::Duration, relay_yield_pause, absl::Milliseconds(100),
          "with --role=all: while this process's admission control sheds callers, each relay "
          "worker halves its batch and waits this long after each one, leaving the CPU and the "
          "database to the callers (the backlog is charged after the storm), and while the API is "
          "busy the relay charges at most --relay_busy_pace events per event written; 0: "
          "neither");
ABSL_FLAG(double, relay_busy_pace, 1.1,
          "while this process's API is busy (half its admission limit in flight, or calls "
          "queued), the relay charges at most this many events per event the API writes (>= 1: "
          "it always keeps up with new orders; the rest drains a backlog)");
ABSL_FLAG(bool, outbox_notify, false,
          "send NOTIFY after each commit for relays in other processes (always on for "
          "--role=api)");
ABSL_FLAG(absl::Duration, outbox_retention, absl::Hours(1), "DONE outbox events kept this long");
ABSL_FLAG(absl::Duration, idempotency_retention, absl::Hours(24),
          "idempotency records kept this long (at least 24h in production)");
ABSL_FLAG(absl::Duration, reaper_period, absl::Seconds(10), "how often retention runs");
ABSL_FLAG(bool, outbox_admin, true, "serve orders.v1.OutboxAdmin");
ABSL_FLAG(absl::Duration, reconcile_every, absl::Minutes(15),
          "how often a relay process reconciles orders with the payment ledger (0: never; "
          "OutboxAdmin.Reconcile and orderctl reconcile run one pass on demand)");
ABSL_FLAG(bool, reconcile_repair, true,
          "the periodic reconciliation repairs what is safe (orders left CREATED with a "
          "succeeded charge; refunds of cancelled orders still holding money)");
ABSL_FLAG(std::string, admin_tokens, "",
          "operator bearer tokens for OutboxAdmin, \"token=operator,...\"; when empty, env "
          "ORDER_ADMIN_TOKENS. With --tokens set and no admin tokens, OutboxAdmin refuses "
          "everyone (a tenant's token never opens it)");
ABSL_FLAG(bool, analytics_projector, true,
          "with --role=relay|all: also run the analytics projection (turn it off in relays "
          "when one process of the fleet runs it, so it does not compete with charging)");
ABSL_FLAG(double, chaos_failure_rate, 0,
          "demonstrations and tests only: probability that a mutating RPC answers UNAVAILABLE, "
          "before or after doing its work");
ABSL_FLAG(std::string, chaos_methods, "", "methods chaos applies to (comma list; empty: all)");
ABSL_FLAG(uint64_t, chaos_seed, 1, "seed of the chaos dice");
ABSL_FLAG(std::string, failpoints, "",
          "failpoints to arm (crash tests only), e.g. order_after_commit@3; when empty, env "
          "FAILPOINTS, where payment_service's names are skipped");
ABSL_FLAG(int, max_message_bytes, 16 << 20,
          "largest request or response accepted; at least the largest valid import chunk "
          "(8,105,134 bytes)");
// Operations (deploy/OPERATIONS.md): host, pollers, keepalive, metrics, RPC logs and TLS, the same
// in both services (common/server_flags.h); their environment variables start ORDER_ here.
COMMON_DEFINE_SERVICE_FLAGS("ORDER");
ABSL_FLAG(std::string, payment_tls_ca, common::EnvOr("PAYMENT_TLS_CA", ""),
          "call payments over TLS, trusting this PEM CA; env PAYMENT_TLS_CA");
ABSL_FLAG(std::string, payment_tls_cert, common::EnvOr("PAYMENT_TLS_CLIENT_CERT", ""),
          "client certificate presented to payments (mTLS); env PAYMENT_TLS_CLIENT_CERT");
ABSL_FLAG(std::string, payment_tls_key, common::EnvOr("PAYMENT_TLS_CLIENT_KEY", ""),
          "private key of --payment_tls_cert; env PAYMENT_TLS_CLIENT_KEY");
ABSL_FLAG(std::string, payment_tls_server_name, "",
          "name to verify in payments' certificate (default: the host of --payment_addr)");

namespace orders {
namespace {

absl::Status CheckFlags() {
  return common::ConfigCheck()
      .OneOf("role", absl::GetFlag(FLAGS_role), {"api", "relay", "all"})
      .Port("port", absl::GetFlag(FLAGS_port))
      .Port("metrics_port", absl::GetFlag(FLAGS_metrics_port), /*allow_off=*/true)
      .AtLeast("pool_size", absl::GetFlag(FLAGS_pool_size), 1)
      .AtLeast("create_batch", absl::GetFlag(FLAGS_create_batch), 1)
      .AtLeast("create_lanes", absl::GetFlag(FLAGS_create_lanes), 1)
      .AtLeast("relay_workers", absl::GetFlag(FLAGS_relay_workers), 1)
      .AtLeast("relay_batch", absl::GetFlag(FLAGS_relay_batch), 1)
      .AtLeast("relay_max_attempts", absl::GetFlag(FLAGS_relay_max_attempts), 1)
      .Positive("relay_lease", absl::GetFlag(FLAGS_relay_lease))
      .AtLeast("relay_retry_window", absl::ToInt64Seconds(absl::GetFlag(FLAGS_relay_retry_window)),
               0)
      .Positive("relay_backoff_initial", absl::GetFlag(FLAGS_relay_backoff_initial))
      .Positive("relay_backoff_max", absl::GetFlag(FLAGS_relay_backoff_max))
      .Positive("relay_idle_poll", absl::GetFlag(FLAGS_relay_idle_poll))
      .NotNegative("relay_yield_pause", absl::GetFlag(FLAGS_relay_yield_pause))
      .Expect(absl::GetFlag(FLAGS_relay_busy_pace) >= 1, "relay_busy_pace",
              "must be at least 1 (below, the relay would fall behind new orders)")
      .Expect(absl::GetFlag(FLAGS_relay_backoff_initial) <= absl::GetFlag(FLAGS_relay_backoff_max),
              "relay_backoff_initial", "must not exceed --relay_backoff_max")
      .Positive("payment_timeout", absl::GetFlag(FLAGS_payment_timeout))
      .Positive("outbox_retention", absl::GetFlag(FLAGS_outbox_retention))
      .Positive("idempotency_retention", absl::GetFlag(FLAGS_idempotency_retention))
      .Positive("reaper_period", absl::GetFlag(FLAGS_reaper_period))
      // Below the largest valid chunk, gRPC would refuse a chunk the service accepts.
      .AtLeast("max_message_bytes", absl::GetFlag(FLAGS_max_message_bytes), kMaxImportChunkBytes)
      .Probability("chaos_failure_rate", absl::GetFlag(FLAGS_chaos_failure_rate))
      .ReadableFile("payment_tls_ca", absl::GetFlag(FLAGS_payment_tls_ca))
      .ReadableFile("payment_tls_cert", absl::GetFlag(FLAGS_payment_tls_cert))
      .ReadableFile("payment_tls_key", absl::GetFlag(FLAGS_payment_tls_key))
      .Requires("payment_tls_cert", !absl::GetFlag(FLAGS_payment_tls_cert).empty(),
                "payment_tls_key", !absl::GetFlag(FLAGS_payment_tls_key).empty())
      .Requires("payment_tls_cert", !absl::GetFlag(FLAGS_payment_tls_cert).empty(),
                "payment_tls_ca", !absl::GetFlag(FLAGS_payment_tls_ca).empty())
      .Status();
}

absl::StatusOr<PaymentClientConfig> PaymentConfigFromFlags() {
  PaymentClientConfig payment{
      .target = absl::GetFlag(FLAGS_payment_addr),
      .token = common::SecretFlagOrEnv(absl::GetFlag(FLAGS_payment_token), "PAYMENT_TOKEN"),
      .timeout = absl::GetFlag(FLAGS_payment_timeout),
      .credentials = nullptr,
      .tls_server_name = absl::GetFlag(FLAGS_payment_tls_server_name)};
  if (absl::GetFlag(FLAGS_payment_tls_ca).empty()) return payment;
  auto credentials =
      common::MakeChannelCredentials({.ca_file = absl::GetFlag(FLAGS_payment_tls_ca),
                                      .cert_file = absl::GetFlag(FLAGS_payment_tls_cert),
                                      .key_file = absl::GetFlag(FLAGS_payment_tls_key),
                                      // The gateway sets the name: payment.tls_server_name.
                                      .server_name = "",
                                      .enabled = true});
  if (!credentials.ok()) return common::FlagError("payment_tls_ca", credentials.status());
  payment.credentials = *credentials;
  return payment;
}

RelayOptions RelayOptionsFromFlags() {
  RelayOptions relay;
  relay.workers = absl::GetFlag(FLAGS_relay_workers);
  relay.batch = absl::GetFlag(FLAGS_relay_batch);
  relay.lease = absl::GetFlag(FLAGS_relay_lease);
  relay.max_attempts = absl::GetFlag(FLAGS_relay_max_attempts);
  relay.retry_window = absl::GetFlag(FLAGS_relay_retry_window);
  relay.backoff.initial = absl::GetFlag(FLAGS_relay_backoff_initial);
  relay.backoff.max = absl::GetFlag(FLAGS_relay_backoff_max);
  relay.idle_poll = absl::GetFlag(FLAGS_relay_idle_poll);
  relay.yield_pause = absl::GetFlag(FLAGS_relay_yield_pause);
  relay.busy_pace = absl::GetFlag(FLAGS_relay_busy_pace);
  return relay;
}

}  // namespace

absl::StatusOr<OrderServiceConfig> OrderServiceConfigFromFlags() {
  if (absl::Status s = CheckFlags(); !s.ok()) return s;
  OrderServiceConfig c;
  c.role = absl::GetFlag(FLAGS_role);
  auto failpoints = common::FailpointsFromFlagOrEnv(absl::GetFlag(FLAGS_failpoints),
                                                    common::failpoints::kOrderService,
                                                    common::failpoints::kPaymentService);
  if (!failpoints.ok()) return failpoints.status();
  c.failpoints = *std::move(failpoints);
  c.database = common::SecretFlagOrEnv(absl::GetFlag(FLAGS_database), "ORDER_DATABASE",
                                       "host=/var/run/postgresql dbname=orders");
  const std::string listen_database =
      common::SecretFlagOrEnv(absl::GetFlag(FLAGS_listen_database), "ORDER_LISTEN_DATABASE");
  c.listen_database = listen_database.empty() ? c.database : listen_database;
  c.pool_size = absl::GetFlag(FLAGS_pool_size);
  c.prepared_statements = absl::GetFlag(FLAGS_prepared_statements);
  c.create_batch = absl::GetFlag(FLAGS_create_batch);
  c.create_lanes = absl::GetFlag(FLAGS_create_lanes);
  absl::StatusOr<common::ServerConfig> server =
      common::ServerConfigFromFlags("order_service", kOrdersErrorDomain, absl::GetFlag(FLAGS_port));
  if (!server.ok()) return server.status();
  c.server = *std::move(server);
  // At least the largest import chunk (CheckFlags); the port is written by RunOrderService once
  // the database answered.
  c.server.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  c.port_file = absl::GetFlag(FLAGS_port_file);
  c.metrics = common::MetricsConfigFromFlags();
  absl::StatusOr<PaymentClientConfig> payment = PaymentConfigFromFlags();
  if (!payment.ok()) return payment.status();
  c.payment = *std::move(payment);
  auto tenants = common::TokenAuthenticator::Parse(
      common::SecretFlagOrEnv(absl::GetFlag(FLAGS_tokens), "ORDER_TOKENS"));
  if (!tenants.ok()) return common::FlagError("tokens", tenants.status());
  c.tenants = *std::move(tenants);
  auto operators = common::TokenAuthenticator::Parse(
      common::SecretFlagOrEnv(absl::GetFlag(FLAGS_admin_tokens), "ORDER_ADMIN_TOKENS"));
  if (!operators.ok()) return common::FlagError("admin_tokens", operators.status());
  if (operators->SharesATokenWith(c.tenants)) {
    return common::FlagError(
        "admin_tokens", absl::InvalidArgumentError(
                            "a token is also a tenant's (--tokens): a tenant's token never opens "
                            "OutboxAdmin, so operators need tokens of their own"));
  }
  c.operators = *std::move(operators);
  absl::StatusOr<common::AdmissionConfig> admission = common::AdmissionConfigFromFlags(c.pool_size);
  if (!admission.ok()) return admission.status();
  c.admission = *admission;
  c.server.max_threads = c.admission.max_threads;
  c.relay = RelayOptionsFromFlags();
  c.relay_synchronous_commit = absl::GetFlag(FLAGS_relay_synchronous_commit);
  c.outbox_notify = absl::GetFlag(FLAGS_outbox_notify);
  c.retention = {.done_events = absl::GetFlag(FLAGS_outbox_retention),
                 .idempotency_keys = absl::GetFlag(FLAGS_idempotency_retention),
                 .period = absl::GetFlag(FLAGS_reaper_period)};
  c.outbox_admin = absl::GetFlag(FLAGS_outbox_admin);
  c.analytics_projector = absl::GetFlag(FLAGS_analytics_projector);
  c.reconcile_every = absl::GetFlag(FLAGS_reconcile_every);
  c.reconcile_repair = absl::GetFlag(FLAGS_reconcile_repair);
  c.chaos_failure_rate = absl::GetFlag(FLAGS_chaos_failure_rate);
  c.chaos_methods = absl::GetFlag(FLAGS_chaos_methods);
  if (absl::Status s = ValidateChaosMethods(c.chaos_methods); !s.ok()) {
    return common::FlagError("chaos_methods", s);
  }
  c.chaos_seed = absl::GetFlag(FLAGS_chaos_seed);
  return c;
}

}  // namespace orders

// order_service: wiring only. Flags fall back to environment variables where noted.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/admission_main.h"
#include "common/auth.h"
#include "common/config_check.h"
#include "common/env.h"
#include "common/failpoint.h"
#include "common/grpc_server.h"
#include "common/metrics.h"
#include "common/metrics_pg.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "order_service/analytics_projector.h"
#include "order_service/chaos.h"
#include "order_service/grpc_payment_gateway.h"
#include "order_service/order_grpc_service.h"
#include "order_service/order_logic.h"
#include "order_service/outbox_admin_service.h"
#include "order_service/outbox_metrics.h"
#include "order_service/outbox_relay.h"
#include "order_service/outbox_signals.h"
#include "order_service/pg_order_repository.h"
#include "order_service/pg_outbox_store.h"
#include "order_service/pg_reconcile_store.h"
#include "order_service/reaper.h"
#include "order_service/reconciler.h"
#include "order_service/schema.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, common::EnvIntOr("ORDER_PORT", 50051), "port (0 picks one); env ORDER_PORT");
ABSL_FLAG(std::string, port_file, "",
          "write the chosen port to this file once listening and the schema is in place");
ABSL_FLAG(std::string, database,
          common::EnvOr("ORDER_DATABASE", "host=/var/run/postgresql dbname=orders"),
          "libpq connection string; env ORDER_DATABASE");
ABSL_FLAG(int, pool_size, 16, "database connections");
ABSL_FLAG(bool, prepared_statements, common::EnvBoolOr("ORDER_PREPARED_STATEMENTS", true),
          "prepare each statement once per connection; false sends unnamed statements, which a "
          "transaction-mode pooler (PgBouncer before 1.21) requires; env "
          "ORDER_PREPARED_STATEMENTS");
ABSL_FLAG(std::string, listen_database, common::EnvOr("ORDER_LISTEN_DATABASE", ""),
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
ABSL_FLAG(std::string, payment_token, common::EnvOr("PAYMENT_TOKEN", ""),
          "bearer token presented to the payment service; env PAYMENT_TOKEN");
ABSL_FLAG(absl::Duration, payment_timeout, absl::Seconds(5), "deadline of each payment call");
ABSL_FLAG(std::string, tokens, common::EnvOr("ORDER_TOKENS", ""),
          "token=tenant,... accepted as 'authorization: Bearer <token>'; empty: one tenant, "
          "'default', no authentication; env ORDER_TOKENS");
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
ABSL_FLAG(std::string, admin_tokens, common::EnvOr("ORDER_ADMIN_TOKENS", ""),
          "operator bearer tokens for OutboxAdmin, \"token=operator,...\"; env "
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
ABSL_FLAG(std::string, failpoints, common::EnvOr("FAILPOINTS", ""),
          "failpoints to arm (crash tests only); env FAILPOINTS");
ABSL_FLAG(int, max_message_bytes, 16 << 20,
          "largest request or response accepted; at least the largest valid import chunk "
          "(8,105,134 bytes)");
ABSL_FLAG(int, handler_threads, 64,
          "idle RPC handler threads kept for the next calls (fewer: threads are ended and "
          "re-created under load)");
// Operations (deploy/OPERATIONS.md): metrics, logs, TLS, keepalive.
ABSL_FLAG(
    int, metrics_port, common::EnvIntOr("ORDER_METRICS_PORT", -1),
    "Prometheus GET /metrics on this HTTP port (0 picks one, -1 off); env ORDER_METRICS_PORT");
ABSL_FLAG(std::string, metrics_host, common::EnvOr("ORDER_METRICS_HOST", ""),
          "address of the metrics endpoint (empty: --host); env ORDER_METRICS_HOST");
ABSL_FLAG(std::string, metrics_port_file, "", "write the metrics port to this file once listening");
ABSL_FLAG(bool, log_rpcs, common::EnvBoolOr("ORDER_LOG_RPCS", true),
          "one JSON line per RPC on stderr (key hashed, never raw); env ORDER_LOG_RPCS");
ABSL_FLAG(std::string, tls_cert, common::EnvOr("ORDER_TLS_CERT", ""),
          "serve TLS with this PEM certificate chain (with --tls_key); env ORDER_TLS_CERT");
ABSL_FLAG(std::string, tls_key, common::EnvOr("ORDER_TLS_KEY", ""),
          "PEM private key of --tls_cert; env ORDER_TLS_KEY");
ABSL_FLAG(std::string, tls_client_ca, common::EnvOr("ORDER_TLS_CLIENT_CA", ""),
          "mTLS: require client certificates signed by this PEM CA; env ORDER_TLS_CLIENT_CA");
ABSL_FLAG(std::string, payment_tls_ca, common::EnvOr("PAYMENT_TLS_CA", ""),
          "call payments over TLS, trusting this PEM CA; env PAYMENT_TLS_CA");
ABSL_FLAG(std::string, payment_tls_cert, common::EnvOr("PAYMENT_TLS_CLIENT_CERT", ""),
          "client certificate presented to payments (mTLS); env PAYMENT_TLS_CLIENT_CERT");
ABSL_FLAG(std::string, payment_tls_key, common::EnvOr("PAYMENT_TLS_CLIENT_KEY", ""),
          "private key of --payment_tls_cert; env PAYMENT_TLS_CLIENT_KEY");
ABSL_FLAG(std::string, payment_tls_server_name, "",
          "name to verify in payments' certificate (default: the host of --payment_addr)");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Minutes(1),
          "ping a connection idle this long (inf: never)");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "close it if the ping is unanswered");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::InfiniteDuration(),
          "close connections without calls after this (inf: never)");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(30),
          "close connections this old (GOAWAY, then 30 s for calls in flight) so clients behind "
          "an L4 balancer reconnect and spread over replicas (inf: never)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  common::BlockTerminationSignals();
  common::ArmFailpoints(absl::GetFlag(FLAGS_failpoints));

  const std::string role = absl::GetFlag(FLAGS_role);
  if (role != "all" && role != "api" && role != "relay") {
    std::fprintf(stderr, "--role must be api, relay or all\n");
    return 2;
  }
  if (absl::Status s =
          common::ConfigCheck()
              .Port("port", absl::GetFlag(FLAGS_port))
              .Port("metrics_port", absl::GetFlag(FLAGS_metrics_port), /*allow_off=*/true)
              .AtLeast("pool_size", absl::GetFlag(FLAGS_pool_size), 1)
              .AtLeast("create_batch", absl::GetFlag(FLAGS_create_batch), 1)
              .AtLeast("create_lanes", absl::GetFlag(FLAGS_create_lanes), 1)
              .AtLeast("relay_workers", absl::GetFlag(FLAGS_relay_workers), 1)
              .AtLeast("relay_batch", absl::GetFlag(FLAGS_relay_batch), 1)
              .AtLeast("relay_max_attempts", absl::GetFlag(FLAGS_relay_max_attempts), 1)
              .Positive("relay_lease", absl::GetFlag(FLAGS_relay_lease))
              .AtLeast("relay_retry_window",
                       absl::ToInt64Seconds(absl::GetFlag(FLAGS_relay_retry_window)), 0)
              .Positive("relay_backoff_initial", absl::GetFlag(FLAGS_relay_backoff_initial))
              .Positive("relay_backoff_max", absl::GetFlag(FLAGS_relay_backoff_max))
              .Positive("relay_idle_poll", absl::GetFlag(FLAGS_relay_idle_poll))
              .Expect(absl::GetFlag(FLAGS_relay_backoff_initial) <=
                          absl::GetFlag(FLAGS_relay_backoff_max),
                      "relay_backoff_initial", "must not exceed --relay_backoff_max")
              .Positive("payment_timeout", absl::GetFlag(FLAGS_payment_timeout))
              .Positive("outbox_retention", absl::GetFlag(FLAGS_outbox_retention))
              .Positive("idempotency_retention", absl::GetFlag(FLAGS_idempotency_retention))
              .Positive("reaper_period", absl::GetFlag(FLAGS_reaper_period))
              // Below the largest valid chunk, gRPC would refuse a chunk the service accepts.
              .AtLeast("max_message_bytes", absl::GetFlag(FLAGS_max_message_bytes),
                       orders::kMaxImportChunkBytes)
              .ReadableFile("payment_tls_ca", absl::GetFlag(FLAGS_payment_tls_ca))
              .ReadableFile("payment_tls_cert", absl::GetFlag(FLAGS_payment_tls_cert))
              .ReadableFile("payment_tls_key", absl::GetFlag(FLAGS_payment_tls_key))
              .Requires("payment_tls_cert", !absl::GetFlag(FLAGS_payment_tls_cert).empty(),
                        "payment_tls_key", !absl::GetFlag(FLAGS_payment_tls_key).empty())
              .Requires("payment_tls_cert", !absl::GetFlag(FLAGS_payment_tls_cert).empty(),
                        "payment_tls_ca", !absl::GetFlag(FLAGS_payment_tls_ca).empty())
              .Status();
      !s.ok()) {
    std::fprintf(stderr, "order_service: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  common::ServerConfig ops_config;  // the server's TLS and keepalive, checked before any work
  ops_config.port = absl::GetFlag(FLAGS_port);
  ops_config.tls = {.cert_file = absl::GetFlag(FLAGS_tls_cert),
                    .key_file = absl::GetFlag(FLAGS_tls_key),
                    .client_ca_file = absl::GetFlag(FLAGS_tls_client_ca)};
  ops_config.keepalive.time = absl::GetFlag(FLAGS_keepalive_time);
  ops_config.keepalive.timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  ops_config.keepalive.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  ops_config.keepalive.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  if (absl::Status s = common::ValidateServerConfig(ops_config); !s.ok()) {
    std::fprintf(stderr, "order_service: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::shared_ptr<grpc::ChannelCredentials> payment_credentials;
  if (!absl::GetFlag(FLAGS_payment_tls_ca).empty()) {
    auto credentials =
        common::MakeChannelCredentials({.ca_file = absl::GetFlag(FLAGS_payment_tls_ca),
                                        .cert_file = absl::GetFlag(FLAGS_payment_tls_cert),
                                        .key_file = absl::GetFlag(FLAGS_payment_tls_key),
                                        .enabled = true});
    if (!credentials.ok()) {
      std::fprintf(stderr, "order_service: payment TLS: %s\n",
                   std::string(credentials.status().message()).c_str());
      return 2;
    }
    payment_credentials = *credentials;
  }
  auto auth = common::TokenAuthenticator::Parse(absl::GetFlag(FLAGS_tokens));
  if (!auth.ok()) {
    std::fprintf(stderr, "--tokens: %s\n", auth.status().ToString().c_str());
    return 2;
  }
  auto admin_auth = common::TokenAuthenticator::Parse(absl::GetFlag(FLAGS_admin_tokens));
  if (!admin_auth.ok()) {
    std::fprintf(stderr, "--admin_tokens: %s\n", admin_auth.status().ToString().c_str());
    return 2;
  }

  const pg::ConnectOptions db_options{.prepared_statements =
                                          absl::GetFlag(FLAGS_prepared_statements)};
  const std::string listen_database = absl::GetFlag(FLAGS_listen_database).empty()
                                          ? absl::GetFlag(FLAGS_database)
                                          : absl::GetFlag(FLAGS_listen_database);
  // Nothing here touches the database: the server starts (NOT_SERVING) even while it is down,
  // and the schema is applied once it answers (below).
  pg::Pool pool(absl::GetFlag(FLAGS_database), absl::GetFlag(FLAGS_pool_size), db_options);

  std::unique_ptr<orders::PaymentGateway> gateway = orders::NewGrpcPaymentGateway(
      {.target = absl::GetFlag(FLAGS_payment_addr),
       .token = absl::GetFlag(FLAGS_payment_token),
       .timeout = absl::GetFlag(FLAGS_payment_timeout),
       .credentials = payment_credentials,
       .tls_server_name = absl::GetFlag(FLAGS_payment_tls_server_name)});
  orders::PgOutboxStore outbox(pool);  // operators' reads and requeues: durable commits
  // The relay's own connections. Its writes need not wait for a WAL flush (see the flag); every
  // durable commit that follows (a CreateOrder, a cancel) flushes them anyway, since the WAL is
  // written in order.
  pg::Pool relay_pool(absl::GetFlag(FLAGS_database), absl::GetFlag(FLAGS_relay_workers) + 1,
                      db_options);
  orders::PgOutboxStore relay_outbox(relay_pool, absl::GetFlag(FLAGS_relay_synchronous_commit));
  orders::RelayOptions relay_options;
  relay_options.workers = absl::GetFlag(FLAGS_relay_workers);
  relay_options.batch = absl::GetFlag(FLAGS_relay_batch);
  relay_options.lease = absl::GetFlag(FLAGS_relay_lease);
  relay_options.max_attempts = absl::GetFlag(FLAGS_relay_max_attempts);
  relay_options.retry_window = absl::GetFlag(FLAGS_relay_retry_window);
  relay_options.backoff.initial = absl::GetFlag(FLAGS_relay_backoff_initial);
  relay_options.backoff.max = absl::GetFlag(FLAGS_relay_backoff_max);
  relay_options.idle_poll = absl::GetFlag(FLAGS_relay_idle_poll);
  char host[256] = "local";
  gethostname(host, sizeof host);
  relay_options.owner = absl::StrCat(host, ":", getpid());
  orders::OutboxRelay relay(relay_outbox, *gateway, relay_options);
  const bool run_relay = role != "api";
  std::unique_ptr<orders::OutboxListener> listener;
  std::unique_ptr<orders::Reaper> reaper;
  std::unique_ptr<orders::AnalyticsProjector> projector;
  std::unique_ptr<orders::OutboxNotifier> notifier;
  if (role == "api" || absl::GetFlag(FLAGS_outbox_notify)) {
    // NOTIFY is transactional, so it passes through a pooler: the main connection string.
    notifier = std::make_unique<orders::OutboxNotifier>(absl::GetFlag(FLAGS_database), db_options);
  }

  // Without batching every request is its own batch: as many lanes as connections.
  const int create_batch = absl::GetFlag(FLAGS_create_batch);
  orders::PgOrderRepository repository(
      pool, {.lanes = create_batch == 1 ? absl::GetFlag(FLAGS_pool_size)
                                        : absl::GetFlag(FLAGS_create_lanes),
             .max_batch = create_batch});
  orders::OrderLogic logic(repository, [&relay, run_relay, &notifier] {
    if (run_relay) relay.Notify();
    if (notifier) notifier->Signal();
  });
  const double chaos_rate = absl::GetFlag(FLAGS_chaos_failure_rate);
  if (chaos_rate < 0 || chaos_rate > 1) {
    std::fprintf(stderr, "--chaos_failure_rate must be between 0 and 1\n");
    return 2;
  }
  orders::ChaosDice chaos(chaos_rate, absl::GetFlag(FLAGS_chaos_methods),
                          absl::GetFlag(FLAGS_chaos_seed));
  absl::StatusOr<common::AdmissionOptions> admission_options =
      common::AdmissionOptionsFromFlags(absl::GetFlag(FLAGS_pool_size));
  if (!admission_options.ok()) {
    std::fprintf(stderr, "order_service: %s\n",
                 std::string(admission_options.status().message()).c_str());
    return 2;
  }
  common::AdmissionController admission(*admission_options);
  admission.set_multi_tenant(auth->enabled());
  common::AdmissionController* admission_or_null =
      absl::GetFlag(FLAGS_admission) ? &admission : nullptr;
  orders::OrderGrpcService service(logic, *auth, chaos_rate > 0 ? &chaos : nullptr,
                                   admission_or_null);
  orders::PgReconcileStore reconcile_store(pool);
  orders::Reconciler reconciler(reconcile_store, *gateway);
  orders::OutboxAdminService admin(outbox, run_relay ? &relay : nullptr, *admin_auth, *auth,
                                   &reconciler, admission_or_null);

  // Declared after everything its collectors read, so it is destroyed (and stops scraping) first.
  auto metrics = common::Metrics::Start({.host = absl::GetFlag(FLAGS_metrics_host).empty()
                                                     ? absl::GetFlag(FLAGS_host)
                                                     : absl::GetFlag(FLAGS_metrics_host),
                                         .port = absl::GetFlag(FLAGS_metrics_port),
                                         .port_file = absl::GetFlag(FLAGS_metrics_port_file)});
  if (!metrics.ok()) {
    std::fprintf(stderr, "order_service: %s\n", std::string(metrics.status().message()).c_str());
    return 1;
  }
  common::AddPoolMetrics(**metrics, pool, "orders");
  if (run_relay) common::AddPoolMetrics(**metrics, relay_pool, "orders_relay");
  orders::AddOutboxMetrics(**metrics, outbox, run_relay ? &relay : nullptr);
  orders::AddReconcileMetrics(**metrics, reconciler);
  common::AddAdmissionMetrics(**metrics, admission, "order_service");

  common::ServerConfig config = ops_config;
  config.metrics = metrics->get();
  config.log_rpcs = absl::GetFlag(FLAGS_log_rpcs);
  config.max_threads = common::MaxThreadsFromFlags(*admission_options);
  config.service_name = "order_service";
  config.error_domain = orders::kOrdersErrorDomain;
  config.host = absl::GetFlag(FLAGS_host);
  config.port = absl::GetFlag(FLAGS_port);
  config.port_file = "";  // written below, once the database answered
  config.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  config.handler_threads = absl::GetFlag(FLAGS_handler_threads);
  std::vector<grpc::Service*> services;
  if (role != "relay") services.push_back(&service);
  if (absl::GetFlag(FLAGS_outbox_admin)) services.push_back(&admin);
  auto server = common::GrpcServer::Start(config, services);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("order_service (%s) listening on %s:%d\n", role.c_str(), config.host.c_str(),
              (*server)->port());
  if ((*metrics)->port() > 0)
    std::printf("order_service: metrics on port %d\n", (*metrics)->port());
  std::fflush(stdout);

  // The database may be down or read-only at start: keep trying (readiness NOT_SERVING,
  // liveness SERVING) instead of exiting into a crash loop.
  if (int sig = common::RetryUntilDone(
          "order_service: database",
          [&pool]() -> absl::Status {
            auto conn = pool.Acquire(absl::Now() + absl::Seconds(5));
            if (!conn.ok()) return conn.status();
            return pg::Migrate(**conn, "orders", orders::OrderMigrations());
          },
          absl::Milliseconds(250));
      sig != 0) {
    std::printf("order_service: signal %d before the database answered, shutting down\n", sig);
    (*server)->Shutdown();
    return 0;
  }
  if (run_relay) {
    relay.Start();
    listener = std::make_unique<orders::OutboxListener>(listen_database, db_options,
                                                        [&relay] { relay.Notify(); });
    reaper = std::make_unique<orders::Reaper>(
        pool,
        orders::RetentionOptions{.done_events = absl::GetFlag(FLAGS_outbox_retention),
                                 .idempotency_keys = absl::GetFlag(FLAGS_idempotency_retention),
                                 .period = absl::GetFlag(FLAGS_reaper_period)});
    reaper->Start();
    if (absl::GetFlag(FLAGS_analytics_projector)) {
      projector = std::make_unique<orders::AnalyticsProjector>(pool);
      projector->Start();
    }
    if (absl::GetFlag(FLAGS_reconcile_every) > absl::ZeroDuration()) {
      reconciler.Start(absl::GetFlag(FLAGS_reconcile_every), absl::GetFlag(FLAGS_reconcile_repair));
    }
  }
  (*server)->StartReadinessProbe([&pool] { return pool.PingWritable(); }, absl::Seconds(1));
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    common::WritePortFile(absl::GetFlag(FLAGS_port_file), (*server)->port());
  }

  const int sig = common::WaitForTerminationSignal();
  std::printf("order_service: signal %d, shutting down\n", sig);
  (*server)->Shutdown();
  if (reaper) reaper->Stop();
  if (projector) projector->Stop();
  listener.reset();
  relay.Stop();
  return 0;
}

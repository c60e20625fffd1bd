#include "order_service/server.h"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/admission_metrics.h"
#include "common/failpoint.h"
#include "common/metrics_pg.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "common/pg/timeouts.h"
#include "order_service/analytics_projector.h"
#include "order_service/chaos.h"
#include "order_service/order_grpc_service.h"
#include "order_service/order_logic.h"
#include "order_service/outbox_admin_service.h"
#include "order_service/outbox_metrics.h"
#include "order_service/outbox_signals.h"
#include "order_service/pg_order_repository.h"
#include "order_service/pg_outbox_store.h"
#include "order_service/pg_reconcile_store.h"
#include "order_service/reconciler.h"
#include "order_service/schema.h"

namespace orders {
namespace {

// The relay's owner name in claimed events: unique per process.
std::string ProcessName() {
  char host[256] = "local";
  gethostname(host, sizeof host);
  return absl::StrCat(host, ":", getpid());
}

// What a relay process runs beside the relay once the schema is in place; stopped in reverse.
class RelayCompanions {
 public:
  RelayCompanions(const OrderServiceConfig& config, pg::Pool& pool, OutboxRelay& relay,
                  Reconciler& reconciler, const pg::ConnectOptions& db_options)
      : relay_(relay) {
    relay.Start();
    listener_ = std::make_unique<OutboxListener>(config.listen_database, db_options,
                                                 [&relay] { relay.Notify(); });
    reaper_ = std::make_unique<Reaper>(pool, config.retention);
    reaper_->Start();
    if (config.analytics_projector) {
      projector_ = std::make_unique<AnalyticsProjector>(pool);
      projector_->Start();
    }
    if (config.reconcile_every > absl::ZeroDuration()) {
      reconciler.Start(config.reconcile_every, config.reconcile_repair);
    }
  }
  ~RelayCompanions() {
    reaper_->Stop();
    if (projector_) projector_->Stop();
    listener_.reset();
    relay_.Stop();
  }

 private:
  OutboxRelay& relay_;
  std::unique_ptr<OutboxListener> listener_;
  std::unique_ptr<Reaper> reaper_;
  std::unique_ptr<AnalyticsProjector> projector_;
};

}  // namespace

int RunOrderService(const OrderServiceConfig& config) {
  common::ArmFailpoints(config.failpoints);
  const pg::ConnectOptions db_options{.prepared_statements = config.prepared_statements};
  // Nothing here touches the database: the server starts (NOT_SERVING) even while it is down,
  // and the schema is applied once it answers (below).
  pg::Pool pool(config.database, config.pool_size, db_options);
  std::unique_ptr<PaymentGateway> gateway = NewGrpcPaymentGateway(config.payment);
  PgOutboxStore outbox(pool);  // operators' reads and requeues: durable commits
  // The relay's own connections. Its writes need not wait for a WAL flush (see the flag); every
  // durable commit that follows (a CreateOrder, a cancel) flushes them anyway, since the WAL is
  // written in order.
  pg::Pool relay_pool(config.database, config.relay.workers + 1, db_options);
  PgOutboxStore relay_outbox(relay_pool, config.relay_synchronous_commit);
  common::AdmissionController admission(config.admission.options);
  admission.set_multi_tenant(config.tenants.enabled());
  common::AdmissionController* admission_or_null = config.admission.enabled ? &admission : nullptr;
  RelayOptions relay_options = config.relay;
  relay_options.owner = ProcessName();
  if (config.serves_api() && admission_or_null != nullptr &&
      relay_options.yield_pause > absl::ZeroDuration()) {
    relay_options.callers_shed = [&admission] { return admission.Shedding(); };
    relay_options.callers_busy = [&admission] { return admission.Busy(); };
  }
  OutboxRelay relay(relay_outbox, *gateway, relay_options);
  const bool run_relay = config.runs_relay();
  std::unique_ptr<OutboxNotifier> notifier;
  if (!run_relay || config.outbox_notify) {  // role "api" tells relays elsewhere
    // NOTIFY is transactional, so it passes through a pooler: the main connection string.
    notifier = std::make_unique<OutboxNotifier>(config.database, db_options);
  }

  // Without batching every request is its own batch: as many lanes as connections.
  PgOrderRepository repository(
      pool, {.lanes = config.create_batch == 1 ? config.pool_size : config.create_lanes,
             .max_batch = config.create_batch});
  OrderLogic logic(repository, [&relay, run_relay, &notifier] {
    if (run_relay) relay.Notify();
    if (notifier) notifier->Signal();
  });
  ChaosDice chaos(config.chaos_failure_rate, config.chaos_methods, config.chaos_seed);
  OrderGrpcService service(
      logic, config.tenants, config.chaos_failure_rate > 0 ? &chaos : nullptr, admission_or_null,
      config.admission.enabled ? config.admission.worker_threads : config.server.max_pollers);
  PgReconcileStore reconcile_store(pool);
  Reconciler reconciler(reconcile_store, *gateway);
  OutboxAdminService admin(outbox, run_relay ? &relay : nullptr, config.operators, config.tenants,
                           &reconciler, admission_or_null);

  // Declared after everything its collectors read, so it is destroyed (and stops scraping) first.
  auto metrics = common::Metrics::Start(config.metrics);
  if (!metrics.ok()) {
    std::fprintf(stderr, "order_service: %s\n", std::string(metrics.status().message()).c_str());
    return 1;
  }
  common::AddPoolMetrics(**metrics, pool, "orders");
  if (run_relay) common::AddPoolMetrics(**metrics, relay_pool, "orders_relay");
  AddOutboxMetrics(**metrics, outbox, run_relay ? &relay : nullptr);
  AddReconcileMetrics(**metrics, reconciler);
  common::AddAdmissionMetrics(**metrics, admission, "order_service");

  common::ServerConfig server_config = config.server;
  server_config.metrics = metrics->get();
  std::vector<grpc::Service*> services;
  if (config.serves_api()) services.push_back(&service);
  if (config.outbox_admin) services.push_back(&admin);
  auto server = common::GrpcServer::Start(server_config, services);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("order_service (%s) listening on %s:%d\n", config.role.c_str(),
              server_config.host.c_str(), (*server)->port());
  if ((*metrics)->port() > 0)
    std::printf("order_service: metrics on port %d\n", (*metrics)->port());
  std::fflush(stdout);

  // The database may be down or read-only at start: keep trying (readiness NOT_SERVING,
  // liveness SERVING) instead of exiting into a crash loop.
  if (int sig = common::RetryUntilDone(
          "order_service: database",
          [&pool]() -> absl::Status {
            auto conn = pool.Acquire(pg::BackgroundDeadline());
            if (!conn.ok()) return conn.status();
            return pg::Migrate(**conn, "orders", OrderMigrations());
          },
          absl::Milliseconds(250));
      sig != 0) {
    std::printf("order_service: signal %d before the database answered, shutting down\n", sig);
    (*server)->Shutdown();
    return 0;
  }
  std::unique_ptr<RelayCompanions> companions;
  if (run_relay) {
    companions = std::make_unique<RelayCompanions>(config, pool, relay, reconciler, db_options);
  }
  (*server)->StartReadinessProbe([&pool] { return pool.PingWritable(); }, absl::Seconds(1));
  if (!config.port_file.empty()) common::WritePortFile(config.port_file, (*server)->port());

  const int sig = common::WaitForTerminationSignal();
  std::printf("order_service: signal %d, shutting down\n", sig);
  (*server)->Shutdown();
  companions.reset();
  return 0;
}

}  // namespace orders

#include "payment_service/server.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/admission_metrics.h"
#include "common/failpoint.h"
#include "common/metrics_pg.h"
#include "common/pg/pool.h"
#include "payment_service/fault_metrics.h"
#include "payment_service/memory_ledger.h"
#include "payment_service/payment_grpc_service.h"
#include "payment_service/payments.h"
#include "payment_service/pg_ledger.h"

namespace payment_service {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "payment_service: %s\n", std::string(status.message()).c_str());
  return 2;
}

}  // namespace

int RunPaymentService(const PaymentServiceConfig& config) {
  common::ArmFailpoints(config.failpoints);
  FaultInjector faults(config.faults);
  std::unique_ptr<pg::Pool> pool;
  std::unique_ptr<Ledger> ledger;
  PgLedger* pg_ledger = nullptr;  // its schema is applied once the server listens
  if (config.store == "memory") {
    ledger = std::make_unique<MemoryLedger>();
  } else {
    pool = std::make_unique<pg::Pool>(
        config.database, config.pool_size,
        pg::ConnectOptions{.prepared_statements = config.prepared_statements});
    auto owned = std::make_unique<PgLedger>(pool.get());
    pg_ledger = owned.get();
    ledger = std::move(owned);
  }

  Payments payments(*ledger, faults);
  common::AdmissionController admission(config.admission.options);
  admission.set_multi_tenant(config.callers.enabled());
  PaymentGrpcService service(
      payments, config.callers, config.admission.enabled ? &admission : nullptr,
      config.admission.enabled ? config.admission.worker_threads : config.server.max_pollers);
  FaultAdminGrpcService admin(faults, config.callers);
  std::vector<grpc::Service*> services = {&service};
  if (config.enable_fault_admin) services.push_back(&admin);

  // Declared after everything its collectors read, so it is destroyed (and stops scraping) first.
  auto metrics = common::Metrics::Start(config.metrics);
  if (!metrics.ok()) return Fail(metrics.status());
  if (pool) common::AddPoolMetrics(**metrics, *pool, "payments");
  AddFaultMetrics(**metrics, faults);
  common::AddAdmissionMetrics(**metrics, admission, "payment_service");

  common::ServerConfig server_config = config.server;
  server_config.metrics = metrics->get();
  absl::StatusOr<std::unique_ptr<common::GrpcServer>> server =
      common::GrpcServer::Start(server_config, services);
  if (!server.ok()) return Fail(server.status());
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
  if (!config.port_file.empty()) common::WritePortFile(config.port_file, (*server)->port());

  Reaper reaper(*ledger, config.retention);
  reaper.Start();

  std::printf("payment_service listening on %s:%d\n", server_config.host.c_str(),
              (*server)->port());
  if ((*metrics)->port() > 0) {
    std::printf("payment_service: metrics on port %d\n", (*metrics)->port());
  }
  std::fflush(stdout);
  std::fprintf(stderr, "payment_service: store=%s auth=%s fault_admin=%s\n", config.store.c_str(),
               config.callers.enabled() ? "tokens" : "off",
               config.enable_fault_admin ? "on" : "off");
  const int sig = common::WaitForTerminationSignal();
  std::fprintf(stderr, "payment_service: signal %d, shutting down\n", sig);
  reaper.Stop();
  (*server)->Shutdown();
  return 0;
}

}  // namespace payment_service

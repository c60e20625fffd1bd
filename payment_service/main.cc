// payment_service: a mock payment provider (DESIGN.md §3-4). Wiring only: flags, store, domain,
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
#include "common/auth.h"
#include "common/failpoint.h"
#include "common/grpc_server.h"
#include "common/pg/pool.h"
#include "payment_service/faults.h"
#include "payment_service/grpc_adapter.h"
#include "payment_service/memory_ledger.h"
#include "payment_service/payments.h"
#include "payment_service/pg_ledger.h"
#include "payment_service/reaper.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 50052, "port to listen on, 0 for any free one (env PAYMENT_PORT if not given)");
ABSL_FLAG(std::string, port_file, "", "write the port here once listening");
ABSL_FLAG(std::string, database, "",
          "libpq connection string (env PAYMENT_DATABASE if empty; else libpq's PG* defaults)");
ABSL_FLAG(std::string, store, "postgres", "ledger store: postgres or memory");
ABSL_FLAG(int, pool_size, 16, "PostgreSQL connections");
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

// PostgreSQL may still be starting: retry for a while before giving up.
std::unique_ptr<Ledger> OpenPgLedger(pg::Pool* pool) {
  const absl::Time until = absl::Now() + absl::Seconds(30);
  while (true) {
    absl::StatusOr<std::unique_ptr<PgLedger>> ledger = PgLedger::Open(pool);
    if (ledger.ok()) return *std::move(ledger);
    if (absl::Now() > until) Die(std::string(ledger.status().ToString()));
    std::fprintf(stderr, "payment_service: waiting for PostgreSQL: %s\n",
                 std::string(ledger.status().message()).c_str());
    absl::SleepFor(absl::Milliseconds(500));
  }
}

}  // namespace

int main(int argc, char** argv) {
  common::BlockTerminationSignals();
  absl::SetProgramUsageMessage("mock payment provider: payments.v1.PaymentService over gRPC");
  const bool port_given = FlagGiven(argc, argv, "port");
  absl::ParseCommandLine(argc, argv);
  common::ArmFailpoints(absl::GetFlag(FLAGS_failpoints));
  if (const char* env = std::getenv("FAILPOINTS")) common::ArmFailpoints(env);

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
  const std::string store = absl::GetFlag(FLAGS_store);
  if (store == "memory") {
    ledger = std::make_unique<MemoryLedger>();
  } else if (store == "postgres") {
    pool = std::make_unique<pg::Pool>(DatabaseFlag(), absl::GetFlag(FLAGS_pool_size));
    ledger = OpenPgLedger(pool.get());
  } else {
    Die("--store must be postgres or memory");
  }

  Payments payments(*ledger, faults);
  PaymentGrpcService service(payments, *auth);
  FaultAdminGrpcService admin(faults, *auth);
  std::vector<grpc::Service*> services = {&service};
  if (absl::GetFlag(FLAGS_enable_fault_admin)) services.push_back(&admin);

  common::ServerConfig config;
  config.host = absl::GetFlag(FLAGS_host);
  config.port = PortFlag(port_given);
  config.port_file = absl::GetFlag(FLAGS_port_file);
  absl::StatusOr<std::unique_ptr<common::GrpcServer>> server =
      common::GrpcServer::Start(config, services);
  if (!server.ok()) Die(std::string(server.status().message()));
  (*server)->StartReadinessProbe([&ledger] { return ledger->Ready(); }, absl::Seconds(1));

  Reaper reaper(*ledger, {absl::GetFlag(FLAGS_retention), absl::GetFlag(FLAGS_reap_interval),
                          absl::GetFlag(FLAGS_reap_batch)});
  reaper.Start();

  std::printf("payment_service listening on %s:%d\n", config.host.c_str(), (*server)->port());
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

// One network scenario against the real services: PostgreSQL (the test
// cluster, or a private one when the scenario restarts it), payment_service, order_service
// (--role=all, plus optional --role=relay processes), a FaultProxy on each hop, the retrying
// client, and at the end: heal every fault, restart whatever is down, retry the unknown creates,
// wait for the outbox to drain, and run the exactly-once checker.
//
//   client --[client_proxy]--> order_service --[payment_proxy]--> payment_service
//                                   |                                   |
//                            [order_pg_proxy]                   [payment_pg_proxy]
//                                   +-------------> PostgreSQL <---------+
//
// A supervisor thread restarts any service that died (a failpoint's SIGKILL, or a scenario's
// kill) unless the scenario holds it down, and points the proxy in front of it at its new port.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "orders/v1/orders.pb.h"
#include "tests/network/checker.h"
#include "tests/network/fault_proxy.h"
#include "tests/network/ha_cluster.h"
#include "tests/network/load_tracker.h"
#include "tests/network/process_harness.h"
#include "tests/network/retrying_client.h"

namespace network_test {

struct ScenarioOptions {
  std::string name = "scenario";
  uint64_t seed = 1;
  // A private cluster (needed to restart PostgreSQL); else the test cluster from the environment.
  bool own_postgres = false;
  // > 0: an HA PostgreSQL of this many Patroni nodes (HaCluster, deploy/local/ha.sh) instead of
  // one cluster; both services use its multi-host connection string directly (target_session_attrs
  // =read-write), so the order->pg and payment->pg proxies carry nothing.
  int ha_nodes = 0;
  bool ha_synchronous = true;  // Patroni's synchronous_mode
  int client_threads = 8;
  RetryPolicy policy;
  // Extra flags. Failpoints go in order_failpoints / payment_failpoints (see
  // max_failpoint_crashes).
  std::vector<std::string> order_args;
  std::vector<std::string> payment_args;
  std::string order_failpoints;    // e.g. "order_before_commit@37"
  std::string payment_failpoints;  // e.g. "payment_after_charge_commit@53"
  // A service killed by its failpoint is restarted with the failpoint still armed (so it crashes
  // again after as many hits) this many times, then without it.
  int max_failpoint_crashes = 3;
  int extra_relays = 0;  // order_service --role=relay processes besides the --role=all one
  // A second deployment ("B"): its own orders database (so its own deployment identity), its own
  // order_service --role=all behind its own proxy, and its own client running the same plan with
  // the same idempotency keys at the same time, charging through the same payment service
  // (through the order->payment proxy, so that hop's faults hit both). Finish then checks both
  // deployments against the one payment account (CheckSharedPaymentAccount).
  bool second_deployment = false;
  // Relay settings for tests: a short backoff, a lease that expires fast, a payment deadline
  // below the lease.
  absl::Duration relay_lease = absl::Seconds(3);
  absl::Duration payment_timeout = absl::Seconds(1);
  absl::Duration relay_backoff_initial = absl::Milliseconds(20);
  absl::Duration relay_backoff_max = absl::Milliseconds(500);
  // Faults are transient here, so an event should never run out of attempts; a non-transient
  // error still buries an event at once (and the checker counts it as stuck).
  int relay_max_attempts = 200;
  int pool_size = 8;
  absl::Duration retry_unknown_budget = absl::Seconds(30);
  absl::Duration drain_timeout = absl::Seconds(90);
  // Faults that must fire with orders in flight (LoadTracker::Require): the end of the plan waits
  // for them. Names as the scenario's chaos (or the supervisor: "crash <service>", "killed
  // <service>") gives them.
  std::vector<std::string> required_faults;
  // How long the load may go on beyond the plan while a required fault has not fired.
  absl::Duration extension_limit = absl::Seconds(120);
};

// NETWORK_LOAD_FACTOR (default 1): the client runs this many times its usual callers, so a run
// shows whether every fault still fires when the work goes several times faster.
int LoadFactor();

class Scenario {
 public:
  enum class Hop { kClientOrder = 0, kOrderPayment, kOrderPg, kPaymentPg };
  static constexpr int kHops = 4;
  static const char* HopName(Hop hop);

  explicit Scenario(ScenarioOptions options);
  ~Scenario();
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  // PostgreSQL, databases, proxies, services, supervisor, client.
  absl::Status Start();

  // Runs `plan` through the client; `chaos`, when given, runs on its own thread meanwhile and
  // should return soon after `done()` turns true (Sleep() returns early then). While a required
  // fault has not fired, more orders like the plan's follow (new keys, small paced batches, up
  // to ScenarioOptions::extension_limit), so the schedule completes with work in flight on any
  // machine.
  using Chaos = std::function<void(Scenario& s, const std::function<bool()>& done)>;
  void Run(const std::vector<PlannedOrder>& plan, const Chaos& chaos = nullptr);

  // Heals every fault, restarts what is down, retries unknown creates, waits for the drain, then
  // runs the checker. Prints the scenario's figures and the checker table. The status is an
  // error only when the final state could not be read; the drain's result is in drain_status().
  absl::StatusOr<CheckReport> Finish();
  const absl::Status& drain_status() const { return drain_status_; }
  // The order service's own reconciliation after the drain (OutboxAdmin.Reconcile, no repair).
  const absl::Status& reconcile_status() const { return reconcile_status_; }
  const orders::v1::ReconcileReport& reconcile() const { return reconcile_; }
  // Deployment B's reconciliation (second_deployment only).
  const orders::v1::ReconcileReport& reconcile_b() const { return reconcile_b_; }
  // Events the relays gave up sending and asked payments about (GetOutboxStats, at Finish).
  int64_t relay_asked_payments() const { return relay_asked_payments_; }

  // Sleeps `d`, or less when `done()` turns true (polled every 20 ms).
  static void Sleep(absl::Duration d, const std::function<bool()>& done);

  // Progress, for faults triggered by it: waits until `more` orders beyond those acknowledged
  // now have been acknowledged and at least `at_least` has passed, or `done()`. True when reached.
  bool AwaitProgress(int64_t more, const std::function<bool()>& done,
                     absl::Duration at_least = absl::ZeroDuration());
  // A fault in place from BeginFault to EndFault (counted in the summary with the orders
  // attempted meanwhile; Finish ends every open one).
  int BeginFault(const std::string& fault) { return load_.Begin(fault); }
  void EndFault(int window) { load_.End(window); }
  LoadTracker& load() { return load_; }

  FaultProxy& proxy(Hop hop) { return *proxies_[static_cast<int>(hop)]; }
  RetryingClient& client() { return *client_; }
  PostgresCluster* postgres() { return pg_; }  // nullptr with ha_nodes > 0
  HaCluster* ha() { return ha_.get(); }        // nullptr without ha_nodes
  const std::string& order_database() const { return order_db_; }
  const std::string& payment_database() const { return payment_db_; }
  const ScenarioOptions& options() const { return options_; }
  std::string order_address();    // directly, not through a proxy
  std::string payment_address();  // directly
  // The client-facing address (the proxy in front of the order service).
  std::string client_address() const { return proxies_[0]->address(); }

  // Process control; safe while the supervisor runs.
  void KillOrder();               // the --role=all process; the supervisor restarts it
  void KillRelay(int index);      // an extra --role=relay process; restarted too
  void HoldPaymentDown();         // SIGKILL, and not restarted until ReleasePayment()
  absl::Status ReleasePayment();  // start it again (new port, the proxy follows)
  void KillPayment();             // SIGKILL; the supervisor restarts it
  void PausePayment();            // SIGSTOP
  void ResumePayment();           // SIGCONT
  void PauseRelay(int index);
  void ResumeRelay(int index);
  // CHECKPOINT: the setup's WAL (two CREATE DATABASEs) need not be replayed by a later crash
  // recovery, as in a database that has been up for a while.
  absl::Status Checkpoint();
  // pg_ctl stop -m immediate, `down_for`, start (own_postgres only).
  absl::Status RestartPostgres(absl::Duration down_for);
  // PaymentFaultAdmin.SetFaults (the payment service runs with --enable_fault_admin).
  absl::Status SetPaymentFaults(double fail_before, double fail_after, int latency_ms,
                                int jitter_ms, uint64_t seed);

  // Crashes seen by the supervisor (a process found dead that the scenario did not kill).
  int crashes() const { return crashes_.load(); }
  int restarts() const { return restarts_.load(); }
  int pg_restarts() const { return pg_restarts_.load(); }

 private:
  struct Managed {
    ServiceProcess* process = nullptr;
    int proxy = -1;             // the proxy whose upstream follows it, or -1
    bool hold_down = false;     // killed on purpose, not to be restarted yet
    bool expect_death = false;  // the next death was caused by the scenario, not a crash
    int failpoint_crashes = 0;
    bool paused = false;
  };

  // The --database of a service whose PostgreSQL hop is `hop`: through that hop's proxy to the
  // one cluster, or the HA cluster's multi-host string.
  std::string DatabaseConninfo(Hop hop, const std::string& dbname) const;
  // The database directly (no proxy): the one cluster, or the HA cluster's multi-host string.
  std::string DirectConninfo(const std::string& dbname) const;
  // CREATE DATABASE on the one cluster or the HA leader; its unique name.
  absl::StatusOr<std::string> CreateDatabase(const std::string& prefix);
  // An order_service process of deployment A, or of B when `database` names B's.
  ServiceProcess::Spec OrderSpec(const std::string& name, const std::string& role,
                                 const std::string& database = "");
  absl::Status StartSecondDeployment();
  absl::StatusOr<std::string> DeploymentIdentity(const std::string& database);
  absl::StatusOr<CheckReport> CheckBothDeployments(const ClientRecords& a, const ClientRecords& b);
  orders::v1::ReconcileReport ReconcileVia(const std::string& target, absl::Status* status);
  absl::Status RestartLocked(Managed& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Supervise();
  void StripFailpoints(Managed& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string OrderTargetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ReadOptions MakeReadOptions();
  std::string OutboxFigures();
  std::string PaymentFaultFigures();

  const ScenarioOptions options_;
  const absl::Time started_ = absl::Now();
  ProcessHarness harness_;
  std::unique_ptr<HaCluster> ha_;  // stopped after the services (declared before them)
  // The service processes (in harness_.dir()); destroyed (killed) before the harness goes.
  std::vector<std::unique_ptr<ServiceProcess>> processes_;
  PostgresCluster* pg_ = nullptr;
  std::string order_db_, payment_db_;
  std::vector<std::unique_ptr<FaultProxy>> proxies_;
  std::unique_ptr<RetryingClient> client_;
  // Deployment B (second_deployment): its database, and its client (through proxies_[kHops]).
  std::string order_db_b_;
  std::unique_ptr<RetryingClient> client_b_;
  orders::v1::ReconcileReport reconcile_b_;
  LoadTracker load_;
  int64_t extension_orders_ = 0;  // orders run beyond the plans, until their faults fired

  absl::Mutex mu_;
  Managed payment_ ABSL_GUARDED_BY(mu_);
  Managed order_ ABSL_GUARDED_BY(mu_);
  Managed order_b_ ABSL_GUARDED_BY(mu_);  // second_deployment only
  std::vector<Managed> relays_ ABSL_GUARDED_BY(mu_);
  bool healing_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> crashes_{0};
  std::atomic<int> restarts_{0};
  std::atomic<int> kills_{0};        // SIGKILLs the scenario sent
  std::atomic<int> pauses_{0};       // SIGSTOPs the scenario sent
  std::atomic<int> pg_restarts_{0};  // immediate PostgreSQL restarts
  std::thread supervisor_;
  absl::Duration setup_time_ = absl::ZeroDuration();
  absl::Duration run_time_ = absl::ZeroDuration();
  absl::Status drain_status_;
  absl::Status reconcile_status_;
  orders::v1::ReconcileReport reconcile_;
  int64_t relay_asked_payments_ = 0;
};

// Environment knobs (soak mode): an integer from the environment, or `fallback`.
int64_t EnvInt(const char* name, int64_t fallback);

}  // namespace network_test

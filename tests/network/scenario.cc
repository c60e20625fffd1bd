#include "tests/network/scenario.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/client_context.h"
#include "common/pg/connection.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "orders/v1/orders.grpc.pb.h"
#include "payments/v1/payments.grpc.pb.h"

namespace network_test {
namespace {

std::string Flag(const std::string& name, absl::Duration d) {
  return absl::StrCat("--", name, "=", absl::FormatDuration(d));
}

// One attempt of CancelOrder, for RetryingClient::Options::cancel_call.
AttemptResult CancelOnce(const std::shared_ptr<grpc::Channel>& channel,
                         grpc::ClientContext* context, int64_t order_id) {
  auto stub = orders::v1::OrderService::NewStub(channel);
  orders::v1::CancelOrderRequest request;
  request.set_id(order_id);
  request.set_reason("network scenario");
  orders::v1::CancelOrderResponse response;
  grpc::Status status = stub->CancelOrder(context, request, &response);
  AttemptResult result = ResultFromCall(status, *context);
  if (status.ok()) {
    result.order_id = response.order().id();
    result.order_status = static_cast<OrderState>(response.order().status());
  }
  return result;
}

// Quiet services unless NETWORK_LOG_RPCS=1 (with KEEP_NETWORK_TEST_DIRS=1, for a post-mortem).
std::string LogRpcsFlag() {
  const char* v = std::getenv("NETWORK_LOG_RPCS");
  return absl::StrCat("--log_rpcs=", v != nullptr && std::string(v) == "1" ? "true" : "false");
}

void RemoveFlags(std::vector<std::string>* args, std::initializer_list<const char*> names) {
  std::vector<std::string> kept;
  for (size_t i = 0; i < args->size(); ++i) {
    const std::string& a = (*args)[i];
    bool drop = false;
    for (const char* name : names) {
      const std::string flag = absl::StrCat("--", name);
      if (a == flag) {  // "--name value"
        drop = true;
        ++i;
        break;
      }
      if (absl::StartsWith(a, flag + "=")) {
        drop = true;
        break;
      }
    }
    if (!drop) kept.push_back(a);
  }
  *args = std::move(kept);
}

}  // namespace

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  int64_t n = 0;
  if (v == nullptr || !absl::SimpleAtoi(v, &n)) return fallback;
  return n;
}

int LoadFactor() {
  return static_cast<int>(std::max<int64_t>(1, EnvInt("NETWORK_LOAD_FACTOR", 1)));
}

const char* Scenario::HopName(Hop hop) {
  switch (hop) {
    case Hop::kClientOrder:
      return "client->order";
    case Hop::kOrderPayment:
      return "order->payment";
    case Hop::kOrderPg:
      return "order->pg";
    case Hop::kPaymentPg:
      return "payment->pg";
  }
  return "?";
}

Scenario::Scenario(ScenarioOptions options)
    : options_(std::move(options)), harness_(options_.name) {}

Scenario::~Scenario() {
  stop_ = true;
  if (supervisor_.joinable()) supervisor_.join();
  // Never leave a process stopped: the harness SIGKILLs them, which a stopped process obeys, but
  // a resumed one exits at once.
  absl::MutexLock lock(&mu_);
  if (payment_.process && payment_.paused) payment_.process->Resume();
  for (Managed& r : relays_) {
    if (r.paused) r.process->Resume();
  }
}

std::string Scenario::DirectConninfo(const std::string& dbname) const {
  return ha_ != nullptr ? ha_->Conninfo(dbname) : pg_->Conninfo(dbname);
}

absl::StatusOr<std::string> Scenario::CreateDatabase(const std::string& prefix) {
  return ha_ != nullptr ? ha_->CreateDatabase(prefix) : pg_->CreateDatabase(prefix);
}

std::string Scenario::DatabaseConninfo(Hop hop, const std::string& dbname) const {
  if (ha_ != nullptr) return ha_->Conninfo(dbname);
  return pg_->ConninfoVia(proxies_[static_cast<int>(hop)]->port(), dbname);
}

ServiceProcess::Spec Scenario::OrderSpec(const std::string& name, const std::string& role,
                                         const std::string& database) {
  ServiceProcess::Spec spec;
  spec.name = name;
  spec.binary = ProcessHarness::ServiceBinary("order_service");
  spec.args = {"--database",
               DatabaseConninfo(Hop::kOrderPg, database.empty() ? order_db_ : database),
               "--payment_addr",
               proxies_[static_cast<int>(Hop::kOrderPayment)]->address(),
               "--role",
               role,
               Flag("relay_lease", options_.relay_lease),
               Flag("payment_timeout", options_.payment_timeout),
               Flag("relay_backoff_initial", options_.relay_backoff_initial),
               Flag("relay_backoff_max", options_.relay_backoff_max),
               absl::StrCat("--relay_max_attempts=", options_.relay_max_attempts),
               absl::StrCat("--pool_size=", options_.pool_size),
               LogRpcsFlag(),
               "--metrics_port=-1"};
  if (!options_.order_failpoints.empty()) {
    spec.args.push_back(absl::StrCat("--failpoints=", options_.order_failpoints));
  }
  spec.args.insert(spec.args.end(), options_.order_args.begin(), options_.order_args.end());
  // For post-mortems: NETWORK_EXTRA_ORDER_ARGS="--relay_max_attempts=1 ..." (space-separated).
  if (const char* extra = std::getenv("NETWORK_EXTRA_ORDER_ARGS"); extra != nullptr) {
    for (absl::string_view a : absl::StrSplit(extra, ' ', absl::SkipEmpty())) {
      spec.args.emplace_back(a);
    }
  }
  spec.env = {{"FAILPOINTS", ""}};
  return spec;
}

absl::Status Scenario::Start() {
  if (options_.ha_nodes > 0) {
    HaCluster::Options ho;
    ho.nodes = options_.ha_nodes;
    ho.synchronous = options_.ha_synchronous;
    absl::StatusOr<std::unique_ptr<HaCluster>> ha = HaCluster::Start(ho);
    if (!ha.ok()) return ha.status();
    ha_ = *std::move(ha);
  } else {
    absl::StatusOr<PostgresCluster*> pg = harness_.StartPostgres(options_.own_postgres);
    if (!pg.ok()) return pg.status();
    pg_ = *pg;
  }
  // Both databases at once: each CREATE DATABASE copies the template and syncs it to disk, and
  // the two waits overlap.
  absl::StatusOr<std::string> order_db = absl::UnknownError("not created");
  std::thread create_order_db([&] { order_db = CreateDatabase(options_.name + "_orders"); });
  absl::StatusOr<std::string> payment_db = CreateDatabase(options_.name + "_payments");
  create_order_db.join();
  if (!order_db.ok()) return order_db.status();
  if (!payment_db.ok()) return payment_db.status();
  order_db_ = *order_db;
  payment_db_ = *payment_db;

  // Proxies: upstreams of the service hops are set once the services listen.
  const char* names[kHops] = {"client->order", "order->payment", "order->pg", "payment->pg"};
  for (int i = 0; i < kHops; ++i) {
    FaultProxy::Options po;
    po.name = names[i];
    po.seed = options_.seed * 31 + static_cast<uint64_t>(i);
    // 1: nothing listens (until SetUpstream; the PostgreSQL hops stay idle in front of HA).
    po.upstream_port = (i >= 2 && pg_ != nullptr) ? pg_->port() : 1;
    auto proxy = FaultProxy::Start(po);
    if (!proxy.ok()) return proxy.status();
    proxies_.push_back(*std::move(proxy));
  }

  ServiceProcess::Spec payment;
  payment.name = "payment_service";
  payment.binary = ProcessHarness::ServiceBinary("payment_service");
  payment.args = {"--database",
                  DatabaseConninfo(Hop::kPaymentPg, payment_db_),
                  "--enable_fault_admin",
                  absl::StrCat("--pool_size=", options_.pool_size),
                  absl::StrCat("--fault_seed=", options_.seed),
                  LogRpcsFlag(),
                  "--metrics_port=-1"};
  if (!options_.payment_failpoints.empty()) {
    payment.args.push_back(absl::StrCat("--failpoints=", options_.payment_failpoints));
  }
  payment.args.insert(payment.args.end(), options_.payment_args.begin(),
                      options_.payment_args.end());
  payment.env = {{"FAILPOINTS", ""}};
  // The two services start at once: the order service reaches payments through the proxy,
  // whose address is known already, and connects lazily.
  absl::StatusOr<std::unique_ptr<ServiceProcess>> pay = absl::UnknownError("not started");
  std::thread start_payment([&] { pay = ServiceProcess::Start(payment, harness_.dir()); });
  absl::StatusOr<std::unique_ptr<ServiceProcess>> ord =
      ServiceProcess::Start(OrderSpec("order_service", "all"), harness_.dir());
  start_payment.join();
  if (pay.ok()) processes_.push_back(*std::move(pay));
  if (ord.ok()) processes_.push_back(*std::move(ord));
  if (!pay.ok()) return pay.status();
  if (!ord.ok()) return ord.status();
  ServiceProcess* p = processes_[0].get();
  ServiceProcess* o = processes_[1].get();
  proxies_[static_cast<int>(Hop::kOrderPayment)]->SetUpstream("127.0.0.1", p->port());
  proxies_[static_cast<int>(Hop::kClientOrder)]->SetUpstream("127.0.0.1", o->port());

  // Relays after the first order_service, which has migrated the database.
  std::vector<ServiceProcess*> relays;
  for (int i = 0; i < options_.extra_relays; ++i) {
    absl::StatusOr<std::unique_ptr<ServiceProcess>> r =
        ServiceProcess::Start(OrderSpec(absl::StrCat("relay", i + 1), "relay"), harness_.dir());
    if (!r.ok()) return r.status();
    processes_.push_back(*std::move(r));
    relays.push_back(processes_.back().get());
  }
  setup_time_ = absl::Now() - started_;
  {
    absl::MutexLock lock(&mu_);
    payment_.process = p;
    payment_.proxy = static_cast<int>(Hop::kOrderPayment);
    order_.process = o;
    order_.proxy = static_cast<int>(Hop::kClientOrder);
    for (ServiceProcess* r : relays) {
      Managed m;
      m.process = r;
      relays_.push_back(m);
    }
  }
  if (options_.second_deployment) {
    if (absl::Status s = StartSecondDeployment(); !s.ok()) return s;
  }
  supervisor_ = std::thread([this] { Supervise(); });

  RetryingClient::Options co;
  co.target = proxies_[0]->address();
  co.policy = options_.policy;
  co.threads = options_.client_threads;
  co.seed = options_.seed;
  co.cancel_call = CancelOnce;
  co.observer = &load_;
  client_ = std::make_unique<RetryingClient>(co);
  for (const std::string& fault : options_.required_faults) load_.Require(fault);
  return absl::OkStatus();
}

absl::Status Scenario::StartSecondDeployment() {
  absl::StatusOr<std::string> db = CreateDatabase(options_.name + "_orders_b");
  if (!db.ok()) return db.status();
  order_db_b_ = *db;
  FaultProxy::Options po;
  po.name = "client->order_b";
  po.seed = options_.seed * 31 + kHops;
  po.upstream_port = 1;  // nothing listens until SetUpstream
  auto proxy = FaultProxy::Start(po);
  if (!proxy.ok()) return proxy.status();
  proxies_.push_back(*std::move(proxy));
  absl::StatusOr<std::unique_ptr<ServiceProcess>> b =
      ServiceProcess::Start(OrderSpec("order_service_b", "all", order_db_b_), harness_.dir());
  if (!b.ok()) return b.status();
  processes_.push_back(*std::move(b));
  proxies_[kHops]->SetUpstream("127.0.0.1", processes_.back()->port());
  {
    absl::MutexLock lock(&mu_);
    order_b_.process = processes_.back().get();
    order_b_.proxy = kHops;
  }
  RetryingClient::Options co;
  co.target = proxies_[kHops]->address();
  co.policy = options_.policy;
  co.threads = options_.client_threads;
  co.seed = options_.seed + 1;
  co.cancel_call = CancelOnce;
  client_b_ = std::make_unique<RetryingClient>(co);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Scenario::DeploymentIdentity(const std::string& database) {
  auto conn = pg::Connection::Open(DirectConninfo(database));
  if (!conn.ok()) return conn.status();
  absl::StatusOr<pg::Result> r =
      (*conn)->Exec({"scenario_deployment_identity", "SELECT id FROM deployment_identity"});
  if (!r.ok()) return r.status();
  if (r->rows() != 1) return absl::InternalError("no deployment identity");
  return std::string(r->Text(0, 0));
}

absl::StatusOr<CheckReport> Scenario::CheckBothDeployments(const ClientRecords& a,
                                                           const ClientRecords& b) {
  std::vector<DeploymentState> deployments(2);
  const ClientRecords* records[2] = {&a, &b};
  const std::string databases[2] = {order_db_, order_db_b_};
  for (int i = 0; i < 2; ++i) {
    DeploymentState& d = deployments[i];
    d.name = i == 0 ? "A" : "B";
    absl::StatusOr<std::string> identity = DeploymentIdentity(databases[i]);
    if (!identity.ok()) return identity.status();
    d.identity = *identity;
    d.client = *records[i];
  }
  ReadOptions read[2] = {MakeReadOptions(), MakeReadOptions()};
  read[1].order_target = proxies_[kHops]->address();
  std::vector<std::string> customers[2];
  for (int i = 0; i < 2; ++i) {
    for (const PlannedOrder& p : records[i]->planned) customers[i].push_back(p.customer_id);
  }
  for (Snapshot DeploymentState::*read_no : {&DeploymentState::first, &DeploymentState::second}) {
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<Snapshot> snapshot = ReadSnapshot(read[i], customers[i]);
      if (!snapshot.ok()) return snapshot.status();
      deployments[i].*read_no = *std::move(snapshot);
    }
    absl::SleepFor(absl::Milliseconds(300));
  }
  return CheckSharedPaymentAccount(deployments);
}

orders::v1::ReconcileReport Scenario::ReconcileVia(const std::string& target,
                                                   absl::Status* status) {
  auto stub = orders::v1::OutboxAdmin::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  auto context = common::NewClientContext({.timeout = absl::Seconds(30)});
  orders::v1::ReconcileReport reconciled;
  grpc::Status s = stub->Reconcile(context.get(), orders::v1::ReconcileRequest(), &reconciled);
  *status = s.ok() ? absl::OkStatus()
                   : absl::UnavailableError(absl::StrCat("Reconcile: ", s.error_message()));
  return reconciled;
}

void Scenario::StripFailpoints(Managed& m) { RemoveFlags(&m.process->spec().args, {"failpoints"}); }

absl::Status Scenario::RestartLocked(Managed& m) {
  absl::Status s = m.process->Restart();
  if (!s.ok()) {
    std::cerr << "[" << options_.name << "] restart of " << m.process->spec().name << " failed: "
              << s.message().substr(s.message().size() - std::min<size_t>(s.message().size(), 300))
              << "\n";
    m.process->Kill();      // a half-started process would keep a stale port
    m.expect_death = true;  // not a crash: the supervisor tries again
    return s;
  }
  restarts_++;
  if (m.proxy >= 0) proxies_[m.proxy]->SetUpstream("127.0.0.1", m.process->port());
  return s;
}

void Scenario::Supervise() {
  while (!stop_.load()) {
    {
      absl::MutexLock lock(&mu_);
      std::vector<Managed*> all = {&payment_, &order_};
      if (order_b_.process != nullptr) all.push_back(&order_b_);
      for (Managed& r : relays_) all.push_back(&r);
      for (Managed* m : all) {
        if (m->process == nullptr || m->hold_down || m->paused) continue;
        if (m->process->Running()) continue;
        // Down from now until it is back: a fault window of its own.
        const int window = load_.Begin(
            absl::StrCat(m->expect_death ? "killed " : "crash ", m->process->spec().name));
        if (!m->expect_death) {
          crashes_++;
          bool armed = false;
          for (const std::string& a : m->process->spec().args) {
            armed |= absl::StartsWith(a, "--failpoints=");
          }
          if (armed) m->failpoint_crashes++;
        }
        m->expect_death = false;
        if (healing_ || m->failpoint_crashes >= options_.max_failpoint_crashes) {
          StripFailpoints(*m);
        }
        (void)RestartLocked(*m);
        load_.End(window);
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

void Scenario::Sleep(absl::Duration d, const std::function<bool()>& done) {
  const absl::Time until = absl::Now() + d;
  while (absl::Now() < until && !(done && done())) {
    absl::SleepFor(std::min(absl::Milliseconds(20), until - absl::Now()));
  }
}

bool Scenario::AwaitProgress(int64_t more, const std::function<bool()>& done,
                             absl::Duration at_least) {
  const absl::Time until = absl::Now() + at_least;
  if (!load_.AwaitAcknowledged(load_.acknowledged() + more, done)) return false;
  Sleep(until - absl::Now(), done);
  return !(done && done());
}

void Scenario::Run(const std::vector<PlannedOrder>& plan, const Chaos& chaos) {
  const absl::Time start = absl::Now();
  load_.BeginRun();
  std::atomic<bool> finished{false};
  std::thread chaos_thread;
  if (chaos) {
    chaos_thread = std::thread([&] {
      std::function<bool()> done = [&finished] { return finished.load(); };
      chaos(*this, done);
    });
  }
  // Deployment B runs the same plan, same keys, at the same time.
  std::thread second;
  if (client_b_) second = std::thread([&] { client_b_->Run(plan); });
  client_->Run(plan);
  if (second.joinable()) second.join();
  // The plan goes on until every required fault has fired with orders in flight: on a fast
  // machine the plan may be over before a fault held by the clock (a lease, a deadline) ends.
  // More of the same orders (new keys), a small batch at a time, paced.
  const absl::Time give_up = absl::Now() + options_.extension_limit;
  for (int round = 1; !plan.empty() && !load_.RequiredFired() && absl::Now() < give_up; ++round) {
    std::vector<PlannedOrder> more;
    for (int i = 0; i < options_.client_threads; ++i) {
      PlannedOrder p = plan[(static_cast<size_t>(round) * 7919 + i) % plan.size()];
      p.key = absl::StrCat(p.key, "-x", round, "-", i);
      p.customer_id = absl::StrCat("c-", p.key);
      more.push_back(std::move(p));
    }
    client_->Run(more);
    extension_orders_ += static_cast<int64_t>(more.size());
    absl::SleepFor(absl::Milliseconds(50));
  }
  load_.EndRun();
  finished = true;
  if (chaos_thread.joinable()) chaos_thread.join();
  run_time_ += absl::Now() - start;
}

std::string Scenario::OrderTargetLocked() { return order_.process->address(); }

std::string Scenario::order_address() {
  absl::MutexLock lock(&mu_);
  return OrderTargetLocked();
}

std::string Scenario::payment_address() {
  absl::MutexLock lock(&mu_);
  return payment_.process->address();
}

void Scenario::KillOrder() {
  absl::MutexLock lock(&mu_);
  order_.expect_death = true;
  order_.process->Kill();
  kills_++;
}

void Scenario::KillRelay(int index) {
  absl::MutexLock lock(&mu_);
  if (index >= static_cast<int>(relays_.size())) return;
  Managed& r = relays_[index];
  r.expect_death = true;
  r.paused = false;
  r.process->Kill();
  kills_++;
}

void Scenario::HoldPaymentDown() {
  absl::MutexLock lock(&mu_);
  payment_.hold_down = true;
  payment_.paused = false;
  payment_.process->Kill();
  kills_++;
}

absl::Status Scenario::ReleasePayment() {
  absl::MutexLock lock(&mu_);
  if (!payment_.hold_down) return absl::OkStatus();
  payment_.hold_down = false;
  if (payment_.process->Running()) return absl::OkStatus();
  payment_.expect_death = false;
  return RestartLocked(payment_);
}

void Scenario::KillPayment() {
  absl::MutexLock lock(&mu_);
  if (payment_.hold_down) return;
  payment_.expect_death = true;
  payment_.paused = false;
  payment_.process->Kill();
  kills_++;
}

void Scenario::PausePayment() {
  absl::MutexLock lock(&mu_);
  if (payment_.hold_down || !payment_.process->Running()) return;
  payment_.paused = true;
  payment_.process->Pause();
  pauses_++;
}

void Scenario::ResumePayment() {
  absl::MutexLock lock(&mu_);
  if (!payment_.paused) return;
  payment_.paused = false;
  payment_.process->Resume();
}

void Scenario::PauseRelay(int index) {
  absl::MutexLock lock(&mu_);
  if (index >= static_cast<int>(relays_.size())) return;
  Managed& r = relays_[index];
  if (!r.process->Running()) return;
  r.paused = true;
  r.process->Pause();
  pauses_++;
}

void Scenario::ResumeRelay(int index) {
  absl::MutexLock lock(&mu_);
  if (index >= static_cast<int>(relays_.size())) return;
  Managed& r = relays_[index];
  if (!r.paused) return;
  r.paused = false;
  r.process->Resume();
}

absl::Status Scenario::Checkpoint() {
  auto conn = pg::Connection::Open(DirectConninfo("postgres"));
  if (!conn.ok()) return conn.status();
  return (*conn)->ExecScript("CHECKPOINT");
}

absl::Status Scenario::RestartPostgres(absl::Duration down_for) {
  if (pg_ == nullptr || !pg_->owned()) {
    return absl::FailedPreconditionError("the test cluster is shared (or HA: use ha())");
  }
  pg_restarts_++;
  return pg_->RestartImmediate(down_for);
}

absl::Status Scenario::SetPaymentFaults(double fail_before, double fail_after, int latency_ms,
                                        int jitter_ms, uint64_t seed) {
  auto stub = payments::v1::PaymentFaultAdmin::NewStub(
      grpc::CreateChannel(payment_address(), grpc::InsecureChannelCredentials()));
  payments::v1::FaultConfig config;
  config.set_fail_before_charge(fail_before);
  config.set_fail_after_charge(fail_after);
  config.set_latency_ms(latency_ms);
  config.set_latency_jitter_ms(jitter_ms);
  config.set_seed(seed);
  config.set_flaky_failures(2);
  payments::v1::FaultConfig answer;
  auto context = common::NewClientContext({.timeout = absl::Seconds(2)});
  grpc::Status s = stub->SetFaults(context.get(), config, &answer);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("SetFaults: ", s.error_message()));
  return absl::OkStatus();
}

ReadOptions Scenario::MakeReadOptions() {
  // Through the (healed) proxies in front of each service: they follow a restart to its new port.
  ReadOptions read;
  read.order_target = proxies_[static_cast<int>(Hop::kClientOrder)]->address();
  read.payment_target = proxies_[static_cast<int>(Hop::kOrderPayment)]->address();
  read.call_timeout = absl::Seconds(10);
  read.total_timeout = absl::Seconds(120);
  return read;
}

// The relay figures of every order_service process (since its last start).
std::string Scenario::OutboxFigures() {
  std::vector<std::pair<std::string, std::string>> targets;
  {
    absl::MutexLock lock(&mu_);
    targets.emplace_back(order_.process->spec().name, order_.process->address());
    if (order_b_.process != nullptr) {
      targets.emplace_back(order_b_.process->spec().name, order_b_.process->address());
    }
    for (Managed& r : relays_) targets.emplace_back(r.process->spec().name, r.process->address());
  }
  std::string out;
  relay_asked_payments_ = 0;
  for (const auto& [name, address] : targets) {
    auto stub = orders::v1::OutboxAdmin::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    orders::v1::OutboxStats stats;
    auto context = common::NewClientContext({.timeout = absl::Seconds(5)});
    grpc::Status s =
        stub->GetOutboxStats(context.get(), orders::v1::GetOutboxStatsRequest(), &stats);
    if (!s.ok()) {
      absl::StrAppend(&out, "  relay ", name, ": GetOutboxStats failed: ", s.error_message(), "\n");
      continue;
    }
    absl::StrAppendFormat(
        &out,
        "  relay %s (since its last start): claimed=%d completed=%d rescheduled=%d buried=%d "
        "lease_lost=%d asked_payments=%d key_conflicts=%d commit_to_sent p50=%.1fms p99=%.1fms "
        "max=%.1fms; outbox pending=%d dead=%d\n",
        name, stats.relay_claimed(), stats.relay_completed(), stats.relay_rescheduled(),
        stats.relay_buried(), stats.relay_lease_lost(), stats.relay_asked_payments(),
        stats.relay_key_conflicts(), stats.commit_to_sent_p50_ms(), stats.commit_to_sent_p99_ms(),
        stats.commit_to_sent_max_ms(), stats.pending(), stats.dead());
    relay_asked_payments_ += stats.relay_asked_payments();
  }
  return out;
}

// The payment service's own injected faults (PaymentFaultAdmin.GetFaults; since its last start).
std::string Scenario::PaymentFaultFigures() {
  auto stub = payments::v1::PaymentFaultAdmin::NewStub(
      grpc::CreateChannel(payment_address(), grpc::InsecureChannelCredentials()));
  payments::v1::FaultState state;
  auto context = common::NewClientContext({.timeout = absl::Seconds(2)});
  grpc::Status s = stub->GetFaults(context.get(), payments::v1::GetFaultsRequest(), &state);
  if (!s.ok()) return absl::StrCat("  payment faults: GetFaults failed: ", s.error_message(), "\n");
  return absl::StrFormat(
      "  payment faults injected (since its last start): fail_before_charge=%d "
      "fail_after_charge=%d latency=%d\n",
      state.injected_fail_before_charge(), state.injected_fail_after_charge(),
      state.injected_latency());
}

absl::StatusOr<CheckReport> Scenario::Finish() {
  const absl::Time heal_start = absl::Now();
  const std::string payment_faults = PaymentFaultFigures();
  load_.EndAll();
  // Heal: no fault on any hop, nobody paused or held down, PostgreSQL up, failpoints disarmed
  // for every later restart, the payment service's own faults off.
  {
    absl::MutexLock lock(&mu_);
    healing_ = true;
    RemoveFlags(&payment_.process->spec().args,
                {"fail_before_charge", "fail_after_charge", "latency_ms", "latency_jitter_ms"});
    // Later restarts are disarmed. A process still armed may crash once more while the outbox
    // drains (its failpoint may not have fired yet); the supervisor restarts it and the reads
    // go through the proxies, which follow restarts.
    StripFailpoints(payment_);
    StripFailpoints(order_);
    if (order_b_.process != nullptr) StripFailpoints(order_b_);
    for (Managed& r : relays_) StripFailpoints(r);
  }
  for (auto& proxy : proxies_) {
    if (absl::Status s = proxy->ClearAll(); !s.ok()) return s;
  }
  if (pg_ != nullptr && pg_->owned() && !pg_->running()) {
    if (absl::Status s = pg_->Start(); !s.ok()) return s;
  }
  ResumePayment();
  for (int i = 0; i < options_.extra_relays; ++i) ResumeRelay(i);
  if (absl::Status s = ReleasePayment(); !s.ok()) return s;
  // Wait for the supervisor to have everything running.
  const absl::Time until = absl::Now() + absl::Seconds(60);
  while (true) {
    bool all = true;
    {
      absl::MutexLock lock(&mu_);
      all = payment_.process->Running() && order_.process->Running() &&
            (order_b_.process == nullptr || order_b_.process->Running());
      for (Managed& r : relays_) all = all && r.process->Running();
    }
    if (all) break;
    if (absl::Now() > until) return absl::DeadlineExceededError("services did not come back");
    absl::SleepFor(absl::Milliseconds(50));
  }
  absl::Status faults_off;
  for (int i = 0; i < 50; ++i) {
    faults_off = SetPaymentFaults(0, 0, 0, 0, 0);
    if (faults_off.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (!faults_off.ok()) return faults_off;

  // A user who keeps retrying once the network heals.
  const absl::Time retry_start = absl::Now();
  std::thread retry_b;
  if (client_b_) {
    retry_b = std::thread([&] { client_b_->RetryUnknown(options_.retry_unknown_budget); });
  }
  client_->RetryUnknown(options_.retry_unknown_budget);
  if (retry_b.joinable()) retry_b.join();
  const absl::Duration retry_time = absl::Now() - retry_start;

  const ClientRecords records = client_->records();
  std::vector<std::string> customers;
  for (const PlannedOrder& p : records.planned) customers.push_back(p.customer_id);
  const absl::Time drain_start = absl::Now();
  drain_status_ = WaitForDrain(MakeReadOptions(), customers, options_.drain_timeout);
  ClientRecords records_b;
  if (client_b_ && drain_status_.ok()) {
    records_b = client_b_->records();
    std::vector<std::string> customers_b;
    for (const PlannedOrder& p : records_b.planned) customers_b.push_back(p.customer_id);
    ReadOptions read_b = MakeReadOptions();
    read_b.order_target = proxies_[kHops]->address();
    drain_status_ = WaitForDrain(read_b, customers_b, options_.drain_timeout);
  }
  const absl::Duration drain_time = absl::Now() - drain_start;
  const std::string figures = OutboxFigures();
  absl::StatusOr<CheckReport> report = client_b_ ? CheckBothDeployments(records, records_b)
                                                 : CheckFinalState(MakeReadOptions(), records);
  // The product's own reconciler must agree with the checker: nothing to report.
  reconcile_ =
      ReconcileVia(proxies_[static_cast<int>(Hop::kClientOrder)]->address(), &reconcile_status_);
  if (client_b_) {
    absl::Status b_status;
    reconcile_b_ = ReconcileVia(proxies_[kHops]->address(), &b_status);
    if (reconcile_status_.ok()) reconcile_status_ = b_status;
  }

  std::string out = absl::StrFormat(
      "=== scenario %s (seed %d): setup %.1fs, run %.1fs, heal+retry %.1fs (retry %.1fs), "
      "drain %.1fs, total %.1fs; crashes %d, kills %d, SIGSTOPs %d, PostgreSQL restarts %d, "
      "service restarts %d; orders beyond the plan (until its faults fired) %d\n",
      options_.name, options_.seed, absl::ToDoubleSeconds(setup_time_),
      absl::ToDoubleSeconds(run_time_), absl::ToDoubleSeconds(drain_start - heal_start),
      absl::ToDoubleSeconds(retry_time), absl::ToDoubleSeconds(drain_time),
      absl::ToDoubleSeconds(absl::Now() - started_), crashes_.load(), kills_.load(), pauses_.load(),
      pg_restarts_.load(), restarts_.load(), extension_orders_);
  for (int i = 0; i < kHops; ++i) {
    absl::StrAppend(&out, "  proxy ", HopName(Hop(i)), ": ", proxies_[i]->counters().DebugString(),
                    "\n");
  }
  out += load_.Summary();
  absl::StrAppendFormat(
      &out,
      "  reconcile: %s orders=%d charges=%d in_flight=%d order_not_paid_charge_succeeded=%d "
      "cancelled_order_holds_money=%d charge_without_order=%d amount_or_currency_mismatch=%d "
      "paid_order_without_charge=%d\n",
      reconcile_status_.ok() ? "OK" : reconcile_status_.ToString(), reconcile_.orders_checked(),
      reconcile_.charges_checked(), reconcile_.in_flight(),
      reconcile_.order_not_paid_charge_succeeded(), reconcile_.cancelled_order_holds_money(),
      reconcile_.charge_without_order(), reconcile_.amount_or_currency_mismatch(),
      reconcile_.paid_order_without_charge());
  if (client_b_) {
    absl::StrAppendFormat(
        &out,
        "  reconcile B: orders=%d charges=%d foreign_charges=%d mismatches=%d; "
        "cross_deployment_replays=%d\n",
        reconcile_b_.orders_checked(), reconcile_b_.charges_checked(),
        reconcile_b_.foreign_charges(),
        reconcile_b_.order_not_paid_charge_succeeded() +
            reconcile_b_.cancelled_order_holds_money() + reconcile_b_.charge_without_order() +
            reconcile_b_.amount_or_currency_mismatch() + reconcile_b_.paid_order_without_charge(),
        report.ok() ? report->cross_deployment_replays : -1);
  }
  out += payment_faults;
  out += figures;
  absl::StrAppend(&out, "  drain: ", drain_status_.ok() ? "OK" : drain_status_.ToString(), "\n");
  if (report.ok()) {
    out += report->Table();
  } else {
    absl::StrAppend(&out, "  checker could not read the final state: ", report.status().ToString(),
                    "\n");
  }
  std::cout << out << std::flush;
  if (!report.ok() || !report->ok() || !drain_status_.ok()) {
    absl::MutexLock lock(&mu_);
    std::cout << "--- order_service log tail ---\n"
              << order_.process->LogTail(3000) << "--- payment_service log tail ---\n"
              << payment_.process->LogTail(3000) << std::flush;
  }
  return report;
}

}  // namespace network_test

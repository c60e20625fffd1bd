// The outbox store and relay against real PostgreSQL, with a scripted payment gateway: leases,
// fencing, per-order ordering, exclusive claims, DEAD after N attempts, and no transaction open
// while the payment call is in flight.
#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "gtest/gtest.h"
#include "order_service/order_logic.h"
#include "order_service/outbox_relay.h"
#include "order_service/pg_order_repository.h"
#include "order_service/pg_outbox_store.h"
#include "order_service/schema.h"
#include "tests/support/order_builders.h"
#include "tests/support/order_db.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace orders {
namespace {

class ScriptedGateway : public PaymentGateway {
 public:
  ~ScriptedGateway() override {
    for (std::thread& t : calls) t.join();
  }
  // Asynchronous like the real gateway: StartCharge returns at once and answers on a thread of
  // its own (so the relay's heartbeat runs while the call is in flight).
  bool async = false;
  void StartCharge(const payments::v1::ChargeRequest& request, const std::string& key,
                   ChargeDone done) override {
    if (!async) return done(Charge(request, key));
    calls.emplace_back(
        [this, request, key, done = std::move(done)] { done(Charge(request, key)); });
  }
  void StartRefund(const payments::v1::RefundRequest& request, const std::string& key,
                   RefundDone done) override {
    done(Refund(request, key));
  }
  std::vector<std::thread> calls;
  // GetChargeByKey; unset: UNIMPLEMENTED (a gateway that cannot be asked).
  std::function<absl::StatusOr<payments::v1::Charge>(const std::string&)> lookup;
  absl::StatusOr<payments::v1::Charge> GetChargeByKey(const std::string& charge_key) override {
    {
      absl::MutexLock lock(&mu);
      looked_up.push_back(charge_key);
    }
    if (!lookup) return PaymentGateway::GetChargeByKey(charge_key);
    return lookup(charge_key);
  }
  std::vector<std::string> looked_up ABSL_GUARDED_BY(mu);
  std::function<absl::StatusOr<payments::v1::Charge>(const payments::v1::ChargeRequest&)> answer;
  absl::StatusOr<payments::v1::Charge> Charge(const payments::v1::ChargeRequest& request,
                                              const std::string& key) {
    {
      absl::MutexLock lock(&mu);
      keys.push_back(key);
    }
    return answer(request);
  }
  absl::StatusOr<payments::v1::Refund> Refund(const payments::v1::RefundRequest& request,
                                              const std::string& key) {
    {
      absl::MutexLock lock(&mu);
      keys.push_back(key);
    }
    payments::v1::Refund refund;
    refund.set_charge_key(request.charge_key());
    refund.set_status(payments::v1::REFUND_STATUS_SUCCEEDED);
    return refund;
  }
  absl::Mutex mu;
  std::vector<std::string> keys ABSL_GUARDED_BY(mu);
};

payments::v1::Charge Succeeded(const payments::v1::ChargeRequest& request) {
  payments::v1::Charge charge;
  charge.set_id(1000 + request.order_id());
  charge.set_order_id(request.order_id());
  charge.set_amount_cents(request.amount_cents());
  charge.set_status(payments::v1::CHARGE_STATUS_SUCCEEDED);
  return charge;
}

// A charge answer that signals `in_call` and succeeds once `release` is notified.
std::function<absl::StatusOr<payments::v1::Charge>(const payments::v1::ChargeRequest&)>
AnswerWhenReleased(absl::Notification& in_call, absl::Notification& release) {
  return [&in_call, &release](const payments::v1::ChargeRequest& r) {
    in_call.Notify();
    release.WaitForNotification();
    return absl::StatusOr<payments::v1::Charge>(Succeeded(r));
  };
}

class OutboxTest : public testing_support::OrdersDbTest {
 protected:
  void SetUp() override {
    // Sessions of the code under test carry an application_name the assertions can select on.
    ASSERT_NO_FATAL_FAILURE(SetUpOrdersDb("outbox", 16, " application_name=outbox_under_test"));
    repo_ = std::make_unique<PgOrderRepository>(*pool_);
    store_ = std::make_unique<PgOutboxStore>(*pool_);
    gateway_.answer = [](const auto& r) { return Succeeded(r); };
  }

  static orders::v1::CreateOrderRequest Request(const std::string& method = "pm_card_visa") {
    return testing_support::OneItemOrder("c", 999, "USD", method);
  }

  int64_t CreateOrder(const std::string& key, const std::string& method = "pm_card_visa") {
    auto r = repo_->CreateOrder({"t", "m", key, "fp"}, Request(method), 999,
                                absl::Now() + absl::Seconds(5));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->response.order().id() : 0;
  }

  // The gateway answers UNAVAILABLE until `payments_up`; a relay with two workers and a short
  // backoff.
  RelayOptions DownThenUp(std::atomic<bool>& payments_up) {
    gateway_.answer =
        [&payments_up](
            const payments::v1::ChargeRequest& r) -> absl::StatusOr<payments::v1::Charge> {
      if (!payments_up) return absl::UnavailableError("connection refused");
      return Succeeded(r);
    };
    RelayOptions options;
    options.workers = 2;
    options.backoff = {absl::Milliseconds(5), absl::Milliseconds(20), 2.0};
    return options;
  }

  orders::v1::OrderStatus StatusOf(int64_t id) {
    return repo_->GetOrder("t", id, absl::InfiniteFuture())->status();
  }

  std::unique_ptr<PgOrderRepository> repo_;
  std::unique_ptr<PgOutboxStore> store_;
  ScriptedGateway gateway_;
};

TEST_F(OutboxTest, ExpiredLeaseIsTakenOverAndTheOldOwnerIsFencedOut) {
  const int64_t order = CreateOrder("k1");
  auto first = store_->Claim("relay-a", 10, absl::Milliseconds(300));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].attempts, 1);
  EXPECT_EQ((*first)[0].payment_key,
            ChargeKeyForOrder(Scalar("SELECT id FROM deployment_identity"), order));
  EXPECT_TRUE(store_->Claim("relay-b", 10, absl::Seconds(30))->empty()) << "still leased";

  absl::SleepFor(absl::Milliseconds(400));
  auto second = store_->Claim("relay-b", 10, absl::Seconds(30));
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].attempts, 2);

  EventOutcome paid{orders::v1::ORDER_STATUS_PAID, 77, ""};
  EXPECT_FALSE(*store_->Complete((*first)[0], "relay-a", paid));
  EXPECT_FALSE(*store_->Reschedule((*first)[0], "relay-a", absl::Seconds(1), "late"));
  EXPECT_FALSE(*store_->Bury((*first)[0], "relay-a", "late"));
  EXPECT_EQ(StatusOf(order), orders::v1::ORDER_STATUS_CREATED);
  EXPECT_TRUE(*store_->Complete((*second)[0], "relay-b", paid));
  EXPECT_EQ(StatusOf(order), orders::v1::ORDER_STATUS_PAID);
  EXPECT_EQ(Scalar("SELECT status || '/' || attempts FROM outbox_events"), "DONE/2");
}

// A relay that cannot reach its database while its call is in flight (frozen, partitioned):
// its heartbeat fails, so the store says no to every lease extension.
class NoHeartbeatStore : public PgOutboxStore {
 public:
  using PgOutboxStore::PgOutboxStore;
  absl::StatusOr<int64_t> ExtendLeases(const std::vector<int64_t>&, const std::string&,
                                       absl::Duration) override {
    return absl::UnavailableError("partitioned");
  }
};

// A relay whose lease runs out mid-call (its heartbeat cannot reach the database): another
// relay takes the event over and finishes it; the first relay's late answer is fenced out
// (counted as lease_lost).
TEST_F(OutboxTest, LeaseExpiringMidCallIsFenced) {
  const int64_t order = CreateOrder("k1");
  RelayOptions slow_options;
  slow_options.lease = absl::Milliseconds(200);
  ScriptedGateway slow;
  absl::Notification in_call, release;
  slow.answer = AnswerWhenReleased(in_call, release);
  NoHeartbeatStore partitioned(*pool_);
  OutboxRelay slow_relay(partitioned, slow, slow_options);
  auto claimed = store_->Claim("slow/0", 1, slow_options.lease);
  ASSERT_EQ(claimed->size(), 1u);
  std::thread call([&] { slow_relay.Dispatch((*claimed)[0], "slow/0"); });
  in_call.WaitForNotification();
  absl::SleepFor(absl::Milliseconds(300));  // the lease expires mid-call

  OutboxRelay fast_relay(*store_, gateway_, RelayOptions{});
  auto taken = store_->Claim("fast/0", 1, absl::Seconds(30));
  ASSERT_EQ(taken->size(), 1u);
  fast_relay.Dispatch((*taken)[0], "fast/0");
  EXPECT_EQ(fast_relay.Stats().completed, 1);
  release.Notify();
  call.join();
  EXPECT_EQ(slow_relay.Stats().lease_lost, 1);
  EXPECT_EQ(slow_relay.Stats().completed, 0);
  EXPECT_EQ(StatusOf(order), orders::v1::ORDER_STATUS_PAID);
}

// The lease follows liveness: a call slower than the lease keeps its event (the relay extends
// the lease while the call is in flight), so no other relay repeats it and the success is
// recorded once.
TEST_F(OutboxTest, LeaseIsExtendedWhileACallOutlivesIt) {
  const int64_t order = CreateOrder("k1");
  RelayOptions options;
  options.lease = absl::Milliseconds(150);
  ScriptedGateway slow;
  absl::Notification in_call, release;
  slow.answer = AnswerWhenReleased(in_call, release);
  slow.async = true;
  OutboxRelay relay(*store_, slow, options);
  auto claimed = store_->Claim("slow/0", 1, options.lease);
  ASSERT_EQ(claimed->size(), 1u);
  std::thread call([&] { relay.Dispatch((*claimed)[0], "slow/0"); });
  in_call.WaitForNotification();
  // Several leases long: the heartbeat has extended it at least 4 times.
  ASSERT_TRUE(testing_support::Eventually([&] { return relay.Stats().lease_extensions >= 4; },
                                          absl::Seconds(10), "four lease extensions"));
  EXPECT_TRUE(store_->Claim("other/0", 1, absl::Seconds(30))->empty())
      << "taken over while its call was in flight";
  release.Notify();
  call.join();
  EXPECT_EQ(relay.Stats().completed, 1);
  EXPECT_EQ(relay.Stats().lease_lost, 0);
  EXPECT_EQ(StatusOf(order), orders::v1::ORDER_STATUS_PAID);
  EXPECT_EQ(Scalar("SELECT status || '/' || attempts FROM outbox_events"), "DONE/1");
  absl::MutexLock lock(&slow.mu);
  EXPECT_EQ(slow.keys.size(), 1u) << "one call to payments";
}

// Claims that end without an answer (a relay crashing mid-call, over and over) are a poison
// event's budget: past max_attempts the event is DEAD.
TEST_F(OutboxTest, ClaimsWithoutAnAnswerUseUpTheBudget) {
  CreateOrder("k1");
  RelayOptions options;
  options.max_attempts = 3;
  for (int i = 0; i < 3; ++i) {
    // A zero lease: as if the claimer died at once and the lease ran out.
    ASSERT_EQ(store_->Claim(absl::StrCat("crashing/", i), 1, absl::ZeroDuration())->size(), 1u);
  }
  auto fourth = store_->Claim("r/0", 1, absl::Seconds(30));
  ASSERT_EQ(fourth->size(), 1u);
  EXPECT_EQ((*fourth)[0].attempts, 4);
  OutboxRelay relay(*store_, gateway_, options);
  relay.Dispatch((*fourth)[0], "r/0");
  EXPECT_EQ(relay.Stats().buried, 1);
  EXPECT_EQ(Scalar("SELECT status FROM outbox_events"), "DEAD");
  absl::MutexLock lock(&gateway_.mu);
  EXPECT_TRUE(gateway_.keys.empty());
}

// Two deployments (staging and production, or a database restored beside its original) charge
// through one payment account: their order 1 must not share a payment key, or the second
// would be "paid" with the first's charge and its cancel would refund the first's money.
TEST_F(OutboxTest, PaymentKeysDifferAcrossDeploymentsAndTheRefundNamesTheStoredChargeKey) {
  ASSERT_OK_AND_ASSIGN(const std::string other_db,
                       testing_support::CreateTestDatabase("outbox_other"));
  pg::Pool other_pool(other_db, 2);
  ASSERT_THAT(testing_support::MigrateOrders(other_pool), testing_support::IsOk());
  PgOrderRepository other_repo(other_pool);
  const int64_t here = CreateOrder("same-key");
  auto there = other_repo.CreateOrder({"t", "m", "same-key", "fp"}, Request(), 999,
                                      absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(there.ok()) << there.status();
  ASSERT_EQ(there->response.order().id(), here) << "both databases number their orders alike";

  const std::string identity = Scalar("SELECT id FROM deployment_identity");
  const std::string other_identity =
      *testing_support::QueryScalar(other_db, "SELECT id FROM deployment_identity");
  EXPECT_EQ(identity.size(), 32u);
  EXPECT_NE(identity, other_identity);
  const std::string key = Scalar("SELECT payment_key FROM outbox_events WHERE kind = 'CHARGE'");
  EXPECT_EQ(key, ChargeKeyForOrder(identity, here));
  EXPECT_NE(key, *testing_support::QueryScalar(
                     other_db, "SELECT payment_key FROM outbox_events WHERE kind = 'CHARGE'"));

  // The refund names the key its charge was made under (stored with the CHARGE event), so a
  // later change of identity never points a refund at another charge.
  ASSERT_TRUE(
      repo_->CancelOrder({"t", "cancel", "c1", "fp"}, here, "r", absl::Now() + absl::Seconds(5))
          .ok());
  EXPECT_EQ(Scalar("SELECT payload::json->>'charge_key' FROM outbox_events WHERE kind = 'REFUND'"),
            key);
  EXPECT_EQ(Scalar("SELECT payment_key FROM outbox_events WHERE kind = 'REFUND'"),
            RefundKeyForOrder(identity, here));
}

// Payments holds the derived key for another request (two deployments with one identity): the
// event is DEAD as an alarm (marked, counted), not silently.
TEST_F(OutboxTest, APaymentKeyConflictIsAVisibleCountedAlarm) {
  const int64_t order = CreateOrder("k1");
  gateway_.answer = [](const auto&) -> absl::StatusOr<payments::v1::Charge> {
    return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition, "IDEMPOTENCY_KEY_REUSED",
                                   "key reused with another request");
  };
  OutboxRelay relay(*store_, gateway_, RelayOptions{});
  auto claimed = store_->Claim("r/0", 1, absl::Seconds(30));
  ASSERT_EQ(claimed->size(), 1u);
  relay.Dispatch((*claimed)[0], "r/0");
  EXPECT_EQ(relay.Stats().key_conflicts, 1);
  EXPECT_EQ(relay.Stats().buried, 1);
  EXPECT_EQ(Scalar("SELECT status FROM outbox_events"), "DEAD");
  EXPECT_EQ(Scalar("SELECT left(last_error, 20) FROM outbox_events"), "PAYMENT_KEY_CONFLICT");
  EXPECT_EQ(StatusOf(order), orders::v1::ORDER_STATUS_CREATED);
}

// The relay's writes commit without waiting for the WAL flush, but only in their own
// transactions: the pooled connection (behind a pooler, the next client's) keeps the server's
// setting.
TEST_F(OutboxTest, RelayCommitSettingNeverLeaksIntoTheSession) {
  pg::Pool one(db_, 1);
  PgOutboxStore relay_store(one, /*durable_commits=*/false);
  CreateOrder("k1");
  CreateOrder("k2");
  auto claimed = relay_store.Claim("r/0", 10, absl::Seconds(30));
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 2u);
  ASSERT_TRUE(relay_store.ExtendLeases({(*claimed)[0].id}, "r/0", absl::Seconds(30)).ok());
  EXPECT_TRUE(*relay_store.Complete((*claimed)[0], "r/0", {}));
  EXPECT_TRUE(*relay_store.Reschedule((*claimed)[1], "r/0", absl::ZeroDuration(), "x"));
  auto conn = one.Acquire(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(conn.ok());
  auto setting = (*conn)->Exec(pg::Query{"t_show", "SHOW synchronous_commit"}, {});
  ASSERT_TRUE(setting.ok()) << setting.status();
  EXPECT_EQ(setting->Text(0, 0), "on");
}

// Giving up on an event never buries an outcome payments knows: the relay asks first.
TEST_F(OutboxTest, GivingUpAsksPaymentsWhatHappened) {
  RelayOptions options;
  options.max_attempts = 1;
  auto poison = [&](const std::string& key) {
    CreateOrder(key);
    // A claim that ended without an answer (the relay died), then the one that gives up.
    EXPECT_EQ(store_->Claim("crashing/0", 1, absl::ZeroDuration())->size(), 1u);
    auto claimed = store_->Claim("r/0", 1, absl::Seconds(30));
    EXPECT_EQ(claimed->size(), 1u);
    return (*claimed)[0];
  };
  // 1. Payments charged it (the answer was lost every time): recorded PAID, not DEAD.
  gateway_.lookup = [](const std::string&) -> absl::StatusOr<payments::v1::Charge> {
    payments::v1::ChargeRequest r;
    r.set_order_id(1);
    return Succeeded(r);
  };
  OutboxRelay relay(*store_, gateway_, options);
  const OutboxEvent charged = poison("charged");
  relay.Dispatch(charged, "r/0");
  EXPECT_EQ(StatusOf(charged.aggregate_id), orders::v1::ORDER_STATUS_PAID);
  EXPECT_EQ(Scalar("SELECT status FROM outbox_events WHERE kind = 'CHARGE' ORDER BY id LIMIT 1"),
            "DONE");
  // 2. Payments cannot be asked now: the unknown outcome stays PENDING, rescheduled.
  gateway_.lookup = [](const std::string&) -> absl::StatusOr<payments::v1::Charge> {
    return absl::UnavailableError("connection refused");
  };
  const OutboxEvent unknown = poison("unknown");
  relay.Dispatch(unknown, "r/0");
  EXPECT_EQ(Scalar("SELECT status FROM outbox_events WHERE kind = 'CHARGE' ORDER BY id DESC "
                   "LIMIT 1"),
            "PENDING");
  EXPECT_EQ(StatusOf(unknown.aggregate_id), orders::v1::ORDER_STATUS_CREATED);
  EXPECT_EQ(relay.Stats().asked_payments, 2);
  absl::MutexLock lock(&gateway_.mu);
  EXPECT_TRUE(gateway_.keys.empty()) << "nothing was sent again";
  EXPECT_EQ(gateway_.looked_up.size(), 2u);
  EXPECT_EQ(gateway_.looked_up[0], charged.payment_key);
}

// A REFUND given up on (a poison event: its claims keep ending without an answer) while
// payments still holds the charge: DEAD, as an alarm that names the money held (never DONE).
TEST_F(OutboxTest, AGivenUpRefundWhileTheMoneyIsHeldIsAnAlarm) {
  const int64_t order = CreateOrder("k1");
  ASSERT_TRUE(
      repo_->CancelOrder({"t", "cancel", "c1", "fp"}, order, "r", absl::Now() + absl::Seconds(5))
          .ok());
  gateway_.lookup = [](const std::string&) -> absl::StatusOr<payments::v1::Charge> {
    payments::v1::ChargeRequest r;
    r.set_order_id(1);
    return Succeeded(r);
  };
  RelayOptions options;
  options.max_attempts = 1;
  options.retry_window = absl::ZeroDuration();  // no effect on a REFUND: it never expires
  OutboxRelay relay(*store_, gateway_, options);
  ASSERT_EQ(store_->Claim("crashing/0", 10, absl::ZeroDuration())->size(), 1u);
  auto claimed = store_->Claim("r/0", 10, absl::Seconds(30));
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_EQ((*claimed)[0].kind, "REFUND");
  relay.Dispatch((*claimed)[0], "r/0");
  EXPECT_EQ(Scalar("SELECT status FROM outbox_events WHERE kind = 'REFUND'"), "DEAD");
  EXPECT_NE(Scalar("SELECT last_error FROM outbox_events WHERE kind = 'REFUND'").find("money held"),
            std::string::npos);
  absl::MutexLock lock(&gateway_.mu);
  ASSERT_EQ(gateway_.looked_up.size(), 1u);
  EXPECT_EQ(gateway_.looked_up[0],
            Scalar("SELECT payment_key FROM outbox_events WHERE kind = 'CHARGE'"));
}

TEST_F(OutboxTest, OnlyTheOldestPendingEventOfAnOrderIsClaimable) {
  const int64_t a = CreateOrder("a");
  const int64_t b = CreateOrder("b");
  // A second event for order a (as a cancel would enqueue), behind its CHARGE.
  auto conn = pool_->Acquire(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE((*conn)
                  ->Exec(pg::Query{"t_refund",
                                   "INSERT INTO outbox_events (aggregate_id, kind, "
                                   "payment_key, payload) VALUES ($1::bigint, 'REFUND', "
                                   "'refund:order:' || $1::bigint, '{}')"},
                         {a})
                  .ok());
  auto claimed = store_->Claim("r", 10, absl::Seconds(30));
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].kind, "CHARGE");
  EXPECT_EQ((*claimed)[1].kind, "CHARGE");
  EXPECT_EQ((*claimed)[0].aggregate_id, a);
  EXPECT_EQ((*claimed)[1].aggregate_id, b);
  // While a's CHARGE is leased (PENDING), its REFUND waits.
  EXPECT_TRUE(store_->Claim("r", 10, absl::Seconds(30))->empty());
  // a's CHARGE goes DEAD: the REFUND no longer waits for it (a refund behind a dead charge
  // would hold the customer's money forever); other orders go on.
  EXPECT_TRUE(*store_->Bury((*claimed)[0], "r", "boom"));
  EXPECT_TRUE(*store_->Complete((*claimed)[1], "r", {}));
  const int64_t c = CreateOrder("c");
  auto next = store_->Claim("r", 10, absl::Seconds(30));
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0].aggregate_id, a);
  EXPECT_EQ((*next)[0].kind, "REFUND");
  EXPECT_EQ((*next)[1].aggregate_id, c);
  // Re-queued, a's CHARGE runs again with a fresh attempt budget.
  EXPECT_EQ(*store_->Requeue({}), 1);
  auto again = store_->Claim("r", 10, absl::Seconds(30));
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].kind, "CHARGE");
  EXPECT_EQ((*again)[0].attempts, 1);
  EXPECT_EQ((*again)[0].transient_failures, 0);
}

TEST_F(OutboxTest, ConcurrentClaimersNeverShareAnEvent) {
  for (int i = 0; i < 300; ++i) CreateOrder("k" + std::to_string(i));
  absl::Mutex mu;
  std::multiset<int64_t> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        auto events = store_->Claim("owner" + std::to_string(t), 7, absl::Seconds(60));
        ASSERT_TRUE(events.ok()) << events.status();
        if (events->empty()) return;
        absl::MutexLock lock(&mu);
        for (const auto& e : *events) seen.insert(e.id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), 300u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 300u)
      << "an event was claimed twice";
}

// Payments down for far more attempts than the budget: transient answers are not a poison
// event's attempts, so nothing is buried, and the order is paid once payments is back.
TEST_F(OutboxTest, TransientFailuresNeverUseUpTheAttemptBudget) {
  const int64_t order = CreateOrder("k");
  std::atomic<bool> payments_up{false};
  RelayOptions options = DownThenUp(payments_up);
  options.max_attempts = 3;
  OutboxRelay relay(*store_, gateway_, options);
  relay.Start();
  ASSERT_TRUE(testing_support::Eventually(
      [&] { return std::stoi(Scalar("SELECT attempts FROM outbox_events")) >= 12; },
      absl::Seconds(20), "four times the budget in transient failures"));
  EXPECT_EQ(Scalar("SELECT status FROM outbox_events"), "PENDING");
  EXPECT_EQ(relay.Stats().buried, 0);
  EXPECT_GE(std::stoi(Scalar("SELECT transient_failures FROM outbox_events")), 11);
  payments_up = true;
  EXPECT_TRUE(
      testing_support::Eventually([&] { return StatusOf(order) == orders::v1::ORDER_STATUS_PAID; },
                                  absl::Seconds(10), "the order to be paid once payments is back"));
  relay.Stop();
  EXPECT_EQ(Scalar("SELECT status FROM outbox_events"), "DONE");
}

// Past the retry window (kept below payments' key retention) the relay stops sending and asks
// payments what it holds; holding nothing, the event is DEAD. A DEAD event does not stop other
// orders, and a requeue starts a fresh window and runs it again.
TEST_F(OutboxTest, TransientFailuresPastTheRetryWindowGoDeadThenRequeue) {
  const int64_t order = CreateOrder("k");
  std::atomic<bool> payments_up{false};
  RelayOptions options = DownThenUp(payments_up);
  options.retry_window = absl::Milliseconds(300);
  gateway_.lookup = [](const std::string&) -> absl::StatusOr<payments::v1::Charge> {
    return absl::NotFoundError("no charge under the key");
  };
  OutboxRelay relay(*store_, gateway_, options);
  relay.Start();
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return Scalar("SELECT status FROM outbox_events") == "DEAD"; }, absl::Seconds(10),
      "the event to go DEAD"));
  EXPECT_NE(Scalar("SELECT last_error FROM outbox_events").find("no money was taken"),
            std::string::npos)
      << Scalar("SELECT last_error FROM outbox_events");
  EXPECT_EQ(relay.Stats().buried, 1);
  EXPECT_EQ(relay.Stats().asked_payments, 1);
  payments_up = true;
  const int64_t other = CreateOrder("other");
  relay.Notify();
  EXPECT_TRUE(
      testing_support::Eventually([&] { return StatusOf(other) == orders::v1::ORDER_STATUS_PAID; },
                                  absl::Seconds(5), "another order to be paid"));
  EXPECT_EQ(StatusOf(order), orders::v1::ORDER_STATUS_CREATED);
  EXPECT_EQ(*store_->Requeue({}), 1);
  relay.Notify();
  EXPECT_TRUE(
      testing_support::Eventually([&] { return StatusOf(order) == orders::v1::ORDER_STATUS_PAID; },
                                  absl::Seconds(5), "the re-queued order to be paid"));
  relay.Stop();
}

TEST_F(OutboxTest, DeclineIsFinalAndDeterministicErrorsGoDeadAtOnce) {
  const int64_t declined = CreateOrder("d", "pm_card_declined");
  const int64_t broken = CreateOrder("x", "pm_broken");
  gateway_.answer = [](const auto& r) -> absl::StatusOr<payments::v1::Charge> {
    if (r.payment_method() == "pm_broken") return absl::InvalidArgumentError("bad request");
    payments::v1::Charge charge = Succeeded(r);
    charge.set_status(payments::v1::CHARGE_STATUS_DECLINED);
    charge.set_decline_reason("card_declined");
    return charge;
  };
  OutboxRelay relay(*store_, gateway_, RelayOptions{});
  relay.Start();
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return Scalar("SELECT count(*) FROM outbox_events WHERE status <> 'PENDING'") == "2"; },
      absl::Seconds(5), "both events to finish"));
  relay.Stop();
  auto order = repo_->GetOrder("t", declined, absl::InfiniteFuture());
  EXPECT_EQ(order->status(), orders::v1::ORDER_STATUS_PAYMENT_FAILED);
  EXPECT_EQ(order->decline_reason(), "card_declined");
  EXPECT_EQ(StatusOf(broken), orders::v1::ORDER_STATUS_CREATED);
  EXPECT_EQ(Scalar("SELECT attempts FROM outbox_events WHERE status = 'DEAD'"), "1");
}

// The guarantee behind "never call another service inside a transaction": while the payment call
// is in flight, no session of the order database is inside a transaction.
TEST_F(OutboxTest, NoTransactionIsOpenWhilePaymentsIsCalled) {
  for (int i = 0; i < 20; ++i) CreateOrder("k" + std::to_string(i));
  std::atomic<int> calls{0}, open_tx_seen{0};
  gateway_.answer = [&](const auto& r) -> absl::StatusOr<payments::v1::Charge> {
    ++calls;
    auto open = testing_support::QueryScalar(
        db_,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'outbox_under_test' AND xact_start IS NOT NULL");
    if (!open.ok() || *open != "0") ++open_tx_seen;
    return Succeeded(r);
  };
  OutboxRelay relay(*store_, gateway_, RelayOptions{.workers = 1});
  relay.Start();
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return Scalar("SELECT count(*) FROM orders WHERE status = 2") == "20"; },
      absl::Seconds(10), "20 paid orders"));
  relay.Stop();
  EXPECT_EQ(calls.load(), 20);
  EXPECT_EQ(open_tx_seen.load(), 0);
}

// What payments' admission control answers when it sheds: RESOURCE_EXHAUSTED with a RetryInfo
// delay.
absl::Status PaymentsPushback(absl::Duration delay) {
  return common::WithRetryDelay(
      common::ErrorWithReason(absl::StatusCode::kResourceExhausted, "OVERLOADED", "full"), delay);
}

// Payments shedding (RESOURCE_EXHAUSTED with a RetryInfo delay) pauses the relay: no worker sends
// again before the delay, however short its own backoff; then the event is charged.
TEST_F(OutboxTest, RelayWaitsOutPaymentsPushbackBeforeSendingAgain) {
  absl::Mutex mu;
  std::vector<absl::Time> sent;
  gateway_.answer =
      [&](const payments::v1::ChargeRequest& r) -> absl::StatusOr<payments::v1::Charge> {
    absl::MutexLock lock(&mu);
    sent.push_back(absl::Now());
    if (sent.size() == 1) {
      return PaymentsPushback(absl::Milliseconds(400));
    }
    return Succeeded(r);
  };
  RelayOptions options;
  options.workers = 2;
  options.backoff = {absl::Milliseconds(1), absl::Milliseconds(5), 2.0};
  const int64_t order = CreateOrder("k1");
  OutboxRelay relay(*store_, gateway_, options);
  relay.Start();
  EXPECT_TRUE(
      testing_support::Eventually([&] { return StatusOf(order) == orders::v1::ORDER_STATUS_PAID; },
                                  absl::Seconds(10), "the order paid after the pushback"));
  relay.Stop();
  absl::MutexLock lock(&mu);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_GE(sent[1] - sent[0], absl::Milliseconds(400));
  EXPECT_EQ(relay.Stats().pushbacks, 1);
}

// While payments pushes back, every batch the relay claims is half the one before (it does not
// come back at full size into the overload); once payments answers, it grows again by one event a
// batch, and every order is charged.
TEST_F(OutboxTest, RelayHalvesItsBatchOnPushbackAndGrowsItBack) {
  std::atomic<bool> shedding{true};
  std::atomic<int> refused{0};
  gateway_.answer =
      [&](const payments::v1::ChargeRequest& r) -> absl::StatusOr<payments::v1::Charge> {
    if (shedding) {
      ++refused;
      return PaymentsPushback(absl::Milliseconds(5));
    }
    return Succeeded(r);
  };
  RelayOptions options;
  options.workers = 1;
  options.batch = 8;
  options.backoff = {absl::Milliseconds(1), absl::Milliseconds(2), 2.0};
  for (int i = 0; i < 40; ++i) CreateOrder("aimd" + std::to_string(i));
  OutboxRelay relay(*store_, gateway_, options);
  EXPECT_EQ(relay.Stats().claim_limit, 8);
  relay.Start();
  ASSERT_TRUE(testing_support::Eventually([&] { return relay.Stats().pushbacks >= 4; },
                                          absl::Seconds(10), "four pushbacks"));
  // Every batch so far met a pushback: 8 -> 4 -> 2 -> 1, and no lower (one snapshot: both
  // figures change together, under the relay's lock).
  const RelayStats during = relay.Stats();
  shedding = false;
  EXPECT_EQ(during.claim_limit, std::max<int64_t>(1, 8 >> std::min<int64_t>(4, during.pushbacks)));
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return Scalar("SELECT count(*) FROM orders WHERE status = 2") == "40"; },
      absl::Seconds(20), "40 paid orders"));
  relay.Stop();
  // The batches after the storm grew it back (each answered batch adds one).
  EXPECT_GT(relay.Stats().claim_limit, 1);
  EXPECT_GE(refused.load(), 4);
}

// While this process's API sheds callers, the relay yields: each claim halves the batch (down to
// one event) and is followed by a pause. It never stops: every order is charged while the API
// still sheds. Once the storm is over the batch grows back.
TEST_F(OutboxTest, RelayYieldsToShedCallersButNeverStops) {
  gateway_.answer = Succeeded;
  std::atomic<bool> shed{true};
  RelayOptions options;
  options.workers = 1;
  options.batch = 8;
  options.yield_pause = absl::Milliseconds(5);
  options.callers_shed = [&shed] { return shed.load(); };
  for (int i = 0; i < 30; ++i) CreateOrder("yield" + std::to_string(i));
  OutboxRelay relay(*store_, gateway_, options);
  relay.Start();
  // All 30 paid while the API still sheds: 4, then at most 2 a claim (halved, and +1 for each
  // batch answered), so more than 10 yields (claims that found events).
  ASSERT_TRUE(testing_support::Eventually(
      [&] { return Scalar("SELECT count(*) FROM orders WHERE status = 2") == "30"; },
      absl::Seconds(20), "30 paid orders while callers are shed"));
  const RelayStats during = relay.Stats();
  EXPECT_GT(during.yields, 10);
  EXPECT_LE(during.claim_limit, 2);
  shed = false;
  for (int i = 0; i < 60; ++i) CreateOrder("after" + std::to_string(i));
  relay.Notify();
  ASSERT_TRUE(testing_support::Eventually(
      [&] { return Scalar("SELECT count(*) FROM orders WHERE status = 2") == "90"; },
      absl::Seconds(20), "90 paid orders"));
  relay.Stop();
  EXPECT_GT(relay.Stats().claim_limit, 2) << "grew back once callers were no longer shed";
  // (One claim may have read the flag just before it changed.)
  EXPECT_LE(relay.Stats().yields, during.yields + 1) << "no yield once callers are not shed";
}

// An order's commit wakes an idle relay (Notify, which the API calls after each commit): it does
// not wait for its next poll. Both poll waits are an hour here, so only the wake-up can charge
// the order within the test.
TEST_F(OutboxTest, ANotifyWakesAnIdleRelayAtOnce) {
  gateway_.answer = Succeeded;
  RelayOptions options;
  options.workers = 1;
  options.busy_poll = absl::Hours(1);
  options.idle_poll = absl::Hours(1);
  OutboxRelay relay(*store_, gateway_, options);
  relay.Start();
  ASSERT_TRUE(testing_support::Eventually([&] { return relay.Stats().empty_claims >= 1; },
                                          absl::Seconds(10), "the relay found nothing and waits"));
  const int64_t id = CreateOrder("woken");
  relay.Notify();
  ASSERT_TRUE(
      testing_support::Eventually([&] { return StatusOf(id) == orders::v1::ORDER_STATUS_PAID; },
                                  absl::Seconds(20), "the order paid after Notify"));
  relay.Stop();
  EXPECT_EQ(relay.Stats().claimed, 1);
}

// While this process's API is busy, the relay charges at most busy_pace (1.25 here) events per
// event the API writes (Notify): it keeps pace with new orders and drains a backlog with the rest,
// instead of taking the CPU the callers need right after a storm. Not busy: not paced.
TEST_F(OutboxTest, RelayKeepsPaceWithABusyApiAndIsNotPacedOtherwise) {
  gateway_.answer = Succeeded;
  std::atomic<bool> busy{true};
  RelayOptions options;
  options.workers = 1;
  options.batch = 64;  // more than the test's tokens: only the pace limits a claim
  options.busy_pace = 1.25;
  // The wait for the API's next write; after it, one event (so the relay never stops). A minute:
  // longer than the test, so every claim below comes from the pace.
  options.busy_poll = absl::Minutes(1);
  options.callers_busy = [&busy] { return busy.load(); };
  for (int i = 0; i < 40; ++i) CreateOrder("pace" + std::to_string(i));
  OutboxRelay relay(*store_, gateway_, options);
  relay.Start();
  ASSERT_TRUE(testing_support::Eventually([&] { return relay.Stats().paced >= 1; },
                                          absl::Seconds(10), "a paced claim"));
  EXPECT_EQ(relay.Stats().claimed, 0) << "a busy API that wrote nothing gives no pace";
  auto paid = [&] { return Scalar("SELECT count(*) FROM orders WHERE status = 2"); };
  for (int i = 0; i < 8; ++i) relay.Notify();  // 8 events written: 10 may be charged
  ASSERT_TRUE(testing_support::Eventually([&] { return paid() == "10"; }, absl::Seconds(10),
                                          "10 paid orders"));
  EXPECT_EQ(relay.Stats().claimed, 10) << "claimed before paid: an unpaced relay claims all 40";
  for (int i = 0; i < 4; ++i) relay.Notify();  // 4 more: 5 more
  ASSERT_TRUE(testing_support::Eventually([&] { return paid() == "15"; }, absl::Seconds(10),
                                          "15 paid orders"));
  EXPECT_EQ(relay.Stats().claimed, 15);
  busy = false;
  relay.Notify();
  ASSERT_TRUE(testing_support::Eventually([&] { return paid() == "40"; }, absl::Seconds(10),
                                          "all 40 paid once the API is not busy"));
  relay.Stop();
}

}  // namespace
}  // namespace orders

#include "order_service/reaper.h"

namespace orders {
namespace {

TEST_F(OutboxTest, ReaperDeletesOnlyWhatRetentionAllowsInBatches) {
  for (int i = 0; i < 25; ++i) CreateOrder("r" + std::to_string(i));
  auto events = store_->Claim("r", 100, absl::Seconds(30));
  ASSERT_EQ(events->size(), 25u);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(*store_->Complete((*events)[i], "r", {}));
  // Age everything by two hours, then keep one hour: 20 DONE events and every key record go;
  // the 5 unfinished events stay whatever their age.
  auto conn = pool_->Acquire(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(
      (*conn)
          ->ExecScript("UPDATE outbox_events SET done_at = done_at - interval '2 hours', "
                       "created_at = created_at - interval '2 hours'; "
                       "UPDATE idempotency_keys SET created_at = created_at - interval '2 hours'")
          .ok());
  Reaper reaper(*pool_,
                RetentionOptions{
                    .done_events = absl::Hours(1), .idempotency_keys = absl::Hours(1), .batch = 7});
  auto deleted = reaper.RunOnce();
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 20 + 25);
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox_events"), "5");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox_events WHERE status = 'PENDING'"), "5");
  EXPECT_EQ(Scalar("SELECT count(*) FROM idempotency_keys"), "0");
  EXPECT_EQ(*reaper.RunOnce(), 0);
}

}  // namespace
}  // namespace orders

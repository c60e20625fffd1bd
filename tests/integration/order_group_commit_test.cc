// Group commit of CreateOrder against a real PostgreSQL: many requests per statement and commit,
// each with its own answer, and one request's failure never fails the others of its batch.
#include <atomic>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "common/pg/timeouts.h"
#include "gtest/gtest.h"
#include "order_service/pg_order_repository.h"
#include "order_service/schema.h"
#include "tests/support/order_db.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace orders {
namespace {

constexpr char kMethod[] = "orders.v1.OrderService/CreateOrder";

orders::v1::CreateOrderRequest Request(const std::string& customer, int items) {
  orders::v1::CreateOrderRequest request;
  request.set_customer_id(customer);
  request.set_currency("USD");
  request.set_payment_method("pm_card_visa");
  for (int i = 0; i < items; ++i) {
    auto* item = request.add_items();
    item->set_sku("sku-" + std::to_string(i) + "-\"q\"");
    item->set_quantity(i + 1);
    item->set_unit_price_cents(100);
  }
  return request;
}

class GroupCommitTest : public testing_support::OrdersDbTest {
 protected:
  void SetUp() override { SetUpOrdersDb("group_commit", 8); }
};

TEST_F(GroupCommitTest, ConcurrentCreatesShareCommitsAndEachGetsItsOwnOrder) {
  PgOrderRepository repo(*pool_, {.lanes = 1, .max_batch = 32});
  constexpr int kKeys = 96;
  constexpr int kDuplicates = 24;  // keys sent twice at once
  std::vector<absl::StatusOr<CreateResult>> results(kKeys + kDuplicates,
                                                    absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kKeys + kDuplicates; ++i) {
    threads.emplace_back([&, i] {
      const int key = i % kKeys;
      results[i] = repo.CreateOrder({"t1", kMethod, "k" + std::to_string(key), "fp"},
                                    Request("c" + std::to_string(key), 1 + key % 3),
                                    100 * (1 + key), absl::Now() + absl::Seconds(20));
    });
  }
  for (auto& t : threads) t.join();

  int fresh = 0;
  for (int i = 0; i < kKeys + kDuplicates; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    const auto& order = results[i]->response.order();
    const int key = i % kKeys;
    EXPECT_EQ(order.customer_id(), "c" + std::to_string(key));
    EXPECT_EQ(order.amount_cents(), 100 * (1 + key));
    // Both calls under one key saw the same order.
    EXPECT_EQ(order.id(), results[key]->response.order().id()) << i;
    fresh += results[i]->replayed ? 0 : 1;
  }
  EXPECT_EQ(fresh, kKeys);
  const CreateBatcher::Stats stats = repo.batch_stats();
  EXPECT_LT(stats.batches, stats.requests) << "no two requests shared a commit";
  EXPECT_GT(stats.largest, 1);

  // Everything each answer describes was written, once: order, items, CHARGE event, event.
  EXPECT_EQ(Scalar("SELECT count(*) FROM orders"), std::to_string(kKeys));
  EXPECT_EQ(Scalar("SELECT count(*) FROM idempotency_keys WHERE order_id IS NOT NULL"),
            std::to_string(kKeys));
  EXPECT_EQ(Scalar("SELECT count(*) FROM order_items"), "192");  // (1+2+3) * 32
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox_events o JOIN orders r ON r.id = o.aggregate_id "
                   "AND o.kind = 'CHARGE' AND o.payment_key = payment_key('charge', r.id) "
                   "AND (o.payload::json->>'amount_cents')::bigint = r.amount_cents"),
            std::to_string(kKeys));
  EXPECT_EQ(Scalar("SELECT count(*) FROM order_events WHERE kind = 'ORDER_CREATED'"),
            std::to_string(kKeys));
  EXPECT_EQ(Scalar("SELECT count(*) FROM orders o JOIN idempotency_keys k ON k.order_id = o.id "
                   "WHERE k.key = 'k' || (o.amount_cents / 100 - 1) "
                   "AND o.customer_id = 'c' || (o.amount_cents / 100 - 1)"),
            std::to_string(kKeys));
  EXPECT_EQ(Scalar("SELECT string_agg(sku || 'x' || quantity, ',' ORDER BY line) FROM order_items "
                   "WHERE order_id = (SELECT order_id FROM idempotency_keys WHERE key = 'k5')"),
            "sku-0-\"q\"x1,sku-1-\"q\"x2,sku-2-\"q\"x3");

  // Replays batched together read their stored answers in the same statement; a key reused
  // for another request is refused. Nothing new is written.
  const int64_t batches_before = repo.batch_stats().batches;
  std::vector<absl::StatusOr<CreateResult>> again(kKeys, absl::UnknownError("not run"));
  threads.clear();
  for (int key = 0; key < kKeys; ++key) {
    threads.emplace_back([&, key] {
      const bool reuse = key % 12 == 0;
      again[key] =
          repo.CreateOrder({"t1", kMethod, "k" + std::to_string(key), reuse ? "fp2" : "fp"},
                           Request("c" + std::to_string(key), 1 + key % 3), 100 * (1 + key),
                           absl::Now() + absl::Seconds(20));
    });
  }
  for (auto& t : threads) t.join();
  for (int key = 0; key < kKeys; ++key) {
    if (key % 12 == 0) {
      EXPECT_EQ(common::ErrorReason(again[key].status()), "IDEMPOTENCY_KEY_REUSED") << key;
      continue;
    }
    ASSERT_TRUE(again[key].ok()) << key << ": " << again[key].status();
    EXPECT_TRUE(again[key]->replayed);
    EXPECT_EQ(again[key]->response.SerializeAsString(), results[key]->response.SerializeAsString());
  }
  EXPECT_LT(repo.batch_stats().batches - batches_before, kKeys);
  EXPECT_EQ(Scalar("SELECT count(*) FROM orders"), std::to_string(kKeys));
}

// lanes = 1: request A waits on a key held by an open transaction, so B-E queue and are then
// written as one batch. B's key is held too and its deadline is short: the batch statement hits
// B's lock timeout, and each request is written alone instead; only B fails.
TEST_F(GroupCommitTest, OneRequestWaitingOnAHeldKeyDoesNotFailItsBatch) {
  PgOrderRepository repo(*pool_, {.lanes = 1, .max_batch = 32});
  auto holder = pg::Connection::Open(db_);
  ASSERT_TRUE(holder.ok());
  ASSERT_TRUE((*holder)->ExecScript("BEGIN").ok());
  ASSERT_TRUE(
      (*holder)
          ->ExecScript("INSERT INTO idempotency_keys (tenant, method, key, fingerprint) VALUES "
                       "('t1', 'orders.v1.OrderService/CreateOrder', 'held-a', '\\x00'), "
                       "('t1', 'orders.v1.OrderService/CreateOrder', 'held-b', '\\x00')")
          .ok());

  auto create = [&](const std::string& key, absl::Duration patience) {
    return repo.CreateOrder({"t1", kMethod, key, "fp"}, Request("c", 1), 500,
                            absl::Now() + patience);
  };
  absl::StatusOr<CreateResult> a = absl::UnknownError("not run");
  std::thread first([&] { a = create("held-a", absl::Seconds(1)); });
  absl::SleepFor(absl::Milliseconds(200));  // A holds the only lane, waiting on its key
  std::vector<absl::StatusOr<CreateResult>> rest(4, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  const std::vector<std::string> keys = {"held-b", "free-c", "free-d", "free-e"};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      rest[i] = create(keys[i], i == 0 ? absl::Milliseconds(1300) : absl::Seconds(20));
    });
  }
  first.join();
  for (auto& t : threads) t.join();
  ASSERT_TRUE((*holder)->ExecScript("ROLLBACK").ok());

  EXPECT_EQ(common::ErrorReason(a.status()), "IDEMPOTENCY_KEY_IN_USE") << a.status();
  EXPECT_EQ(common::ErrorReason(rest[0].status()), "IDEMPOTENCY_KEY_IN_USE") << rest[0].status();
  for (int i = 1; i < 4; ++i) {
    ASSERT_TRUE(rest[i].ok()) << keys[i] << ": " << rest[i].status();
    EXPECT_FALSE(rest[i]->replayed);
  }
  EXPECT_GE(repo.batch_stats().largest, 4) << "B-E were not written as one batch";
  EXPECT_EQ(Scalar("SELECT string_agg(key, ',' ORDER BY key) FROM idempotency_keys"),
            "free-c,free-d,free-e");
  EXPECT_EQ(Scalar("SELECT count(*) FROM orders"), "3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox_events"), "3");
}

// The caller's deadline bounds each statement, per transaction: on the pooled connection that
// wrote the order (and cancelled it), statement_timeout and lock_timeout are back at the
// server's defaults afterwards, so a pooler never hands our timeout to another client.
TEST_F(GroupCommitTest, DeadlineTimeoutsNeverOutliveTheirTransaction) {
  pg::Pool one(db_, 1);
  PgOrderRepository repo(one, {.lanes = 1, .max_batch = 32});
  auto created = repo.CreateOrder({"t1", kMethod, "k1", "fp"}, Request("c", 1), 100,
                                  absl::Now() + absl::Milliseconds(900));
  ASSERT_TRUE(created.ok()) << created.status();
  auto cancelled =
      repo.CancelOrder({"t1", "orders.v1.OrderService/CancelOrder", "c1", "fp"},
                       created->response.order().id(), "r", absl::Now() + absl::Milliseconds(900));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  auto conn = one.Acquire(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(conn.ok());
  for (const char* setting : {"statement_timeout", "lock_timeout"}) {
    auto value = (*conn)->Exec(pg::Query{"t_current_setting", "SELECT current_setting($1)"},
                               {std::string(setting)});
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(value->Text(0, 0), "0") << setting;
  }
  // Inside a transaction the helper does set both, from the deadline, the lock's margin larger.
  pg::Transaction tx(**conn);
  ASSERT_TRUE(tx.Begin().ok());
  ASSERT_TRUE(pg::SetLocalTimeouts(**conn, absl::Now() + absl::Seconds(2)).ok());
  auto both = (*conn)->Exec(pg::Query{"t_both",
                                      "SELECT current_setting('statement_timeout'), "
                                      "current_setting('lock_timeout')"},
                            {});
  ASSERT_TRUE(both.ok()) << both.status();
  auto millis = [](absl::string_view text) {  // PostgreSQL shows "1980ms", or "2s" when whole
    int64_t n = 0;
    if (absl::ConsumeSuffix(&text, "ms")) return absl::SimpleAtoi(text, &n) ? n : -1;
    if (absl::ConsumeSuffix(&text, "s")) return absl::SimpleAtoi(text, &n) ? n * 1000 : -1;
    return int64_t{-1};
  };
  const std::string statement_text(both->Text(0, 0)), lock_text(both->Text(0, 1));
  const int64_t statement = millis(statement_text);
  const int64_t lock = millis(lock_text);
  EXPECT_GT(statement, 1500);
  EXPECT_LE(statement, 2000);
  // The lock wait ends pg::LockTimeoutMargin (a quarter of the time left here) before the
  // statement's end, i.e. the deadline.
  EXPECT_NEAR(statement - lock,
              absl::ToInt64Milliseconds(pg::LockTimeoutMargin(absl::Milliseconds(statement))), 2);
}

}  // namespace
}  // namespace orders

namespace orders {
namespace {

// A batch looks up the stored answers of keys taken before it with one probe of the unique index
// each, never a scan of all of idempotency_keys: with the statistics of a burst (a table never
// analyzed) the lookup written as a plain join was planned as a hash of the whole table, for every
// batch (1,100 sequential scans reading 9.1 million rows to create 20,000 orders).
TEST_F(GroupCommitTest, ABatchNeverScansTheWholeIdempotencyKeyTable) {
  PgOrderRepository repo(*pool_, {.lanes = 2, .max_batch = 16});
  auto counter = [&](const char* column) {
    return std::stoll(
        Scalar(absl::StrCat("SELECT coalesce(", column,
                            ", 0) FROM pg_stat_user_tables WHERE relname = 'idempotency_keys'")));
  };
  const int64_t read_before = counter("seq_tup_read");
  const int64_t inserted_before = counter("n_tup_ins");
  constexpr int kOrders = 400;
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kOrders; i += 8) {
        // Every tenth key is sent again: its batch replays the stored answer.
        for (int send = 0; send < (i % 10 == 0 ? 2 : 1); ++send) {
          auto result = repo.CreateOrder({"t1", kMethod, "scan-" + std::to_string(i), "fp"},
                                         Request("c", 1), 100, absl::Now() + absl::Seconds(20));
          if (result.ok() && !result->replayed) ++created;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(created.load(), kOrders);
  // The pool's backends report their counters when idle (within seconds): wait until the inserts
  // show, then their scans have been reported too.
  ASSERT_TRUE(
      testing_support::Eventually([&] { return counter("n_tup_ins") - inserted_before >= kOrders; },
                                  absl::Seconds(30), "the inserts to reach pg_stat_user_tables"));
  // A scan or two while the table is a page or two is the planner's cheapest plan; a scan per
  // batch reads the table again and again (tens of thousands of rows here).
  EXPECT_LT(counter("seq_tup_read") - read_before, kOrders);
}

}  // namespace
}  // namespace orders

// One suite, two repositories: the PostgreSQL one and the in-memory fake obey the same rules.
#include <atomic>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/currency.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "order_service/analytics_projector.h"
#include "order_service/memory_order_repository.h"
#include "order_service/pg_order_repository.h"
#include "order_service/schema.h"
#include "tests/support/deprecated_fields.h"
#include "tests/support/money.h"
#include "tests/support/order_builders.h"
#include "tests/support/order_db.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"

namespace orders {
namespace {

using testing_support::AmountCents;
using testing_support::CancelledCents;
using testing_support::MoneyTexts;

orders::v1::CreateOrderRequest Request(int quantity = 2) {
  // The SKU's quotes and backslash survive the array parameter.
  return testing_support::OrderOf("cust", "EUR", {{"sku-\"quoted\"\\back", quantity, 250}});
}

IdempotencyScope Scope(const std::string& key, const std::string& fingerprint,
                       const std::string& tenant = "t1") {
  return {tenant, "orders.v1.OrderService/CreateOrder", key, fingerprint};
}

struct Backend {
  std::string name;
  std::function<std::unique_ptr<OrderRepository>(std::unique_ptr<pg::Pool>&)> make;
};

class OrderRepositoryTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { repo_ = GetParam().make(pool_); }
  absl::Time Deadline() { return absl::Now() + absl::Seconds(5); }

  // Chunk `index` of `import_id`: `orders` orders of the customer "importer".
  static orders::v1::PutImportChunkRequest Chunk(const std::string& import_id, int index,
                                                 int orders = 2) {
    orders::v1::PutImportChunkRequest chunk;
    chunk.set_import_id(import_id);
    chunk.set_chunk_index(index);
    for (int i = 0; i < orders; ++i) {
      orders::v1::CreateOrderRequest order = Request(1 + i);
      order.set_customer_id("importer");
      *chunk.add_orders() = order;
    }
    return chunk;
  }
  absl::StatusOr<ImportChunkResult> Put(const orders::v1::PutImportChunkRequest& chunk) {
    google::protobuf::RepeatedPtrField<orders::v1::MoneyTotal> totals;
    for (const auto& order : chunk.orders()) {
      int64_t amount = 0;
      for (const auto& item : order.items()) amount += item.quantity() * item.unit_price_cents();
      common::AddToTotals(&totals, order.currency(), amount);
    }
    return repo_->PutImportChunk(
        "t1", chunk, common::RequestFingerprint("orders.v1.OrderService/PutImportChunk", chunk),
        totals, Deadline());
  }
  // Every order of tenant t1.
  std::vector<orders::v1::Order> AllOrders() {
    std::vector<orders::v1::Order> all;
    ListQuery query;
    query.page_size = 100;
    for (;;) {
      auto page = repo_->ListOrders("t1", query, absl::InfiniteFuture());
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return all;
      all.insert(all.end(), page->orders.begin(), page->orders.end());
      if (page->next_before_id == 0) return all;
      query.before_id = page->next_before_id;
    }
  }

  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<OrderRepository> repo_;
};

std::string ErrorMetadata(const absl::Status& status, const std::string& key) {
  auto payload = status.GetPayload(common::kErrorInfoUrl);
  google::rpc::ErrorInfo info;
  if (!payload || !info.ParseFromString(std::string(*payload))) return "";
  auto it = info.metadata().find(key);
  return it == info.metadata().end() ? "" : it->second;
}

TEST_P(OrderRepositoryTest, CreateThenReplayThenReuse) {
  auto first = repo_->CreateOrder(Scope("k", "fp1"), Request(), 500, Deadline());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed);
  auto again = repo_->CreateOrder(Scope("k", "fp1"), Request(), 500, Deadline());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->response.SerializeAsString(), first->response.SerializeAsString());
  auto reused = repo_->CreateOrder(Scope("k", "fp2"), Request(3), 750, Deadline());
  EXPECT_EQ(common::ErrorReason(reused.status()), "IDEMPOTENCY_KEY_REUSED");

  auto order = repo_->GetOrder("t1", first->response.order().id(), absl::InfiniteFuture());
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->amount_cents(), 500);
  ASSERT_EQ(order->items_size(), 1);
  EXPECT_EQ(order->items(0).sku(), "sku-\"quoted\"\\back");
  EXPECT_EQ(order->status(), orders::v1::ORDER_STATUS_CREATED);
  EXPECT_EQ(
      common::ErrorReason(repo_->GetOrder("t2", order->id(), absl::InfiniteFuture()).status()),
      "ORDER_NOT_FOUND");
}

TEST_P(OrderRepositoryTest, SixteenConcurrentCallsWithOneKeyMakeOneOrder) {
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<CreateResult>> results(16, absl::UnknownError("not run"));
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      results[i] = repo_->CreateOrder(Scope("same", "fp"), Request(), 500, Deadline());
    });
  }
  for (auto& t : threads) t.join();
  int fresh = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->response.order().id(), results[0]->response.order().id());
    fresh += r->replayed ? 0 : 1;
  }
  EXPECT_EQ(fresh, 1);
  ListQuery all;
  auto page = repo_->ListOrders("t1", all, absl::InfiniteFuture());
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->orders.size(), 1u);
}

TEST_P(OrderRepositoryTest, ListFiltersAndPages) {
  for (int i = 0; i < 7; ++i) {
    auto request = Request();
    request.set_customer_id(i < 3 ? "a" : "b");
    ASSERT_TRUE(
        repo_->CreateOrder(Scope("k" + std::to_string(i), "fp"), request, 500, Deadline()).ok());
  }
  ListQuery query;
  query.customer_id = "b";
  query.page_size = 3;
  auto page1 = repo_->ListOrders("t1", query, absl::InfiniteFuture());
  ASSERT_TRUE(page1.ok()) << page1.status();
  ASSERT_EQ(page1->orders.size(), 3u);
  EXPECT_GT(page1->orders[0].id(), page1->orders[1].id());
  query.before_id = page1->next_before_id;
  auto page2 = repo_->ListOrders("t1", query, absl::InfiniteFuture());
  ASSERT_TRUE(page2.ok());
  EXPECT_EQ(page2->orders.size(), 1u);
  EXPECT_EQ(page2->next_before_id, 0);
  query = ListQuery{};
  query.status = orders::v1::ORDER_STATUS_PAID;
  EXPECT_TRUE(repo_->ListOrders("t1", query, absl::InfiniteFuture())->orders.empty());
  EXPECT_TRUE(repo_->ListOrders("other", ListQuery{}, absl::InfiniteFuture())->orders.empty());
}

// A commit accounts for every chunk it holds: chunk 3 of 0..3 is never silently left out, and
// after the commit only the chunks it created answer OK.
TEST_P(OrderRepositoryTest, CommitAccountsForEveryChunkAndLaterChunksAreRefused) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Put(Chunk("imp", i)).ok());
  auto short_commit = repo_->CommitImport("t1", "imp", 3, Deadline());
  EXPECT_EQ(short_commit.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(common::ErrorReason(short_commit.status()), "IMPORT_EXTRA_CHUNKS");
  EXPECT_EQ(ErrorMetadata(short_commit.status(), "extra_chunks"), "3");
  EXPECT_TRUE(AllOrders().empty());
  auto gap = repo_->CommitImport("t1", "imp", 5, Deadline());
  EXPECT_EQ(common::ErrorReason(gap.status()), "IMPORT_INCOMPLETE");
  EXPECT_EQ(ErrorMetadata(gap.status(), "missing_chunks"), "4");

  auto committed = repo_->CommitImport("t1", "imp", 4, Deadline());
  ASSERT_TRUE(committed.ok()) << committed.status();
  const orders::v1::ImportSummary& summary = committed->summary;
  EXPECT_EQ(summary.order_count(), 8);
  EXPECT_EQ(summary.last_order_id() - summary.first_order_id() + 1, 8);
  auto again = repo_->CommitImport("t1", "imp", 4, Deadline());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->summary.SerializeAsString(), summary.SerializeAsString());

  auto late = Put(Chunk("imp", 4));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(common::ErrorReason(late.status()), "IMPORT_ALREADY_COMMITTED");
  auto replay = Put(Chunk("imp", 2));  // its orders exist: the stored answer is still true
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(common::ErrorReason(Put(Chunk("imp", 2, 3)).status()), "IMPORT_CHUNK_REUSED");
  EXPECT_EQ(AllOrders().size(), 8u);
}

// A put racing a commit of the same import: either the chunk is stored first and the commit
// refuses to leave it out, or the commit is first and the put is refused; never both OK.
TEST_P(OrderRepositoryTest, PutRacingACommitIsEitherCountedOrRefused) {
  int puts_first = 0, commits_first = 0;
  for (int round = 0; round < 20; ++round) {
    const std::string id = absl::StrCat("race-", round);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(Put(Chunk(id, i, 1)).ok());
    absl::StatusOr<ImportChunkResult> put = absl::UnknownError("not run");
    absl::StatusOr<ImportCommitResult> commit = absl::UnknownError("not run");
    std::thread putter([&] { put = Put(Chunk(id, 3, 1)); });
    std::thread committer([&] { commit = repo_->CommitImport("t1", id, 3, Deadline()); });
    putter.join();
    committer.join();
    if (put.ok()) {
      ++puts_first;
      EXPECT_EQ(common::ErrorReason(commit.status()), "IMPORT_EXTRA_CHUNKS") << round;
    } else {
      ++commits_first;
      EXPECT_EQ(common::ErrorReason(put.status()), "IMPORT_ALREADY_COMMITTED") << round;
      EXPECT_TRUE(commit.ok()) << commit.status();
    }
  }
  std::printf("put first %d, commit first %d\n", puts_first, commits_first);
}

// The summary's id range is the import's orders and nothing else, even while other orders are
// created during the commit.
TEST_P(OrderRepositoryTest, ImportIdsAreOneBlockWhileOtherOrdersAreCreated) {
  constexpr int kChunks = 40, kPerChunk = 100;  // a commit long enough for 64+ others
  for (int i = 0; i < kChunks; ++i) ASSERT_TRUE(Put(Chunk("bulk", i, kPerChunk)).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> created{0};
  std::vector<std::thread> creators;
  for (int t = 0; t < 4; ++t) {
    creators.emplace_back([&, t] {
      for (int n = 0; !stop.load(); ++n) {
        auto r = repo_->CreateOrder(Scope(absl::StrCat("busy-", t, "-", n), "fp"), Request(), 500,
                                    Deadline());
        if (r.ok()) ++created;
      }
    });
  }
  while (created.load() < 20) absl::SleepFor(absl::Milliseconds(5));
  const int before = created.load();
  auto committed = repo_->CommitImport("t1", "bulk", kChunks, absl::Now() + absl::Seconds(60));
  const int during = created.load() - before;
  stop = true;
  for (auto& t : creators) t.join();
  ASSERT_TRUE(committed.ok()) << committed.status();
  const orders::v1::ImportSummary& summary = committed->summary;
  std::printf("%d orders created by others during the commit; import ids %lld..%lld\n", during,
              static_cast<long long>(summary.first_order_id()),
              static_cast<long long>(summary.last_order_id()));
  EXPECT_EQ(summary.order_count(), kChunks * kPerChunk);
  EXPECT_EQ(summary.last_order_id() - summary.first_order_id() + 1, summary.order_count());
  int inside = 0, others_inside = 0;
  for (const auto& order : AllOrders()) {
    if (order.id() < summary.first_order_id() || order.id() > summary.last_order_id()) {
      EXPECT_NE(order.customer_id(), "importer");
      continue;
    }
    ++inside;
    if (order.customer_id() != "importer") ++others_inside;
  }
  EXPECT_EQ(inside, kChunks * kPerChunk);
  EXPECT_EQ(others_inside, 0);
  // The in-memory store holds its lock for the whole commit; PostgreSQL must have let other
  // orders through (more than two of CreateOrder's 32-id blocks), or the test proved nothing.
  if (GetParam().name == "Postgres") EXPECT_GT(during, 64);
}

orders::v1::CreateOrderRequest Priced(const std::string& customer, const std::string& currency,
                                      int64_t minor_units) {
  orders::v1::CreateOrderRequest request = Request(1);
  request.set_customer_id(customer);
  request.set_currency(currency);
  request.mutable_items(0)->set_unit_price_cents(minor_units);
  return request;
}

// Issue 12, case 6: a customer with JPY 500 and USD 1250 had "1750"; an import of USD 1000 and
// JPY 1000 reported 2000. Both stores keep money per currency and answer the same.
TEST_P(OrderRepositoryTest, AnalyticsAndImportMoneyIsPerCurrency) {
  std::vector<int64_t> ids;
  int n = 0;
  for (const auto& request :
       {Priced("mixed", "USD", 1250), Priced("mixed", "JPY", 500), Priced("single", "JPY", 700)}) {
    auto created = repo_->CreateOrder(Scope("k" + std::to_string(n++), "fp"), request,
                                      request.items(0).unit_price_cents(), Deadline());
    ASSERT_TRUE(created.ok()) << created.status();
    ids.push_back(created->response.order().id());
  }
  for (int64_t id : ids) {
    IdempotencyScope cancel{"t1", "orders.v1.OrderService/CancelOrder",
                            "cancel-" + std::to_string(id), "fp"};
    ASSERT_TRUE(repo_->CancelOrder(cancel, id, "", Deadline()).ok());
  }
  if (pool_) {  // PostgreSQL projects asynchronously: run one pass of the projector
    AnalyticsProjector projector(*pool_);
    ASSERT_TRUE(projector.RunOnce().ok());
  }
  auto mixed = repo_->GetAnalytics("t1", "mixed", absl::InfiniteFuture());
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_EQ(mixed->cancelled_count(), 2);
  EXPECT_THAT(MoneyTexts(mixed->cancelled_totals()), ::testing::ElementsAre("JPY 500", "USD 1250"));
  EXPECT_EQ(CancelledCents(*mixed), 0);
  auto single = repo_->GetAnalytics("t1", "single", absl::InfiniteFuture());
  ASSERT_TRUE(single.ok());
  EXPECT_THAT(MoneyTexts(single->cancelled_totals()), ::testing::ElementsAre("JPY 700"));
  EXPECT_EQ(CancelledCents(*single), 700);

  orders::v1::PutImportChunkRequest chunk;
  chunk.set_import_id("imp");
  *chunk.add_orders() = Priced("erin", "USD", 1000);
  *chunk.add_orders() = Priced("erin", "JPY", 1000);
  auto put = Put(chunk);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_THAT(MoneyTexts(put->chunk.totals()), ::testing::ElementsAre("JPY 1000", "USD 1000"));
  auto committed = repo_->CommitImport("t1", "imp", 1, Deadline());
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_THAT(MoneyTexts(committed->summary.totals()),
              ::testing::ElementsAre("JPY 1000", "USD 1000"));
  EXPECT_EQ(AmountCents(committed->summary), 0) << "not 2000";
}

std::unique_ptr<OrderRepository> MakePg(std::unique_ptr<pg::Pool>& pool) {
  auto db = testing_support::CreateTestDatabase("orders_repo");
  EXPECT_TRUE(db.ok()) << db.status();
  pool = std::make_unique<pg::Pool>(*db, 20);
  EXPECT_THAT(testing_support::MigrateOrders(*pool), testing_support::IsOk());
  return std::make_unique<PgOrderRepository>(*pool);
}

INSTANTIATE_TEST_SUITE_P(Backends, OrderRepositoryTest,
                         ::testing::Values(Backend{"Postgres", MakePg},
                                           Backend{"Memory",
                                                   [](std::unique_ptr<pg::Pool>&) {
                                                     return std::unique_ptr<OrderRepository>(
                                                         std::make_unique<MemoryOrderRepository>());
                                                   }}),
                         [](const auto& info) { return info.param.name; });

// PostgreSQL only: a request that cannot get the key before its deadline answers ABORTED
// IDEMPOTENCY_KEY_IN_USE, and the migration lock makes concurrent start-ups safe.
TEST(PgOrderRepositoryTest, KeyHeldByAnOpenTransactionGivesInUseBeforeDeadline) {
  std::unique_ptr<pg::Pool> pool;
  auto repo = MakePg(pool);
  auto holder = pg::Connection::Open(pool->conninfo());
  ASSERT_TRUE(holder.ok());
  ASSERT_TRUE((*holder)->ExecScript("BEGIN").ok());
  ASSERT_TRUE(
      (*holder)
          ->ExecScript("INSERT INTO idempotency_keys (tenant, method, key, fingerprint) VALUES "
                       "('t1', 'orders.v1.OrderService/CreateOrder', 'busy', '\\x00')")
          .ok());
  const absl::Time start = absl::Now();
  // 1 s: the lock wait ends 250 ms (pg::LockTimeoutMargin) before the statement's end, room
  // enough for a descheduled backend on a loaded machine.
  auto result =
      repo->CreateOrder(Scope("busy", "fp"), Request(), 500, absl::Now() + absl::Seconds(1));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(700));  // it did wait for the key, until the lock wait's end
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
  EXPECT_EQ(common::ErrorReason(result.status()), "IDEMPOTENCY_KEY_IN_USE");
  EXPECT_LT(took, absl::Seconds(2));
  ASSERT_TRUE((*holder)->ExecScript("ROLLBACK").ok());
  // Once the holder is gone the key is free again.
  auto after =
      repo->CreateOrder(Scope("busy", "fp"), Request(), 500, absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(after.ok()) << after.status();
}

TEST(PgOrderRepositoryTest, ConcurrentMigrationsApplyOnce) {
  auto db = testing_support::CreateTestDatabase("orders_migrate");
  ASSERT_TRUE(db.ok());
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto conn = pg::Connection::Open(*db);
      results[i] = conn.ok() ? pg::Migrate(**conn, "orders", OrderMigrations()) : conn.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(*testing_support::QueryScalar(
                *db, "SELECT count(*) FROM schema_migrations WHERE component = 'orders'"),
            std::to_string(OrderMigrations().size()));
}

}  // namespace
}  // namespace orders

namespace orders {
namespace {

// Migration 6 moves analytics money to one row per currency. A single-currency customer keeps
// its amounts, now labelled; a mixed customer's meaningless sum is counted again from its orders'
// states, less the events the projector has not applied yet (it adds those itself afterwards).
TEST(PgOrderRepositoryTest, MigrationSixSplitsAnalyticsMoneyPerCurrency) {
  auto db = testing_support::CreateTestDatabase("orders_migrate6");
  ASSERT_TRUE(db.ok()) << db.status();
  auto conn = pg::Connection::Open(*db);
  ASSERT_TRUE(conn.ok()) << conn.status();
  const std::vector<pg::Migration> until_five(OrderMigrations().begin(),
                                              OrderMigrations().begin() + 5);
  ASSERT_TRUE(pg::Migrate(**conn, "orders", until_five).ok());
  // The state of version 5: orders, their projected events' sums in customer_analytics (mixed
  // currencies added together), one ORDER_PAID event not projected yet.
  ASSERT_TRUE((*conn)
                  ->ExecScript(R"sql(
INSERT INTO orders (id, tenant, customer_id, currency, amount_cents, payment_method, status,
                    charge_id, decline_reason) VALUES
  (1, 't', 'single', 'USD', 1000, 'pm_card_visa', 2, 11, ''),
  (2, 't', 'single', 'USD', 300, 'pm_card_visa', 4, 0, ''),
  (3, 't', 'mixed', 'JPY', 500, 'pm_card_visa', 2, 13, ''),
  (4, 't', 'mixed', 'USD', 1250, 'pm_card_visa', 4, 14, ''),
  (5, 't', 'mixed', 'EUR', 200, 'pm_card_declined', 4, 15, 'card_declined'),
  (6, 't', 'mixed', 'USD', 400, 'pm_card_visa', 2, 16, '');
INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents, projected) VALUES
  ('t', 'mixed', 6, 'ORDER_PAID', 400, false);
INSERT INTO customer_analytics (tenant, customer_id, order_count, paid_count,
    payment_failed_count, cancelled_count, paid_cents, cancelled_cents, events_applied) VALUES
  ('t', 'single', 2, 1, 0, 1, 1000, 300, 5),
  ('t', 'mixed', 4, 2, 1, 2, 1750, 1450, 10);
)sql")
                  .ok());
  ASSERT_TRUE(pg::Migrate(**conn, "orders", OrderMigrations()).ok());
  EXPECT_EQ(testing_support::ScalarOrError(
                *db,
                "SELECT string_agg(customer_id || ' ' || currency || ' ' || paid_amount || '/' ||"
                " cancelled_amount, ', ' ORDER BY customer_id, currency)"
                " FROM customer_analytics_money"),
            "mixed EUR 0/200, mixed JPY 500/0, mixed USD 1250/1250, single USD 1000/300");
  EXPECT_EQ(testing_support::ScalarOrError(
                *db,
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'customer_analytics' AND column_name LIKE '%cents'"),
            "0");

  // The projector then applies the pending event to its currency, and reads are per currency.
  pg::Pool pool(*db, 2);
  AnalyticsProjector projector(pool);
  ASSERT_TRUE(projector.RunOnce().ok());
  PgOrderRepository repo(pool);
  auto mixed = repo.GetAnalytics("t", "mixed", absl::InfiniteFuture());
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_THAT(MoneyTexts(mixed->paid_totals()), ::testing::ElementsAre("JPY 500", "USD 1650"));
  EXPECT_THAT(MoneyTexts(mixed->cancelled_totals()), ::testing::ElementsAre("EUR 200", "USD 1250"));
  EXPECT_EQ(mixed->paid_count(), 3);
  auto single = repo.GetAnalytics("t", "single", absl::InfiniteFuture());
  ASSERT_TRUE(single.ok());
  EXPECT_THAT(MoneyTexts(single->paid_totals()), ::testing::ElementsAre("USD 1000"));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_EQ(single->paid_cents(), 1000);
  EXPECT_EQ(mixed->paid_cents(), 0);
#pragma GCC diagnostic pop
}

// The last line behind request validation: a text parameter with a NUL is never sent (libpq
// would cut it at the NUL and the statement would act on another value). Nothing runs.
TEST(PgOrderRepositoryTest, TextParameterWithANulIsRefusedNotTruncated) {
  using namespace std::string_literals;
  std::unique_ptr<pg::Pool> pool;
  auto repo = MakePg(pool);
  auto alice = Request();
  alice.set_customer_id("alice");
  ASSERT_TRUE(
      repo->CreateOrder(Scope("k1", "fp"), alice, 500, absl::Now() + absl::Seconds(5)).ok());

  ListQuery query;
  query.customer_id = "alice\0x"s;
  auto listed = repo->ListOrders("t1", query, absl::InfiniteFuture());
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kInvalidArgument) << listed.status();

  IdempotencyScope cancel{"t1", "orders.v1.OrderService/CancelOrder", "c1", "fp"};
  auto cancelled = repo->CancelOrder(cancel, 1, "changed\0mind"s, absl::Now() + absl::Seconds(5));
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kInvalidArgument) << cancelled.status();
  EXPECT_EQ(testing_support::ScalarOrError(pool->conninfo(),
                                           "SELECT status || ':' || cancel_reason FROM orders"),
            "1:");
  EXPECT_EQ(
      testing_support::ScalarOrError(pool->conninfo(), "SELECT count(*) FROM idempotency_keys"),
      "1");
}

}  // namespace
}  // namespace orders

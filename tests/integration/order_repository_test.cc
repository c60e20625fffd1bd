// One suite, two repositories: the PostgreSQL one and the in-memory fake obey the same rules.
#include <memory>
#include <thread>

#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "gtest/gtest.h"
#include "order_service/memory_order_repository.h"
#include "order_service/pg_order_repository.h"
#include "order_service/schema.h"
#include "tests/support/test_db.h"

namespace orders {
namespace {

orders::v1::CreateOrderRequest Request(int quantity = 2) {
  orders::v1::CreateOrderRequest request;
  request.set_customer_id("cust");
  request.set_currency("EUR");
  request.set_payment_method("pm_card_visa");
  auto* item = request.add_items();
  item->set_sku("sku-\"quoted\"\\back");  // survives the array parameter
  item->set_quantity(quantity);
  item->set_unit_price_cents(250);
  return request;
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
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<OrderRepository> repo_;
};

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

  auto order = repo_->GetOrder("t1", first->response.order().id());
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->amount_cents(), 500);
  ASSERT_EQ(order->items_size(), 1);
  EXPECT_EQ(order->items(0).sku(), "sku-\"quoted\"\\back");
  EXPECT_EQ(order->status(), orders::v1::ORDER_STATUS_CREATED);
  EXPECT_EQ(common::ErrorReason(repo_->GetOrder("t2", order->id()).status()), "ORDER_NOT_FOUND");
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
  auto page = repo_->ListOrders("t1", all);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->orders.size(), 1u);
}

TEST_P(OrderRepositoryTest, ListFiltersAndPages) {
  for (int i = 0; i < 7; ++i) {
    auto request = Request();
    request.set_customer_id(i < 3 ? "a" : "b");
    ASSERT_TRUE(repo_->CreateOrder(Scope("k" + std::to_string(i), "fp"), request, 500, Deadline()).ok());
  }
  ListQuery query;
  query.customer_id = "b";
  query.page_size = 3;
  auto page1 = repo_->ListOrders("t1", query);
  ASSERT_TRUE(page1.ok()) << page1.status();
  ASSERT_EQ(page1->orders.size(), 3u);
  EXPECT_GT(page1->orders[0].id(), page1->orders[1].id());
  query.before_id = page1->next_before_id;
  auto page2 = repo_->ListOrders("t1", query);
  ASSERT_TRUE(page2.ok());
  EXPECT_EQ(page2->orders.size(), 1u);
  EXPECT_EQ(page2->next_before_id, 0);
  query = ListQuery{};
  query.status = orders::v1::ORDER_STATUS_PAID;
  EXPECT_TRUE(repo_->ListOrders("t1", query)->orders.empty());
  EXPECT_TRUE(repo_->ListOrders("other", ListQuery{})->orders.empty());
}

std::unique_ptr<OrderRepository> MakePg(std::unique_ptr<pg::Pool>& pool) {
  auto db = testing_support::CreateTestDatabase("orders_repo");
  EXPECT_TRUE(db.ok()) << db.status();
  pool = std::make_unique<pg::Pool>(*db, 20);
  auto conn = pool->Acquire(absl::Now() + absl::Seconds(10));
  EXPECT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE(pg::Migrate(**conn, "orders", OrderMigrations()).ok());
  return std::make_unique<PgOrderRepository>(*pool);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, OrderRepositoryTest,
    ::testing::Values(Backend{"Postgres", MakePg},
                      Backend{"Memory", [](std::unique_ptr<pg::Pool>&) {
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
  ASSERT_TRUE((*holder)->ExecScript(
      "INSERT INTO idempotency_keys (tenant, method, key, fingerprint) VALUES "
      "('t1', 'orders.v1.OrderService/CreateOrder', 'busy', '\\x00')").ok());
  const absl::Time start = absl::Now();
  auto result = repo->CreateOrder(Scope("busy", "fp"), Request(), 500,
                                  absl::Now() + absl::Milliseconds(400));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
  EXPECT_EQ(common::ErrorReason(result.status()), "IDEMPOTENCY_KEY_IN_USE");
  EXPECT_LT(took, absl::Seconds(2));
  ASSERT_TRUE((*holder)->ExecScript("ROLLBACK").ok());
  // Once the holder is gone the key is free again.
  auto after = repo->CreateOrder(Scope("busy", "fp"), Request(), 500, absl::Now() + absl::Seconds(5));
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

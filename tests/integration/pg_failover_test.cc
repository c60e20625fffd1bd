// Failover without a restart, on a primary and a streaming hot standby of the test's own, both
// services on a multi-host connection string with target_session_attrs=read-write.
//  - Under load the primary is shut down (sessions end with 57P01); while no writable server
//    exists readiness says NOT_SERVING and calls answer UNAVAILABLE; then the standby is
//    promoted and the same processes carry on there: no order refused non-retryably, every
//    acknowledged order on the new primary, PAID, with one charge.
//  - A service pointed at a standby alone is not ready and answers UNAVAILABLE (25006), never
//    INTERNAL; promoted, it turns ready.
#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/orders_client.h"
#include "common/pg/migrate.h"
#include "gtest/gtest.h"
#include "order_service/schema.h"
#include "payment_service/pg_schema.h"
#include "tests/support/child_process.h"
#include "tests/support/health.h"
#include "tests/support/order_builders.h"
#include "tests/support/private_cluster.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

using grpc::health::v1::HealthCheckResponse;
using testing_support::HealthOf;
using testing_support::PrivateCluster;

int64_t Scalar(const std::string& db, const char* sql) {
  auto value = testing_support::QueryScalar(db, sql);
  EXPECT_TRUE(value.ok()) << value.status();
  return value.ok() && !value->empty() ? std::stoll(*value) : -1;
}

std::string MultiHost(const PrivateCluster& a, const PrivateCluster& b) {
  return absl::StrCat("host=127.0.0.1,127.0.0.1 port=", a.port(), ",", b.port(),
                      " user=postgres target_session_attrs=read-write connect_timeout=3");
}

TEST(PgFailoverTest, PrimaryStoppedUnderLoadThenStandbyPromotedNoRestartNoOrderRefused) {
  auto primary = PrivateCluster::Start();
  ASSERT_TRUE(primary.ok()) << primary.status();
  auto standby = PrivateCluster::StartStandbyOf(**primary);
  ASSERT_TRUE(standby.ok()) << standby.status();
  testing_support::StackOptions options;
  options.cluster_conninfo = (*primary)->conninfo();
  options.service_conninfo = MultiHost(**primary, **standby);
  options.order_args = {"--log_rpcs=false"};
  options.payment_args = {"--log_rpcs=false"};
  auto stack = testing_support::ServiceStack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto& s = **stack;
  ASSERT_TRUE(testing_support::Eventually(
      [&] { return HealthOf(s.order_addr(), "") == HealthCheckResponse::SERVING; },
      absl::Seconds(5), "order_service ready"));

  orders_client::ClientOptions client_options;
  client_options.target = s.order_addr();
  client_options.max_attempts = 0;
  client_options.overall_timeout = absl::Seconds(60);
  client_options.backoff = {absl::Milliseconds(50), absl::Milliseconds(500), 2.0};
  auto client = orders_client::OrdersClient::Create(client_options);
  ASSERT_TRUE(client.ok()) << client.status();

  constexpr int kThreads = 8, kBefore = 40, kAfter = 40;
  std::atomic<int> done{0}, refused{0}, retried{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<int64_t> ids;
  std::vector<std::string> errors;
  absl::Time first_after_promote = absl::InfiniteFuture();
  absl::Time promoted = absl::InfiniteFuture();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        orders_client::CallInfo info;
        auto order = (*client)->CreateOrder(
            testing_support::OneItemOrder(absl::StrCat("fo-", t), 100 + i), {.info = &info});
        std::lock_guard<std::mutex> lock(mu);
        if (info.attempts > 1) retried.fetch_add(1);
        if (order.ok()) {
          ids.push_back(order->id());
          if (absl::Now() > promoted && first_after_promote == absl::InfiniteFuture()) {
            first_after_promote = absl::Now();
          }
        } else {
          refused.fetch_add(1);
          errors.push_back(order.status().ToString());
        }
        done.fetch_add(1);
      }
    });
  }

  ASSERT_TRUE(testing_support::Eventually([&] { return done.load() >= kBefore; }, absl::Seconds(30),
                                          "orders before the failover"));
  const absl::Time down = absl::Now();
  ASSERT_TRUE((*primary)->Stop().ok());
  // No writable server: readiness must say so before the standby takes over.
  const bool not_serving = testing_support::Eventually(
      [&] { return HealthOf(s.order_addr(), "") == HealthCheckResponse::NOT_SERVING; },
      absl::Seconds(10), "readiness NOT_SERVING with the primary down");
  const int done_at_promote = done.load();
  ASSERT_TRUE((*standby)->Promote().ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    promoted = absl::Now();
  }
  EXPECT_TRUE(not_serving);
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return HealthOf(s.order_addr(), "") == HealthCheckResponse::SERVING; },
      absl::Seconds(10), "order_service ready on the new primary"));
  EXPECT_TRUE(testing_support::Eventually([&] { return done.load() >= done_at_promote + kAfter; },
                                          absl::Seconds(60), "orders after the promotion"));
  stop = true;
  for (auto& t : threads) t.join();

  EXPECT_EQ(refused.load(), 0) << (errors.empty() ? "" : errors.front());
  EXPECT_GT(retried.load(), 0);
  // Every acknowledged order is on the new primary, PAID, charged once.
  const std::string order_db =
      (*standby)->conninfo() + s.order_db().substr((*primary)->conninfo().size());
  const std::string payment_db =
      (*standby)->conninfo() + s.payment_db().substr((*primary)->conninfo().size());
  const int64_t n = static_cast<int64_t>(ids.size());
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return Scalar(order_db, "SELECT count(*) FROM orders WHERE status = 2") == n; },
      absl::Seconds(60), "every acknowledged order PAID on the new primary"))
      << Scalar(order_db, "SELECT count(*) FROM orders WHERE status = 2") << " of " << n;
  EXPECT_EQ(Scalar(order_db, "SELECT count(*) FROM orders"), n);
  EXPECT_EQ(Scalar(payment_db, "SELECT count(*) FROM charges"), n);
  EXPECT_EQ(Scalar(payment_db, "SELECT count(DISTINCT order_id) FROM charges"), n);
  EXPECT_TRUE(s.order()->Running());
  EXPECT_TRUE(s.payment()->Running());
  std::printf(
      "primary stopped under load, standby promoted %s later: %lld orders, %d refused "
      "non-retryably, %d calls retried; first order acknowledged %s after the promotion "
      "(%s after the primary went down); all PAID, one charge each, no restart\n",
      absl::FormatDuration(promoted - down).c_str(), static_cast<long long>(n), refused.load(),
      retried.load(), absl::FormatDuration(first_after_promote - promoted).c_str(),
      absl::FormatDuration(first_after_promote - down).c_str());
}

TEST(PgFailoverTest, ServiceOnAStandbyIsNotReadyAnswersUnavailableAndIsReadyOncePromoted) {
  auto primary = PrivateCluster::Start();
  ASSERT_TRUE(primary.ok()) << primary.status();
  auto order_db = testing_support::CreateTestDatabase("orders", (*primary)->conninfo());
  ASSERT_TRUE(order_db.ok()) << order_db.status();
  auto payment_db = testing_support::CreateTestDatabase("payments", (*primary)->conninfo());
  ASSERT_TRUE(payment_db.ok()) << payment_db.status();
  // The schemas exist, as they do when a primary is demoted or a service lands on a standby.
  {
    auto conn = pg::Connection::Open(*order_db);
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(pg::Migrate(**conn, "orders", orders::OrderMigrations()).ok());
    auto pconn = pg::Connection::Open(*payment_db);
    ASSERT_TRUE(pconn.ok()) << pconn.status();
    ASSERT_TRUE(payment_service::MigratePaymentSchema(**pconn).ok());
  }
  auto standby = PrivateCluster::StartStandbyOf(**primary);
  ASSERT_TRUE(standby.ok()) << standby.status();
  auto on_standby = [&](const std::string& db) {
    return (*standby)->conninfo() + db.substr((*primary)->conninfo().size());
  };

  const std::string dir = testing_support::MakeTempDir("on-standby");
  const int payment_port = testing_support::FreeLoopbackPort();
  const int order_port = testing_support::FreeLoopbackPort();
  const std::string payment_addr = absl::StrCat("127.0.0.1:", payment_port);
  const std::string order_addr = absl::StrCat("127.0.0.1:", order_port);
  auto payment = testing_support::ChildProcess::Start(
      PAYMENT_SERVICE_BIN,
      {absl::StrCat("--port=", payment_port), "--database=" + on_standby(*payment_db)},
      dir + "/payment.log");
  ASSERT_TRUE(payment.ok()) << payment.status();
  auto order = testing_support::ChildProcess::Start(
      ORDER_SERVICE_BIN,
      {absl::StrCat("--port=", order_port), "--database=" + on_standby(*order_db),
       "--payment_addr=" + payment_addr},
      dir + "/order.log");
  ASSERT_TRUE(order.ok()) << order.status();
  for (const std::string& addr : {order_addr, payment_addr}) {
    ASSERT_TRUE(testing_support::Eventually(
        [&] { return HealthOf(addr, "liveness") == HealthCheckResponse::SERVING; },
        absl::Seconds(10), "liveness SERVING on a standby: " + addr));
    EXPECT_EQ(HealthOf(addr, ""), HealthCheckResponse::NOT_SERVING) << addr;
  }

  orders_client::ClientOptions client_options;
  client_options.target = order_addr;
  client_options.max_attempts = 1;  // one try: see the code itself
  auto client = orders_client::OrdersClient::Create(client_options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto refused = (*client)->CreateOrder(testing_support::OneItemOrder("standby", 100));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();

  ASSERT_TRUE((*standby)->Promote().ok());
  const absl::Time promoted = absl::Now();
  absl::Duration ready_after = absl::InfiniteDuration();
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        const bool ready = HealthOf(order_addr, "") == HealthCheckResponse::SERVING &&
                           HealthOf(payment_addr, "") == HealthCheckResponse::SERVING;
        if (ready) ready_after = absl::Now() - promoted;
        return ready;
      },
      absl::Seconds(5), "both services ready within 5 s of the promotion"));
  std::printf("services on a standby: UNAVAILABLE and NOT_SERVING; SERVING %s after promotion\n",
              absl::FormatDuration(ready_after).c_str());
  client_options.max_attempts = 0;
  auto retrying = orders_client::OrdersClient::Create(client_options);
  ASSERT_TRUE(retrying.ok());
  auto created = (*retrying)->CreateOrder(testing_support::OneItemOrder("standby", 100));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        auto got = (*retrying)->GetOrder(created->id());
        return got.ok() && got->status() == orders::v1::ORDER_STATUS_PAID;
      },
      absl::Seconds(20), "the order PAID"));
}

}  // namespace

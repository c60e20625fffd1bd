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
#include "tests/support/order_load.h"
#include "tests/support/private_cluster.h"
#include "tests/support/service_stack.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

using grpc::health::v1::HealthCheckResponse;
using testing_support::HealthOf;
using testing_support::PrivateCluster;

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
  ASSERT_OK_AND_ASSIGN(auto stack, testing_support::ServiceStack::Start(options));
  auto& s = *stack;
  ASSERT_OK_AND_ASSIGN(auto client, testing_support::RetryingClientOnceReady(s.order_addr()));

  constexpr int kThreads = 8, kBefore = 40, kAfter = 40;
  testing_support::OrderLoad load(*client, kThreads, "fo-");
  ASSERT_TRUE(load.AnsweredWithin(0, kBefore, absl::Seconds(30), "orders before the failover"));
  const absl::Time down = absl::Now();
  ASSERT_TRUE((*primary)->Stop().ok());
  // No writable server: readiness must say so before the standby takes over.
  const bool not_serving = testing_support::Eventually(
      [&] { return HealthOf(s.order_addr(), "") == HealthCheckResponse::NOT_SERVING; },
      absl::Seconds(10), "readiness NOT_SERVING with the primary down");
  const int done_at_promote = load.done();
  ASSERT_TRUE((*standby)->Promote().ok());
  const absl::Time promoted = absl::Now();
  EXPECT_TRUE(not_serving);
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return HealthOf(s.order_addr(), "") == HealthCheckResponse::SERVING; },
      absl::Seconds(10), "order_service ready on the new primary"));
  EXPECT_TRUE(load.AnsweredWithin(done_at_promote, kAfter, absl::Seconds(60),
                                  "orders after the promotion"));
  load.Stop();

  EXPECT_EQ(load.refused(), 0) << load.first_error();
  EXPECT_GT(load.retried_calls(), 0);
  // Every acknowledged order is on the new primary, PAID, charged once.
  const std::string order_db =
      (*standby)->conninfo() + s.order_db().substr((*primary)->conninfo().size());
  const std::string payment_db =
      (*standby)->conninfo() + s.payment_db().substr((*primary)->conninfo().size());
  const int64_t n = static_cast<int64_t>(load.ids().size());
  testing_support::ExpectEveryOrderPaidOnce(order_db, payment_db, n, absl::Seconds(60));
  const absl::Time first_after_promote = load.FirstAcknowledgedAfter(promoted);
  EXPECT_TRUE(s.order()->Running());
  EXPECT_TRUE(s.payment()->Running());
  std::printf(
      "primary stopped under load, standby promoted %s later: %lld orders, %d refused "
      "non-retryably, %d calls retried; first order acknowledged %s after the promotion "
      "(%s after the primary went down); all PAID, one charge each, no restart\n",
      absl::FormatDuration(promoted - down).c_str(), static_cast<long long>(n), load.refused(),
      load.retried_calls(), absl::FormatDuration(first_after_promote - promoted).c_str(),
      absl::FormatDuration(first_after_promote - down).c_str());
}

TEST(PgFailoverTest, ServiceOnAStandbyIsNotReadyAnswersUnavailableAndIsReadyOncePromoted) {
  auto primary = PrivateCluster::Start();
  ASSERT_TRUE(primary.ok()) << primary.status();
  ASSERT_OK_AND_ASSIGN(const auto dbs,
                       testing_support::CreateServiceDatabases((*primary)->conninfo()));
  // The schemas exist, as they do when a primary is demoted or a service lands on a standby.
  {
    auto conn = pg::Connection::Open(dbs.order);
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(pg::Migrate(**conn, "orders", orders::OrderMigrations()).ok());
    auto pconn = pg::Connection::Open(dbs.payment);
    ASSERT_TRUE(pconn.ok()) << pconn.status();
    ASSERT_TRUE(payment_service::MigratePaymentSchema(**pconn).ok());
  }
  auto standby = PrivateCluster::StartStandbyOf(**primary);
  ASSERT_TRUE(standby.ok()) << standby.status();
  auto on_standby = [&](const std::string& db) {
    return (*standby)->conninfo() + db.substr((*primary)->conninfo().size());
  };

  auto both = testing_support::StartServicePair(testing_support::MakeTempDir("on-standby"),
                                                on_standby(dbs.order), on_standby(dbs.payment));
  ASSERT_TRUE(both.ok()) << both.status();
  const std::string order_addr = both->order_addr, payment_addr = both->payment_addr;
  for (const std::string& addr : {order_addr, payment_addr}) {
    ASSERT_TRUE(testing_support::HealthBecomes(addr, "liveness", HealthCheckResponse::SERVING,
                                               absl::Seconds(10),
                                               "liveness SERVING on a standby: " + addr));
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
  EXPECT_TRUE(testing_support::OrderGoesThroughToPaid(**retrying, "standby", 100));
}

}  // namespace

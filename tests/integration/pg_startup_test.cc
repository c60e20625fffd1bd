// Both services started while their database is down: they start, liveness answers SERVING and
// readiness NOT_SERVING, they keep trying, and readiness turns SERVING within 5 s of the
// database coming up; then an order goes through to PAID. A SIGTERM while still waiting ends
// the process cleanly.
#include <sys/wait.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/orders_client.h"
#include "gtest/gtest.h"
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
using testing_support::ChildProcess;
using testing_support::HealthOf;

// Both services on `cluster`'s fresh databases, started after the cluster was stopped.
absl::StatusOr<testing_support::ServicePair> StartWithTheDatabaseDown(
    testing_support::PrivateCluster& cluster, const std::string& dir_prefix) {
  auto dbs = testing_support::CreateServiceDatabases(cluster.conninfo());
  if (!dbs.ok()) return dbs.status();
  if (absl::Status stopped = cluster.Stop(); !stopped.ok()) return stopped;
  return testing_support::StartServicePair(testing_support::MakeTempDir(dir_prefix), dbs->order,
                                           dbs->payment, {"--log_rpcs=false"});
}

// Liveness SERVING on both within 10 s.
::testing::AssertionResult BothAlive(const testing_support::ServicePair& both,
                                     const std::string& when) {
  for (const std::string& addr : {both.order_addr, both.payment_addr}) {
    auto alive =
        testing_support::HealthBecomes(addr, "liveness", HealthCheckResponse::SERVING,
                                       absl::Seconds(10), "liveness SERVING" + when + ": " + addr);
    if (!alive) return alive;
  }
  return ::testing::AssertionSuccess();
}

TEST(PgStartupTest, ServicesStartedWithTheDatabaseDownBecomeReadySoonAfterItComesUp) {
  ASSERT_OK_AND_ASSIGN(auto cluster, testing_support::PrivateCluster::Start());
  ASSERT_OK_AND_ASSIGN(auto both, StartWithTheDatabaseDown(*cluster, "startup"));
  // Up and answering health while the database is down: liveness SERVING, readiness not.
  EXPECT_TRUE(BothAlive(both, " with the database down"));
  for (const std::string& addr : {both.order_addr, both.payment_addr}) {
    EXPECT_EQ(HealthOf(addr, ""), HealthCheckResponse::NOT_SERVING) << addr;
  }
  // Still there a while later (no exit into a crash loop), still not ready.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_TRUE(both.order.Running());
  EXPECT_TRUE(both.payment.Running());
  EXPECT_EQ(HealthOf(both.order_addr, ""), HealthCheckResponse::NOT_SERVING);

  ASSERT_TRUE(cluster->Resume().ok());
  const absl::Time up = absl::Now();
  absl::Duration order_ready = absl::InfiniteDuration(), payment_ready = order_ready;
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        if (order_ready == absl::InfiniteDuration() &&
            HealthOf(both.order_addr, "") == HealthCheckResponse::SERVING) {
          order_ready = absl::Now() - up;
        }
        if (payment_ready == absl::InfiniteDuration() &&
            HealthOf(both.payment_addr, "") == HealthCheckResponse::SERVING) {
          payment_ready = absl::Now() - up;
        }
        return order_ready != absl::InfiniteDuration() && payment_ready != absl::InfiniteDuration();
      },
      absl::Seconds(5), "both services SERVING within 5 s of the database coming up"));
  EXPECT_LE(order_ready, absl::Seconds(5));
  EXPECT_LE(payment_ready, absl::Seconds(5));
  std::printf("database up -> SERVING: order_service %s, payment_service %s\n",
              absl::FormatDuration(order_ready).c_str(),
              absl::FormatDuration(payment_ready).c_str());

  orders_client::ClientOptions options;
  options.target = both.order_addr;
  auto client = orders_client::OrdersClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(testing_support::OrderGoesThroughToPaid(**client, "startup", 1234));
}

TEST(PgStartupTest, SigtermWhileWaitingForTheDatabaseEndsCleanly) {
  ASSERT_OK_AND_ASSIGN(auto cluster, testing_support::PrivateCluster::Start());
  ASSERT_OK_AND_ASSIGN(auto both, StartWithTheDatabaseDown(*cluster, "startup-term"));
  ASSERT_TRUE(BothAlive(both, ""));
  for (ChildProcess* p : {&both.order, &both.payment}) {
    p->Signal(SIGTERM);
    const int status = p->WaitExit(absl::Seconds(10));
    ASSERT_NE(status, -1);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
}

}  // namespace

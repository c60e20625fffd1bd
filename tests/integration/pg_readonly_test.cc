// A primary that turns read-only under load (ALTER SYSTEM SET default_transaction_read_only, the
// way a fencing or demotion begins) and then writable again, on a cluster of the test's own.
// Every write in between fails with SQLSTATE 25006: the services discard those connections,
// answer UNAVAILABLE (never INTERNAL), readiness goes NOT_SERVING, and the client library's
// retries under the same idempotency key carry every order through. Afterwards every order is
// PAID with exactly one charge.
#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/orders_client.h"
#include "gtest/gtest.h"
#include "tests/support/health.h"
#include "tests/support/ops_http.h"
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
using testing_support::MetricSum;
using testing_support::Scrape;

double CreateOrderAnswers(int metrics_port, const char* code) {
  return MetricSum(Scrape(metrics_port), "grpc_server_handled_total",
                   {"grpc_method=\"CreateOrder\"", absl::StrCat("grpc_code=\"", code, "\"")});
}

TEST(PgReadOnlyTest, ReadOnlyPrimaryUnderLoadRefusesNothingNonRetryablyAndEveryOrderIsPaid) {
  auto cluster = testing_support::PrivateCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  testing_support::StackOptions options;
  options.cluster_conninfo = (*cluster)->conninfo();
  options.metrics = true;
  options.order_args = {"--log_rpcs=false"};
  ASSERT_OK_AND_ASSIGN(auto stack, testing_support::ServiceStack::Start(options));
  auto& s = *stack;
  ASSERT_OK_AND_ASSIGN(auto client, testing_support::RetryingClientOnceReady(s.order_addr()));

  constexpr int kThreads = 8, kBefore = 40, kAfter = 40;
  testing_support::OrderLoad load(*client, kThreads, "ro-");

  // The fault starts after kBefore orders and lasts until the service has answered UNAVAILABLE
  // at least 20 times and readiness has said NOT_SERVING, and for at least the 6 s of the blip
  // in issue 13.
  ASSERT_TRUE(load.AnsweredWithin(0, kBefore, absl::Seconds(30), "orders before the fault"));
  ASSERT_TRUE((*cluster)->Exec("ALTER SYSTEM SET default_transaction_read_only = on").ok());
  ASSERT_TRUE((*cluster)->Exec("SELECT pg_reload_conf()").ok());
  const absl::Time fault_start = absl::Now();
  const double unavailable_before = CreateOrderAnswers(s.order_metrics_port(), "UNAVAILABLE");
  bool saw_not_serving = false;
  const bool fired = testing_support::Eventually(
      [&] {
        saw_not_serving =
            saw_not_serving || HealthOf(s.order_addr(), "") == HealthCheckResponse::NOT_SERVING;
        return saw_not_serving && absl::Now() - fault_start >= absl::Seconds(6) &&
               CreateOrderAnswers(s.order_metrics_port(), "UNAVAILABLE") - unavailable_before >= 20;
      },
      absl::Seconds(30), "UNAVAILABLE answers and readiness NOT_SERVING while read-only");
  const int done_at_fault_end = load.done();
  ASSERT_TRUE((*cluster)->Exec("ALTER SYSTEM RESET default_transaction_read_only").ok());
  ASSERT_TRUE((*cluster)->Exec("SELECT pg_reload_conf()").ok());
  const absl::Duration read_only_for = absl::Now() - fault_start;
  EXPECT_TRUE(fired);
  EXPECT_TRUE(saw_not_serving);

  // Readiness comes back and orders flow again.
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return HealthOf(s.order_addr(), "") == HealthCheckResponse::SERVING; },
      absl::Seconds(10), "order_service ready again"));
  EXPECT_TRUE(
      load.AnsweredWithin(done_at_fault_end, kAfter, absl::Seconds(60), "orders after the fault"));
  load.Stop();

  EXPECT_EQ(load.refused(), 0) << load.first_error();
  EXPECT_GT(load.retried_calls(), 0);
  EXPECT_EQ(CreateOrderAnswers(s.order_metrics_port(), "INTERNAL"), 0);
  // The read-only connections were dropped and reopened, not kept.
  EXPECT_GT(MetricSum(Scrape(s.order_metrics_port()), "db_pool_connections_discarded_total",
                      {"pool=\"orders\""}),
            0);
  const int64_t n = static_cast<int64_t>(load.ids().size());
  testing_support::ExpectEveryOrderPaidOnce(s.order_db(), s.payment_db(), n, absl::Seconds(60));
  std::printf(
      "read-only primary for %s under load: %lld orders, %d refused non-retryably, %d calls "
      "retried (%d extra attempts), %.0f UNAVAILABLE and %.0f INTERNAL answers; all PAID, one "
      "charge each\n",
      absl::FormatDuration(read_only_for).c_str(), static_cast<long long>(n), load.refused(),
      load.retried_calls(), load.extra_attempts(),
      CreateOrderAnswers(s.order_metrics_port(), "UNAVAILABLE"),
      CreateOrderAnswers(s.order_metrics_port(), "INTERNAL"));
}

}  // namespace

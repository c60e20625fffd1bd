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
#include "tests/support/private_cluster.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

using grpc::health::v1::HealthCheckResponse;
using testing_support::HealthOf;
using testing_support::MetricSum;
using testing_support::Scrape;

int64_t Scalar(const std::string& db, const char* sql) {
  auto value = testing_support::QueryScalar(db, sql);
  EXPECT_TRUE(value.ok()) << value.status();
  return value.ok() && !value->empty() ? std::stoll(*value) : -1;
}

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
  auto stack = testing_support::ServiceStack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto& s = **stack;
  ASSERT_TRUE(testing_support::Eventually(
      [&] { return HealthOf(s.order_addr(), "") == HealthCheckResponse::SERVING; },
      absl::Seconds(5), "order_service ready"));

  orders_client::ClientOptions client_options;
  client_options.target = s.order_addr();
  client_options.max_attempts = 0;  // until the overall deadline
  client_options.overall_timeout = absl::Seconds(60);
  client_options.backoff = {absl::Milliseconds(50), absl::Milliseconds(500), 2.0};
  auto client = orders_client::OrdersClient::Create(client_options);
  ASSERT_TRUE(client.ok()) << client.status();

  constexpr int kThreads = 8, kBefore = 40, kAfter = 40;
  std::atomic<int> done{0}, refused{0}, retried_calls{0}, extra_attempts{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<int64_t> ids;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        orders_client::CallInfo info;
        auto order = (*client)->CreateOrder(
            testing_support::OneItemOrder(absl::StrCat("ro-", t), 100 + i), {.info = &info});
        if (info.attempts > 1) {
          retried_calls.fetch_add(1);
          extra_attempts.fetch_add(info.attempts - 1);
        }
        std::lock_guard<std::mutex> lock(mu);
        if (order.ok()) {
          ids.push_back(order->id());
        } else {
          refused.fetch_add(1);
          errors.push_back(order.status().ToString());
        }
        done.fetch_add(1);
      }
    });
  }

  // The fault starts after kBefore orders and lasts until the service has answered UNAVAILABLE
  // at least 20 times and readiness has said NOT_SERVING, and for at least the 6 s of the blip
  // in issue 13.
  ASSERT_TRUE(testing_support::Eventually([&] { return done.load() >= kBefore; }, absl::Seconds(30),
                                          "orders before the fault"));
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
  const int done_at_fault_end = done.load();
  ASSERT_TRUE((*cluster)->Exec("ALTER SYSTEM RESET default_transaction_read_only").ok());
  ASSERT_TRUE((*cluster)->Exec("SELECT pg_reload_conf()").ok());
  const absl::Duration read_only_for = absl::Now() - fault_start;
  EXPECT_TRUE(fired);
  EXPECT_TRUE(saw_not_serving);

  // Readiness comes back and orders flow again.
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return HealthOf(s.order_addr(), "") == HealthCheckResponse::SERVING; },
      absl::Seconds(10), "order_service ready again"));
  EXPECT_TRUE(testing_support::Eventually([&] { return done.load() >= done_at_fault_end + kAfter; },
                                          absl::Seconds(60), "orders after the fault"));
  stop = true;
  for (auto& t : threads) t.join();

  EXPECT_EQ(refused.load(), 0) << (errors.empty() ? "" : errors.front());
  EXPECT_GT(retried_calls.load(), 0);
  EXPECT_EQ(CreateOrderAnswers(s.order_metrics_port(), "INTERNAL"), 0);
  const int64_t n = static_cast<int64_t>(ids.size());
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return Scalar(s.order_db(), "SELECT count(*) FROM orders WHERE status = 2") == n; },
      absl::Seconds(60), "every order PAID"))
      << Scalar(s.order_db(), "SELECT count(*) FROM orders WHERE status = 2") << " of " << n;
  EXPECT_EQ(Scalar(s.order_db(), "SELECT count(*) FROM orders"), n);
  EXPECT_EQ(Scalar(s.payment_db(), "SELECT count(*) FROM charges"), n);
  EXPECT_EQ(Scalar(s.payment_db(), "SELECT count(DISTINCT order_id) FROM charges"), n);
  std::printf(
      "read-only primary for %s under load: %lld orders, %d refused non-retryably, %d calls "
      "retried (%d extra attempts), %.0f UNAVAILABLE and %.0f INTERNAL answers; all PAID, one "
      "charge each\n",
      absl::FormatDuration(read_only_for).c_str(), static_cast<long long>(n), refused.load(),
      retried_calls.load(), extra_attempts.load(),
      CreateOrderAnswers(s.order_metrics_port(), "UNAVAILABLE"),
      CreateOrderAnswers(s.order_metrics_port(), "INTERNAL"));
}

}  // namespace

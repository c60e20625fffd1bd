// The multi-replica layout (what deploy/local/run.sh --replicas runs): two API processes
// (--role=api), two relay processes (--role=relay) and one payment service. 1,000 orders go
// through both API processes by client-side round-robin over a static address list, and each
// order ends with exactly one SUCCEEDED charge.
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/orders_client.h"
#include "gtest/gtest.h"
#include "tests/support/ops_http.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

using testing_support::MetricSum;
using testing_support::Scrape;

constexpr auto& Scalar = testing_support::ScalarInt;

TEST(OpsReplicasTest, ThousandOrdersThroughTwoApiReplicasAreChargedExactlyOnce) {
  testing_support::StackOptions options;
  options.start_order_service = false;
  options.metrics = true;
  auto stack = testing_support::ServiceStack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto& s = **stack;
  std::vector<int> api, relays;
  for (int i = 0; i < 2; ++i) {
    auto index = s.StartExtraOrderProcess({"--role=api", "--log_rpcs=false"});
    ASSERT_TRUE(index.ok()) << index.status();
    api.push_back(*index);
  }
  for (int i = 0; i < 2; ++i) {
    auto index = s.StartExtraOrderProcess({"--role=relay", "--relay_workers=4"});
    ASSERT_TRUE(index.ok()) << index.status();
    relays.push_back(*index);
  }

  orders_client::ClientOptions client_options;
  client_options.target = absl::StrCat("ipv4:", s.extra_addr(api[0]), ",", s.extra_addr(api[1]));
  client_options.lb_policy = "round_robin";
  auto client = orders_client::OrdersClient::Create(client_options);
  ASSERT_TRUE(client.ok()) << client.status();

  constexpr int kOrders = 1000, kThreads = 8;
  std::atomic<int> next{0}, failures{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < kOrders;) {
        const auto request = testing_support::OrderOf(absl::StrCat("replica-cust-", i % 50), "USD",
                                                      {{"widget", 1 + i % 3, 100 + i}});
        if (!(*client)->CreateOrder(request).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  const absl::Duration created_in = absl::Now() - start;
  ASSERT_EQ(failures.load(), 0);

  // Every order reaches PAID.
  const std::string& order_db = s.order_db();
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar(s.payment_db(), "SELECT count(*) FROM charges WHERE status = 'SUCCEEDED'") ==
               kOrders;
      },
      absl::Seconds(60), "1,000 SUCCEEDED charges"));
  const absl::Duration paid_in = absl::Now() - start;
  EXPECT_EQ(Scalar(order_db, "SELECT count(*) FROM orders"), kOrders);
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return Scalar(order_db, "SELECT count(*) FROM orders WHERE status = 2") == kOrders; },
      absl::Seconds(20), "1,000 orders PAID"))
      << Scalar(order_db, "SELECT count(*) FROM orders WHERE status = 2");
  // Exactly once: one charge per order, for each order, and nothing else.
  EXPECT_EQ(Scalar(s.payment_db(), "SELECT count(*) FROM charges"), kOrders);
  EXPECT_EQ(Scalar(s.payment_db(), "SELECT count(DISTINCT order_id) FROM charges"), kOrders);
  EXPECT_EQ(Scalar(s.payment_db(),
                   "SELECT count(*) FROM (SELECT order_id FROM charges GROUP BY order_id "
                   "HAVING count(*) > 1) d"),
            0);

  // Both API processes took orders; both relays' figures add up to one completion per event.
  const double api0 = MetricSum(Scrape(s.extra_metrics_port(api[0])), "grpc_server_handled_total",
                                {"grpc_method=\"CreateOrder\"", "grpc_code=\"OK\""});
  const double api1 = MetricSum(Scrape(s.extra_metrics_port(api[1])), "grpc_server_handled_total",
                                {"grpc_method=\"CreateOrder\"", "grpc_code=\"OK\""});
  EXPECT_EQ(api0 + api1, kOrders);
  EXPECT_GT(api0, kOrders / 4);
  EXPECT_GT(api1, kOrders / 4);
  double completed = 0, claimed = 0;
  std::vector<double> per_relay;
  for (int r : relays) {
    auto m = Scrape(s.extra_metrics_port(r));
    per_relay.push_back(MetricSum(m, "orders_relay_completed_total"));
    completed += per_relay.back();
    claimed += MetricSum(m, "orders_relay_claimed_total");
    EXPECT_EQ(MetricSum(m, "orders_relay_lease_lost_total"), 0);
  }
  EXPECT_EQ(completed, kOrders);
  std::printf(
      "1,000 orders via 2 API replicas (%.0f + %.0f), created in %s, all paid after %s; "
      "relays completed %.0f + %.0f (claims %.0f)\n",
      api0, api1, absl::FormatDuration(created_in).c_str(), absl::FormatDuration(paid_in).c_str(),
      per_relay[0], per_relay[1], claimed);
}

}  // namespace

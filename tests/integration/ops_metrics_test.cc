// Metrics and logs of the real pair: the /metrics endpoints of both processes serve the listed
// series, with values that move as RPCs run (scraped over HTTP before and after), and the JSON
// RPC logs never hold a raw idempotency key or token.
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/orders_client.h"
#include "common/idempotency.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/ops_http.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"
#include "tests/support/wait.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::MetricSamples;
using testing_support::MetricSum;
using testing_support::Scrape;

// grpc_server_handled_total of `method` answered with `code` (the gRPC code's name).
double Handled(const MetricSamples& samples, const std::string& method, const std::string& code) {
  return MetricSum(
      samples, "grpc_server_handled_total",
      {absl::StrCat("grpc_method=\"", method, "\""), absl::StrCat("grpc_code=\"", code, "\"")});
}

constexpr char kOrderToken[] = "tok-order-secret-4711";
constexpr char kPaymentToken[] = "tok-payment-secret-0815";

orders::v1::CreateOrderRequest AnOrder(const std::string& method = "pm_card_visa", int qty = 1) {
  return testing_support::OrderOf("metrics-cust", "USD", {{"book", qty, 1250}}, method);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class OpsMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing_support::StackOptions options;
    options.metrics = true;
    options.order_args = {absl::StrCat("--tokens=", kOrderToken, "=acme"),
                          absl::StrCat("--payment_token=", kPaymentToken),
                          "--relay_backoff_initial=10ms", "--relay_backoff_max=200ms"};
    options.payment_args = {absl::StrCat("--tokens=", kPaymentToken, "=orders"),
                            "--flaky_failures=2"};
    auto stack = testing_support::ServiceStack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
    orders_client::ClientOptions client_options;
    client_options.target = stack_->order_addr();
    client_options.token = kOrderToken;
    auto client = orders_client::OrdersClient::Create(client_options);
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
  }

  MetricSamples Orders() { return Scrape(stack_->order_metrics_port()); }
  MetricSamples Payments() { return Scrape(stack_->payment_metrics_port()); }

  // Polls the order until it leaves CREATED.
  orders::v1::Order Settled(int64_t id) {
    orders::v1::Order order;
    EXPECT_TRUE(testing_support::Eventually(
        [&] {
          auto o = client_->GetOrder(id);
          if (o.ok()) order = *o;
          return o.ok() && o->status() != orders::v1::ORDER_STATUS_CREATED;
        },
        absl::Seconds(20), absl::StrCat("order ", id, " settled")));
    return order;
  }

  std::unique_ptr<testing_support::ServiceStack> stack_;
  std::unique_ptr<orders_client::OrdersClient> client_;
};

const std::vector<std::string> kCreate = {"grpc_method=\"CreateOrder\""};

TEST_F(OpsMetricsTest, SeriesAreServedAndMoveAsRpcsRun) {
  const MetricSamples before = Orders();
  const MetricSamples payments_before = Payments();
  ASSERT_FALSE(before.empty()) << "order metrics endpoint did not answer";
  ASSERT_FALSE(payments_before.empty()) << "payment metrics endpoint did not answer";
  // Present from the start: process, pool, outbox, relay and fault series.
  for (const char* name :
       {"process_resident_memory_bytes", "db_pool_size", "db_pool_connections_open",
        "db_pool_connections_in_use", "orders_outbox_pending", "orders_outbox_dead",
        "orders_outbox_oldest_pending_age_seconds", "orders_relay_claimed_total",
        "orders_relay_completed_total", "orders_relay_rescheduled_total",
        "orders_relay_buried_total", "orders_outbox_commit_to_sent_seconds",
        "orders_outbox_commit_to_sent_count"}) {
    EXPECT_TRUE(testing_support::HasMetric(before, name)) << name;
  }
  EXPECT_TRUE(testing_support::HasMetric(payments_before, "payments_injected_faults_total"));
  EXPECT_EQ(MetricSum(before, "grpc_server_handled_total", kCreate), 0);
  EXPECT_EQ(MetricSum(before, "orders_relay_completed_total"), 0);

  // 5 orders, one replay, one key reused with another body, one flaky card.
  std::vector<int64_t> ids;
  std::vector<std::string> keys;
  for (int i = 0; i < 5; ++i) {
    orders_client::CallInfo info;
    auto order = client_->CreateOrder(AnOrder(), {.info = &info});
    ASSERT_TRUE(order.ok()) << order.status();
    ids.push_back(order->id());
    keys.push_back(info.idempotency_key);
  }
  orders_client::CallInfo replay;
  ASSERT_TRUE(client_->CreateOrder(AnOrder(), {.idempotency_key = keys[0], .info = &replay}).ok());
  EXPECT_TRUE(replay.replayed);
  auto conflict = client_->CreateOrder(AnOrder("pm_card_visa", 9), {.idempotency_key = keys[1]});
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kFailedPrecondition);
  orders_client::CallInfo flaky_info;
  auto flaky = client_->CreateOrder(AnOrder("pm_card_flaky"), {.info = &flaky_info});
  ASSERT_TRUE(flaky.ok());
  ids.push_back(flaky->id());
  keys.push_back(flaky_info.idempotency_key);
  for (int64_t id : ids) EXPECT_EQ(Settled(id).status(), orders::v1::ORDER_STATUS_PAID);

  const MetricSamples after = Orders();
  EXPECT_EQ(Handled(after, "CreateOrder", "OK"), 7);
  EXPECT_EQ(Handled(after, "CreateOrder", "FAILED_PRECONDITION"), 1);
  EXPECT_EQ(MetricSum(after, "grpc_server_started_total", kCreate), 8);
  EXPECT_EQ(MetricSum(after, "grpc_server_handling_seconds_count", kCreate), 8);
  EXPECT_GT(MetricSum(after, "grpc_server_handling_seconds_sum", kCreate), 0);
  EXPECT_EQ(MetricSum(after, "grpc_server_handling_seconds_bucket",
                      {"grpc_method=\"CreateOrder\"", "le=\"+Inf\""}),
            8);
  EXPECT_EQ(MetricSum(after, "grpc_server_in_flight", kCreate), 0);
  EXPECT_EQ(MetricSum(after, "idempotency_replays_total", kCreate), 1);
  EXPECT_EQ(MetricSum(after, "idempotency_key_conflicts_total",
                      {"grpc_method=\"CreateOrder\"", "reason=\"IDEMPOTENCY_KEY_REUSED\""}),
            1);
  EXPECT_GE(Handled(after, "GetOrder", "OK"), 6);
  EXPECT_EQ(MetricSum(after, "orders_relay_completed_total"), 6);
  EXPECT_GE(MetricSum(after, "orders_relay_claimed_total"), 8);  // the flaky card twice more
  EXPECT_GE(MetricSum(after, "orders_relay_rescheduled_total"), 2);
  EXPECT_EQ(MetricSum(after, "orders_outbox_commit_to_sent_count"), 6);
  EXPECT_GT(MetricSum(after, "orders_outbox_commit_to_sent_seconds", {"quantile=\"0.5\""}), 0);
  EXPECT_EQ(MetricSum(after, "orders_outbox_pending"), 0);
  EXPECT_GE(MetricSum(after, "db_pool_connections_open", {"pool=\"orders\""}), 1);

  const MetricSamples payments_after = Payments();
  EXPECT_EQ(Handled(payments_after, "Charge", "OK"), 6);
  EXPECT_EQ(Handled(payments_after, "Charge", "UNAVAILABLE"), 2);
  EXPECT_EQ(MetricSum(payments_after, "payments_injected_faults_total", {"kind=\"flaky\""}), 2);
  EXPECT_GE(MetricSum(payments_after, "db_pool_connections_open", {"pool=\"payments\""}), 1);

  // Payments away: the outbox backs up, visible as pending and an ageing oldest event.
  stack_->KillPayment();
  auto stuck = client_->CreateOrder(AnOrder());
  ASSERT_TRUE(stuck.ok());
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        MetricSamples m = Orders();
        return MetricSum(m, "orders_outbox_pending") == 1 &&
               MetricSum(m, "orders_outbox_oldest_pending_age_seconds") > 0.2;
      },
      absl::Seconds(10), "one pending event, ageing"));
  ASSERT_TRUE(stack_->StartPayment().ok());
  EXPECT_EQ(Settled(stuck->id()).status(), orders::v1::ORDER_STATUS_PAID);
  EXPECT_TRUE(
      testing_support::Eventually([&] { return MetricSum(Orders(), "orders_outbox_pending") == 0; },
                                  absl::Seconds(10), "outbox drained"));

  // Logs: one JSON object per line, keys only as hashes, never a token.
  const std::string order_log = ReadFile(stack_->dir() + "/order.log");
  const std::string payment_log = ReadFile(stack_->dir() + "/payment.log");
  int json_lines = 0;
  for (absl::string_view line : absl::StrSplit(order_log + "\n" + payment_log, '\n')) {
    if (!absl::StartsWith(line, "{")) continue;
    google::protobuf::Struct parsed;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &parsed).ok())
        << line;
    ++json_lines;
  }
  EXPECT_GT(json_lines, 20);
  for (const std::string& key : keys) {
    if (key.empty()) continue;
    EXPECT_THAT(order_log, Not(HasSubstr(key)));
    EXPECT_THAT(payment_log, Not(HasSubstr(key)));
    EXPECT_THAT(order_log, HasSubstr(absl::StrCat("\"key_hash\":\"", common::ShortHash(key))));
  }
  for (const char* secret : {kOrderToken, kPaymentToken}) {
    EXPECT_THAT(order_log, Not(HasSubstr(secret)));
    EXPECT_THAT(payment_log, Not(HasSubstr(secret)));
  }
  // The relay's derived keys reach payments as hashes too.
  for (int64_t id : ids) {
    EXPECT_THAT(payment_log, Not(HasSubstr(absl::StrCat(":order:", id, "\""))));
  }
  EXPECT_THAT(order_log, HasSubstr("\"replayed\":true"));
  EXPECT_THAT(order_log, HasSubstr("\"reason\":\"IDEMPOTENCY_KEY_REUSED\""));
  EXPECT_THAT(payment_log, HasSubstr(absl::StrCat("\"order_id\":", ids[0])));
}

TEST_F(OpsMetricsTest, LogRpcsFalseSilencesTheLinesButNotTheMetrics) {
  stack_->KillOrder();
  const std::string log_path = stack_->dir() + "/order.log";
  const size_t logged_before = ReadFile(log_path).size();
  ASSERT_TRUE(stack_->StartOrder({"--log_rpcs=false"}).ok());
  orders_client::ClientOptions client_options;
  client_options.target = stack_->order_addr();
  client_options.token = kOrderToken;
  auto client = orders_client::OrdersClient::Create(client_options);
  ASSERT_TRUE(client.ok());
  auto order = (*client)->CreateOrder(AnOrder());
  ASSERT_TRUE(order.ok()) << order.status();
  ASSERT_TRUE((*client)->GetOrder(order->id()).ok());
  const std::string tail = ReadFile(log_path).substr(logged_before);
  EXPECT_THAT(tail, Not(HasSubstr("\"method\":")));
  EXPECT_EQ(MetricSum(Orders(), "grpc_server_handled_total", kCreate), 1);
}

}  // namespace

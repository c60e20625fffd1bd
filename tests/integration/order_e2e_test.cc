// The pair end to end: real order_service and payment_service processes, real PostgreSQL.
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/client_context.h"
#include "common/errors.h"
#include "common/status_mapper.h"
#include "gtest/gtest.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

using testing_support::ServiceStack;
constexpr auto& Count = testing_support::ScalarOrError;
using testing_support::StackOptions;

orders::v1::CreateOrderRequest OrderRequest(const std::string& method = "pm_card_visa",
                                            int quantity = 3) {
  return testing_support::OrderOf("cust-e2e", "USD", {{"book", quantity, 1250}}, method);
}

struct CallResult {
  grpc::Status status;
  orders::v1::CreateOrderResponse response;
  bool replayed = false;
};

CallResult Create(ServiceStack& stack, const orders::v1::CreateOrderRequest& request,
                  const std::string& key, absl::Duration timeout = absl::Seconds(10)) {
  CallResult result;
  auto context = common::NewClientContext({.timeout = timeout, .idempotency_key = key});
  result.status = stack.orders().CreateOrder(context.get(), request, &result.response);
  const auto& initial = context->GetServerInitialMetadata();
  auto it = initial.find("idempotent-replayed");
  result.replayed = it != initial.end() && it->second == "true";
  return result;
}

std::string ReasonOf(const grpc::Status& status) {
  return common::ErrorReason(common::FromGrpcStatus(status)).value_or("");
}

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }
  void Start(const StackOptions& options) {
    auto stack = ServiceStack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
  }
  std::unique_ptr<ServiceStack> stack_;
};

TEST_F(EndToEndTest, RetryWithSameKeyReplaysAndOrderIsPaidOnce) {
  const absl::Time start = absl::Now();
  CallResult first = Create(*stack_, OrderRequest(), "e2e-key-1");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_FALSE(first.replayed);
  CallResult second = Create(*stack_, OrderRequest(), "e2e-key-1");
  ASSERT_TRUE(second.status.ok());
  EXPECT_TRUE(second.replayed);
  const int64_t id = first.response.order().id();
  EXPECT_EQ(second.response.order().id(), id);
  EXPECT_EQ(second.response.SerializeAsString(), first.response.SerializeAsString());

  auto order = stack_->WaitForSettled(id, absl::Seconds(5));
  ASSERT_TRUE(order.ok()) << order.status();
  const absl::Duration to_paid = absl::Now() - start;
  EXPECT_EQ(order->status(), orders::v1::ORDER_STATUS_PAID);
  // A figure, not an assertion (a slower machine takes longer): that the relay is woken by the
  // commit rather than its poll is OutboxTest.ANotifyWakesAnIdleRelayAtOnce.
  std::printf("create -> PAID observed after %s\n", absl::FormatDuration(to_paid).c_str());
  auto charges = stack_->ChargesOf(id);
  ASSERT_TRUE(charges.ok()) << charges.status();
  ASSERT_EQ(charges->size(), 1u);
  EXPECT_EQ((*charges)[0].amount_cents(), 3 * 1250);
  EXPECT_EQ((*charges)[0].status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
  EXPECT_EQ(order->charge_id(), (*charges)[0].id());
}

TEST_F(EndToEndTest, DeclinedCardEndsPaymentFailedWithOneDeclinedCharge) {
  CallResult created = Create(*stack_, OrderRequest("pm_card_declined"), "declined-1");
  ASSERT_TRUE(created.status.ok()) << created.status.error_message();
  auto order = stack_->WaitForSettled(created.response.order().id(), absl::Seconds(5));
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->status(), orders::v1::ORDER_STATUS_PAYMENT_FAILED);
  EXPECT_FALSE(order->decline_reason().empty());
  auto charges = stack_->ChargesOf(order->id());
  ASSERT_TRUE(charges.ok());
  ASSERT_EQ(charges->size(), 1u);
  EXPECT_EQ((*charges)[0].status(), payments::v1::CHARGE_STATUS_DECLINED);
}

TEST_F(EndToEndTest, SixteenConcurrentCallsWithOneKeyGiveOneOrderAndOneCharge) {
  std::vector<std::thread> threads;
  std::vector<CallResult> results(16);
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] { results[i] = Create(*stack_, OrderRequest(), "concurrent"); });
  }
  for (auto& t : threads) t.join();
  int fresh = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.response.order().id(), results[0].response.order().id());
    fresh += r.replayed ? 0 : 1;
  }
  EXPECT_EQ(fresh, 1);
  const int64_t id = results[0].response.order().id();
  ASSERT_TRUE(stack_->WaitForSettled(id, absl::Seconds(5)).ok());
  EXPECT_EQ(Count(stack_->order_db(), "SELECT count(*) FROM orders"), "1");
  EXPECT_EQ(Count(stack_->order_db(), "SELECT count(*) FROM outbox_events"), "1");
  EXPECT_EQ(stack_->ChargesOf(id)->size(), 1u);
}

TEST_F(EndToEndTest, ReusedKeyWithDifferentBodyIsRejectedAndWritesNothing) {
  ASSERT_TRUE(Create(*stack_, OrderRequest(), "reuse").status.ok());
  CallResult reused = Create(*stack_, OrderRequest("pm_card_visa", 4), "reuse");
  EXPECT_EQ(reused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(reused.status), "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(Count(stack_->order_db(), "SELECT count(*) FROM orders"), "1");
  EXPECT_EQ(Count(stack_->order_db(), "SELECT count(*) FROM order_items"), "1");
}

TEST_F(EndToEndTest, BadInputIsInvalidArgumentWithDetailsAndWritesNothing) {
  struct Case {
    std::string name;
    orders::v1::CreateOrderRequest request;
    std::string key;
    std::string reason;
  };
  std::vector<Case> cases;
  cases.push_back({"missing key", OrderRequest(), "", "IDEMPOTENCY_KEY_MISSING"});
  cases.push_back({"long key", OrderRequest(), std::string(256, 'k'), "IDEMPOTENCY_KEY_INVALID"});
  // Two copies of the header folded into one by a proxy.
  cases.push_back({"comma-joined key", OrderRequest(), "K3,K3", "IDEMPOTENCY_KEY_INVALID"});
  auto no_items = OrderRequest();
  no_items.clear_items();
  cases.push_back({"no items", no_items, "k1", "ORDER_INVALID"});
  auto zero_qty = OrderRequest("pm_card_visa", 0);
  cases.push_back({"zero quantity", zero_qty, "k2", "ORDER_INVALID"});
  auto negative = OrderRequest();
  negative.mutable_items(0)->set_unit_price_cents(-5);
  cases.push_back({"negative price", negative, "k3", "ORDER_INVALID"});
  auto overflow = OrderRequest("pm_card_visa", 1'000'000);
  overflow.mutable_items(0)->set_unit_price_cents(9'000'000'000'000'000'000);
  cases.push_back({"overflow", overflow, "k4", "ORDER_INVALID"});
  auto currency = OrderRequest();
  currency.set_currency("DOGE");
  cases.push_back({"unknown currency", currency, "k5", "ORDER_INVALID"});
  auto oversized = OrderRequest();
  oversized.set_customer_id(std::string(10'000, 'x'));
  cases.push_back({"oversized customer", oversized, "k6", "ORDER_INVALID"});
  for (const auto& c : cases) {
    CallResult r = Create(*stack_, c.request, c.key);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_EQ(ReasonOf(r.status), c.reason) << c.name;
    EXPECT_FALSE(common::ViolatedFields(common::FromGrpcStatus(r.status)).empty()) << c.name;
  }
  EXPECT_EQ(Count(stack_->order_db(), "SELECT count(*) FROM orders"), "0");
  EXPECT_EQ(Count(stack_->order_db(), "SELECT count(*) FROM idempotency_keys"), "0");
  EXPECT_EQ(Count(stack_->order_db(), "SELECT count(*) FROM outbox_events"), "0");
  // Bad input was not stored: the corrected request succeeds under the same key.
  EXPECT_TRUE(Create(*stack_, OrderRequest(), "k1").status.ok());
  // The folded key wrote nothing: a retry with the single key is the one and only order.
  CallResult k3 = Create(*stack_, OrderRequest(), "K3");
  ASSERT_TRUE(k3.status.ok());
  EXPECT_TRUE(Create(*stack_, OrderRequest(), "K3").status.ok());
  EXPECT_EQ(Count(stack_->order_db(), "SELECT count(*) FROM orders"), "2");
}

TEST_F(EndToEndTest, UnknownOrderIsNotFound) {
  orders::v1::GetOrderRequest request;
  request.set_id(987654);
  orders::v1::Order order;
  auto context = common::NewClientContext({});
  grpc::Status status = stack_->orders().GetOrder(context.get(), request, &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(status), "ORDER_NOT_FOUND");
}

// The payment service commits the charge and dies before replying; after a restart the relay's
// retry with the same derived key finds the charge instead of making a second one.
TEST_F(EndToEndTest, PaymentServiceKilledBetweenChargeAndReplyStillChargesOnce) {
  stack_->KillPayment();
  ASSERT_TRUE(stack_->StartPayment({"--failpoints=payment_after_charge_commit"}).ok());
  CallResult created = Create(*stack_, OrderRequest(), "crash-1");
  ASSERT_TRUE(created.status.ok()) << created.status.error_message();
  const int64_t id = created.response.order().id();
  ASSERT_TRUE(testing_support::Eventually([&] { return !stack_->payment()->Running(); },
                                          absl::Seconds(10),
                                          "payment_service to hit its failpoint"));
  ASSERT_TRUE(stack_->StartPayment().ok());
  auto order = stack_->WaitForSettled(id, absl::Seconds(20));
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->status(), orders::v1::ORDER_STATUS_PAID);
  auto charges = stack_->ChargesOf(id);
  ASSERT_TRUE(charges.ok()) << charges.status();
  EXPECT_EQ(charges->size(), 1u);
  EXPECT_EQ(Count(stack_->payment_db(), "SELECT count(*) FROM charges"), "1");
}

// The payment service charges but the reply is lost; the relay retries until the outcome is
// definite, and the retry replays the first charge.
TEST_F(EndToEndTest, RelayRetryAfterDroppedReplyDoesNotChargeTwice) {
  payments::v1::FaultConfig faults;
  faults.set_fail_after_charge(1.0);
  payments::v1::FaultConfig applied;
  {
    auto context = common::NewClientContext({});
    ASSERT_TRUE(stack_->faults().SetFaults(context.get(), faults, &applied).ok());
  }
  CallResult created = Create(*stack_, OrderRequest(), "dropped-1");
  ASSERT_TRUE(created.status.ok());
  const int64_t id = created.response.order().id();
  // Wait for at least two lost replies, so the relay has retried at least once.
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        payments::v1::FaultState state;
        auto context = common::NewClientContext({});
        return stack_->faults().GetFaults(context.get(), {}, &state).ok() &&
               state.injected_fail_after_charge() >= 2;
      },
      absl::Seconds(10), "two dropped replies"));
  faults.set_fail_after_charge(0);
  {
    auto context = common::NewClientContext({});
    ASSERT_TRUE(stack_->faults().SetFaults(context.get(), faults, &applied).ok());
  }
  auto order = stack_->WaitForSettled(id, absl::Seconds(20));
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->status(), orders::v1::ORDER_STATUS_PAID);
  EXPECT_EQ(stack_->ChargesOf(id)->size(), 1u);
  EXPECT_EQ(Count(stack_->payment_db(), "SELECT count(*) FROM charges"), "1");
}

// The order service dies after committing, before answering: the client's retry with the same
// key gets the committed order, and it is charged once.
TEST_F(EndToEndTest, OrderServiceKilledAfterCommitRetryGetsTheSameOrder) {
  stack_->KillOrder();
  // A short lease: the dying process's relay may have claimed the event in its last instant.
  ASSERT_TRUE(stack_->StartOrder({"--failpoints=order_after_commit", "--relay_lease=2s"}).ok());
  CallResult lost = Create(*stack_, OrderRequest(), "order-crash");
  EXPECT_EQ(lost.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(testing_support::Eventually([&] { return !stack_->order()->Running(); },
                                          absl::Seconds(10), "order_service to die"));
  ASSERT_TRUE(stack_->StartOrder().ok());
  CallResult retry = Create(*stack_, OrderRequest(), "order-crash");
  ASSERT_TRUE(retry.status.ok()) << retry.status.error_message();
  EXPECT_TRUE(retry.replayed);
  auto order = stack_->WaitForSettled(retry.response.order().id(), absl::Seconds(15));
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->status(), orders::v1::ORDER_STATUS_PAID);
  EXPECT_EQ(Count(stack_->order_db(), "SELECT count(*) FROM orders"), "1");
  EXPECT_EQ(stack_->ChargesOf(order->id())->size(), 1u);
}

}  // namespace

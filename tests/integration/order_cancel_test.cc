// CancelOrder end to end (seed 003, pattern 2): ids never reused, NOT_FOUND vs
// ALREADY_CANCELLED, replay under the same key, and no money held after a cancel — whatever the
// race with a charge in flight.
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
constexpr auto& Scalar = testing_support::ScalarOrError;

int64_t CreateOrder(ServiceStack& stack, const std::string& key) {
  const orders::v1::CreateOrderRequest request =
      testing_support::OrderOf("cancel-customer", "EUR", {{"lamp", 1, 4200}});
  auto context = common::NewClientContext({.idempotency_key = key});
  orders::v1::CreateOrderResponse response;
  grpc::Status status = stack.orders().CreateOrder(context.get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.order().id();
}

struct CancelCall {
  grpc::Status status;
  orders::v1::CancelOrderResponse response;
  bool replayed = false;
};

CancelCall Cancel(ServiceStack& stack, int64_t id, const std::string& key) {
  orders::v1::CancelOrderRequest request;
  request.set_id(id);
  request.set_reason("customer request");
  auto context = common::NewClientContext({.idempotency_key = key});
  CancelCall call;
  call.status = stack.orders().CancelOrder(context.get(), request, &call.response);
  auto it = context->GetServerInitialMetadata().find("idempotent-replayed");
  call.replayed = it != context->GetServerInitialMetadata().end();
  return call;
}

std::string ReasonOf(const grpc::Status& status) {
  return common::ErrorReason(common::FromGrpcStatus(status)).value_or("");
}

int64_t CapturedCents(ServiceStack& stack) {
  payments::v1::LedgerSummary summary;
  auto context = common::NewClientContext({});
  EXPECT_TRUE(stack.payments().GetLedgerSummary(context.get(), {}, &summary).ok());
  EXPECT_LE(summary.captured_totals_size(), 1) << summary.ShortDebugString();
  return summary.captured_totals().empty() ? 0 : summary.captured_totals(0).amount_minor_units();
}

TEST(CancelOrderTest, ReplaysNotFoundAlreadyCancelledAndRefundsThePaidCharge) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  const int64_t id = CreateOrder(**stack, "create-1");
  auto paid = (*stack)->WaitForSettled(id, absl::Seconds(5));
  ASSERT_TRUE(paid.ok() && paid->status() == orders::v1::ORDER_STATUS_PAID);
  EXPECT_EQ(CapturedCents(**stack), 4200);

  CancelCall first = Cancel(**stack, id, "cancel-1");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(first.response.order().status(), orders::v1::ORDER_STATUS_CANCELLED);
  CancelCall replay = Cancel(**stack, id, "cancel-1");
  ASSERT_TRUE(replay.status.ok());
  EXPECT_TRUE(replay.replayed);
  EXPECT_EQ(replay.response.SerializeAsString(), first.response.SerializeAsString());

  CancelCall other = Cancel(**stack, id, "cancel-2");
  EXPECT_EQ(other.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(other.status), "ORDER_ALREADY_CANCELLED");
  CancelCall unknown = Cancel(**stack, id + 1000, "cancel-3");
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(unknown.status), "ORDER_NOT_FOUND");

  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        auto charges = (*stack)->ChargesOf(id);
        return charges.ok() && charges->size() == 1 &&
               (*charges)[0].status() == payments::v1::CHARGE_STATUS_REFUNDED;
      },
      absl::Seconds(10), "the charge to be refunded"));
  EXPECT_EQ(CapturedCents(**stack), 0);
  EXPECT_EQ(testing_support::CountOutboxEvents((*stack)->order_db(), "REFUND"), "1");
  EXPECT_EQ(testing_support::CountUnfinishedOutboxEvents((*stack)->order_db()), "0");
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT status FROM orders"), "4");
}

TEST(CancelOrderTest, CancelsRacingWithChargesInFlightLeaveNoMoneyHeld) {
  // Slow payments: some cancels land while the charge is in flight, some before it starts.
  auto stack =
      ServiceStack::Start({.payment_args = {"--latency_ms=150", "--latency_jitter_ms=140"}});
  ASSERT_TRUE(stack.ok()) << stack.status();
  std::vector<int64_t> ids;
  std::vector<std::thread> cancellers;
  for (int i = 0; i < 30; ++i) {
    const int64_t id = CreateOrder(**stack, absl::StrCat("race-", i));
    ids.push_back(id);
    cancellers.emplace_back([&stack, id, i] {
      absl::SleepFor(absl::Milliseconds(i * 11 % 200));
      EXPECT_TRUE(Cancel(**stack, id, absl::StrCat("cancel-", id)).status.ok());
    });
  }
  for (auto& t : cancellers) t.join();
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar((*stack)->order_db(),
                      "SELECT count(*) FROM outbox_events WHERE status <> 'DONE'") == "0";
      },
      absl::Seconds(30), "every CHARGE and REFUND to finish"));
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM orders WHERE status = 4"), "30");
  int refunded = 0, voided = 0, never_charged = 0;
  for (int64_t id : ids) {
    auto charges = (*stack)->ChargesOf(id);
    ASSERT_TRUE(charges.ok());
    ASSERT_LE(charges->size(), 1u);
    if (charges->empty()) {
      ++never_charged;
      continue;
    }
    const auto status = (*charges)[0].status();
    EXPECT_TRUE(status == payments::v1::CHARGE_STATUS_REFUNDED ||
                status == payments::v1::CHARGE_STATUS_VOIDED)
        << "order " << id << " holds money: " << payments::v1::ChargeStatus_Name(status);
    refunded += status == payments::v1::CHARGE_STATUS_REFUNDED;
    voided += status == payments::v1::CHARGE_STATUS_VOIDED;
  }
  EXPECT_EQ(CapturedCents(**stack), 0);
  std::printf("30 cancels racing charges: %d refunded, %d voided (tombstone), %d never charged\n",
              refunded, voided, never_charged);
}

TEST(CancelOrderTest, ShippingAddressIsSetDeclarativelyWithoutAKey) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  const int64_t id = CreateOrder(**stack, "create-addr");
  orders::v1::SetShippingAddressRequest request;
  request.set_id(id);
  request.mutable_address()->set_name("Taro");
  request.mutable_address()->set_line1("1 Chome");
  request.mutable_address()->set_city("Osaka");
  request.mutable_address()->set_country("JP");
  for (int i = 0; i < 2; ++i) {
    orders::v1::Order order;
    auto context = common::NewClientContext({});
    ASSERT_TRUE((*stack)->orders().SetShippingAddress(context.get(), request, &order).ok());
    EXPECT_EQ(order.shipping_address().city(), "Osaka");
  }
  request.mutable_address()->set_country("");
  orders::v1::Order order;
  auto context = common::NewClientContext({});
  grpc::Status bad = (*stack)->orders().SetShippingAddress(context.get(), request, &order);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ReasonOf(bad), "ADDRESS_INVALID");
}

}  // namespace

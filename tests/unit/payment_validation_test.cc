// Charge/Refund request validation: each bad field gives INVALID_ARGUMENT with its reason and a
// BadRequest violation naming the field.
#include <string>
#include <vector>

#include "common/errors.h"
#include "gtest/gtest.h"
#include "payment_service/validation.h"

namespace payment_service {
namespace {

payments::v1::ChargeRequest Good() {
  payments::v1::ChargeRequest r;
  r.set_order_id(1);
  r.set_amount_cents(1250);
  r.set_currency("USD");
  r.set_payment_method("pm_card_visa");
  r.set_customer_id("c");
  return r;
}

struct Case {
  std::string name;
  void (*mutate)(payments::v1::ChargeRequest&);
  std::string reason;
  std::string field;
};

TEST(PaymentValidationTest, GoodChargeAndEveryTestMethodPass) {
  EXPECT_TRUE(ValidateCharge(Good()).ok());
  for (const char* method : {"pm_card_visa", "pm_card_mastercard", "pm_card_amex",
                             "pm_card_declined", "pm_card_insufficient_funds", "pm_card_flaky"}) {
    auto r = Good();
    r.set_payment_method(method);
    EXPECT_TRUE(ValidateCharge(r).ok()) << method;
  }
  for (const char* currency : {"USD", "EUR", "JPY", "GBP", "CHF", "CAD", "AUD"}) {
    auto r = Good();
    r.set_currency(currency);
    EXPECT_TRUE(ValidateCharge(r).ok()) << currency;
  }
  auto max = Good();
  max.set_amount_cents(1'000'000'000'000);
  EXPECT_TRUE(ValidateCharge(max).ok());
}

TEST(PaymentValidationTest, EachBadFieldHasItsReasonAndViolation) {
  const std::vector<Case> cases = {
      {"order 0", [](auto& r) { r.set_order_id(0); }, "ORDER_ID_INVALID", "order_id"},
      {"order -1", [](auto& r) { r.set_order_id(-1); }, "ORDER_ID_INVALID", "order_id"},
      {"amount 0", [](auto& r) { r.set_amount_cents(0); }, "AMOUNT_INVALID", "amount_cents"},
      {"amount -1", [](auto& r) { r.set_amount_cents(-1); }, "AMOUNT_INVALID", "amount_cents"},
      {"amount 10^12+1", [](auto& r) { r.set_amount_cents(1'000'000'000'001); }, "AMOUNT_INVALID",
       "amount_cents"},
      {"currency empty", [](auto& r) { r.set_currency(""); }, "CURRENCY_UNSUPPORTED", "currency"},
      {"currency lower", [](auto& r) { r.set_currency("eur"); }, "CURRENCY_UNSUPPORTED",
       "currency"},
      {"currency XXX", [](auto& r) { r.set_currency("XXX"); }, "CURRENCY_UNSUPPORTED", "currency"},
      {"method empty", [](auto& r) { r.set_payment_method(""); }, "PAYMENT_METHOD_INVALID",
       "payment_method"},
      {"method unknown", [](auto& r) { r.set_payment_method("tok_visa"); },
       "PAYMENT_METHOD_INVALID", "payment_method"},
      // A real provider refuses a card method it does not know; the mock once charged it.
      {"pm_card_ method unknown", [](auto& r) { r.set_payment_method("pm_card_unknown"); },
       "PAYMENT_METHOD_INVALID", "payment_method"},
      {"customer too long", [](auto& r) { r.set_customer_id(std::string(256, 'c')); },
       "CUSTOMER_ID_INVALID", "customer_id"},
  };
  for (const Case& c : cases) {
    auto r = Good();
    c.mutate(r);
    const absl::Status s = ValidateCharge(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(common::ErrorReason(s).value_or(""), c.reason) << c.name;
    EXPECT_EQ(common::ViolatedFields(s), std::vector<std::string>{c.field}) << c.name;
  }
}

TEST(PaymentValidationTest, SeveralBadFieldsAreAllListed) {
  payments::v1::ChargeRequest r;  // everything missing
  const absl::Status s = ValidateCharge(r);
  EXPECT_EQ(common::ErrorReason(s).value_or(""), "ORDER_ID_INVALID");
  EXPECT_EQ(common::ViolatedFields(s),
            (std::vector<std::string>{"order_id", "amount_cents", "currency", "payment_method"}));
}

TEST(PaymentValidationTest, RefundNeedsAVisibleChargeKey) {
  payments::v1::RefundRequest r;
  EXPECT_EQ(common::ErrorReason(ValidateRefund(r)).value_or(""), "CHARGE_KEY_INVALID");
  r.set_charge_key("has space");
  EXPECT_EQ(common::ErrorReason(ValidateRefund(r)).value_or(""), "CHARGE_KEY_INVALID");
  r.set_charge_key(std::string(256, 'k'));
  EXPECT_EQ(ValidateRefund(r).code(), absl::StatusCode::kInvalidArgument);
  r.set_charge_key("charge:order:42");
  EXPECT_TRUE(ValidateRefund(r).ok());
  r.set_reason(std::string(1001, 'r'));
  EXPECT_EQ(common::ErrorReason(ValidateRefund(r)).value_or(""), "REASON_INVALID");
}

// Limits are documented in characters and counted so, not in bytes: 255 kanji (765 bytes) is a
// valid customer id, 1000 kanji a valid refund reason; one more character is not.
TEST(PaymentValidationTest, LengthsAreCountedInCharacters) {
  std::string customer;
  for (int i = 0; i < 255; ++i) customer += "顧";
  auto r = Good();
  r.set_customer_id(customer);
  EXPECT_TRUE(ValidateCharge(r).ok()) << ValidateCharge(r);
  r.set_customer_id(customer + "x");
  EXPECT_EQ(common::ViolatedFields(ValidateCharge(r)), std::vector<std::string>{"customer_id"});

  std::string reason;
  for (int i = 0; i < 1000; ++i) reason += "返";
  payments::v1::RefundRequest refund;
  refund.set_charge_key("charge:order:42");
  refund.set_reason(reason);
  EXPECT_TRUE(ValidateRefund(refund).ok()) << ValidateRefund(refund);
  refund.set_reason(reason + "x");
  EXPECT_EQ(common::ErrorReason(ValidateRefund(refund)).value_or(""), "REASON_INVALID");
}

}  // namespace
}  // namespace payment_service

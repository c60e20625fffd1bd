#include "payment_service/validation.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/currency.h"
#include "common/errors.h"
#include "common/storable_text.h"

namespace payment_service {
namespace {

// Collects violations; the reason of the error is the first violation's.
class Violations {
 public:
  void Add(absl::string_view reason, absl::string_view field, std::string description) {
    if (reason_.empty()) reason_ = std::string(reason);
    violations_.push_back({std::string(field), std::move(description)});
  }
  absl::Status ToStatus(absl::string_view what) const {
    if (violations_.empty()) return absl::OkStatus();
    std::string message = absl::StrCat("invalid ", what, ":");
    for (const auto& v : violations_) {
      absl::StrAppend(&message, " ", v.field, " ", v.description, ";");
    }
    message.pop_back();
    return common::InvalidArgument(reason_, message, violations_);
  }

 private:
  std::string reason_;
  std::vector<common::FieldViolation> violations_;
};

bool IsVisibleAscii(absl::string_view text) {
  for (char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

bool IsKnownPaymentMethod(absl::string_view method) {
  for (absl::string_view known :
       {"pm_card_visa", "pm_card_mastercard", "pm_card_amex", "pm_card_declined",
        "pm_card_insufficient_funds", "pm_card_flaky"}) {
    if (method == known) return true;
  }
  return false;
}

absl::Status ValidateCharge(const payments::v1::ChargeRequest& request) {
  Violations v;
  if (request.order_id() <= 0) {
    v.Add("ORDER_ID_INVALID", "order_id", "must be a positive order id");
  }
  if (request.amount_cents() <= 0) {
    v.Add("AMOUNT_INVALID", "amount_cents", "must be greater than zero");
  } else if (request.amount_cents() > common::kMaxAmountCents) {
    v.Add("AMOUNT_INVALID", "amount_cents",
          absl::StrCat("must be at most ", common::kMaxAmountCents));
  }
  if (!common::IsSupportedCurrency(request.currency())) {
    v.Add("CURRENCY_UNSUPPORTED", "currency",
          "must be an upper-case ISO 4217 code this provider supports (USD, EUR, JPY, ...)");
  }
  const std::string& method = request.payment_method();
  if (method.empty()) {
    v.Add("PAYMENT_METHOD_INVALID", "payment_method", "is required");
  } else if (!IsKnownPaymentMethod(method)) {
    // A real provider refuses a method it does not know; so does the mock.
    v.Add("PAYMENT_METHOD_INVALID", "payment_method",
          "unknown payment method; test methods are pm_card_visa, pm_card_mastercard, "
          "pm_card_amex, pm_card_declined, pm_card_insufficient_funds, pm_card_flaky");
  }
  if (common::CharacterCount(request.customer_id()) > kMaxTextLength) {
    v.Add("CUSTOMER_ID_INVALID", "customer_id", "must be at most 255 characters");
  }
  return v.ToStatus("charge request");
}

// The charge_key rule of Refund and GetCharge.
static void CheckChargeKey(absl::string_view key, Violations& v) {
  if (key.empty()) {
    v.Add("CHARGE_KEY_INVALID", "charge_key", "is required: the idempotency key of the charge");
  } else if (key.size() > kMaxTextLength || !IsVisibleAscii(key)) {
    v.Add("CHARGE_KEY_INVALID", "charge_key", "must be 1-255 visible ASCII characters");
  }
}

absl::Status ValidateChargeKey(absl::string_view charge_key) {
  Violations v;
  CheckChargeKey(charge_key, v);
  return v.ToStatus("charge key");
}

absl::Status ValidateRefund(const payments::v1::RefundRequest& request) {
  Violations v;
  CheckChargeKey(request.charge_key(), v);
  if (common::CharacterCount(request.reason()) > kMaxReasonLength) {
    v.Add("REASON_INVALID", "reason", "must be at most 1000 characters");
  }
  return v.ToStatus("refund request");
}

}  // namespace payment_service

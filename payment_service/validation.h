// Request validation: INVALID_ARGUMENT with an ErrorInfo reason and BadRequest field violations
// (common::InvalidArgument). Invalid requests are never stored, so a fixed request may reuse
// the key.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "payments/v1/payments.pb.h"

namespace payment_service {

// Length limits in characters (Unicode code points, common::CharacterCount), as documented in
// payments.proto; never in bytes.
inline constexpr size_t kMaxTextLength = 255;
inline constexpr size_t kMaxReasonLength = 1000;

// Amounts are 1..common::kMaxAmountCents; currencies those of common::IsSupportedCurrency;
// customer_id at most kMaxTextLength characters. Reasons: ORDER_ID_INVALID, AMOUNT_INVALID,
// CURRENCY_UNSUPPORTED, PAYMENT_METHOD_INVALID, CUSTOMER_ID_INVALID (the first failing field
// names the reason; every failing field is listed). Text PostgreSQL cannot store (a NUL) is
// refused before this, by the adapter (common::CheckStorableText).
absl::Status ValidateCharge(const payments::v1::ChargeRequest& request);

// INVALID_ARGUMENT CHARGE_KEY_INVALID unless 1-255 visible ASCII characters.
absl::Status ValidateChargeKey(absl::string_view charge_key);

// charge_key 1-255 visible ASCII characters; reason at most kMaxReasonLength characters.
// Reasons: CHARGE_KEY_INVALID, REASON_INVALID.
absl::Status ValidateRefund(const payments::v1::RefundRequest& request);

}  // namespace payment_service

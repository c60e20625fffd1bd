// Rules both ledger implementations share, so they answer identically: the errors, how a
// response message is built from a stored row, and what a refund does to a charge of each status.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "payments/v1/payments.pb.h"

namespace payment_service {

// The key errors are the idempotency protocol's, common to both services (common/idempotency.h).
// NOT_FOUND CHARGE_NOT_FOUND.
absl::Status ChargeNotFoundError(int64_t id);
// NOT_FOUND CHARGE_NOT_FOUND for a lookup by key (the key itself is not echoed, only a hash).
absl::Status ChargeKeyNotFoundError(absl::string_view charge_key);

// The Charge answered for a request. `amount_cents` is what was asked for; money moved only
// when the status is SUCCEEDED (and went back when it is REFUNDED).
payments::v1::Charge MakeCharge(int64_t id, absl::Time created, absl::string_view charge_key,
                                const payments::v1::ChargeRequest& request,
                                payments::v1::ChargeStatus status,
                                absl::string_view decline_reason);

payments::v1::Refund MakeRefund(int64_t id, absl::Time created, absl::string_view charge_key,
                                int64_t charge_id, int64_t amount_cents,
                                payments::v1::RefundStatus status);

// What refunding a charge in `status` does: SUCCEEDED -> money back, DECLINED -> nothing to
// refund, VOIDED (a tombstone) -> voided before charge.
payments::v1::RefundStatus RefundStatusFor(payments::v1::ChargeStatus status);

// Short names as stored ("SUCCEEDED", "VOIDED_BEFORE_CHARGE", ...) and back.
std::string ChargeStatusName(payments::v1::ChargeStatus status);
absl::StatusOr<payments::v1::ChargeStatus> ParseChargeStatus(absl::string_view name);
std::string RefundStatusName(payments::v1::RefundStatus status);
absl::StatusOr<payments::v1::RefundStatus> ParseRefundStatus(absl::string_view name);

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out);
absl::Time TimeOf(const google::protobuf::Timestamp& timestamp);

// Adds `count` charges of `status` in `currency`, for `amount_minor_units` together, to a summary
// being built: buckets in status order, each with its totals per currency; captured_totals from
// SUCCEEDED (money held now, so net of refunds: a refunded charge is REFUNDED). Amounts of two
// currencies are never added together (common::AddToTotals); the deprecated amount_cents and
// captured_cents say the single currency's amount, or 0 (common::SingleCurrencyAmount).
void AddToSummary(payments::v1::ChargeStatus status, absl::string_view currency, int64_t count,
                  int64_t amount_minor_units, payments::v1::LedgerSummary* summary);

}  // namespace payment_service

#include "payment_service/ledger_rules.h"

#include "absl/strings/str_cat.h"
#include "common/currency.h"
#include "common/errors.h"
#include "common/idempotency.h"

namespace payment_service {
namespace {

using payments::v1::ChargeStatus;
using payments::v1::RefundStatus;

constexpr absl::string_view kChargePrefix = "CHARGE_STATUS_";
constexpr absl::string_view kRefundPrefix = "REFUND_STATUS_";

}  // namespace

absl::Status ChargeNotFoundError(int64_t id) {
  return common::ErrorWithReason(absl::StatusCode::kNotFound, "CHARGE_NOT_FOUND",
                                 absl::StrCat("no charge with id ", id),
                                 {{"charge_id", absl::StrCat(id)}});
}

absl::Status ChargeKeyNotFoundError(absl::string_view charge_key) {
  return common::ErrorWithReason(absl::StatusCode::kNotFound, "CHARGE_NOT_FOUND",
                                 "no charge and no tombstone under this charge key",
                                 {{"charge_key_hash", common::ShortHash(charge_key)}});
}

payments::v1::Charge MakeCharge(int64_t id, absl::Time created, absl::string_view charge_key,
                                const payments::v1::ChargeRequest& request, ChargeStatus status,
                                absl::string_view decline_reason) {
  payments::v1::Charge charge;
  charge.set_id(id);
  charge.set_order_id(request.order_id());
  charge.set_amount_cents(request.amount_cents());
  charge.set_currency(request.currency());
  charge.set_status(status);
  charge.set_decline_reason(std::string(decline_reason));
  charge.set_payment_method(request.payment_method());
  charge.set_customer_id(request.customer_id());
  charge.set_charge_key(std::string(charge_key));
  SetTimestamp(created, charge.mutable_create_time());
  return charge;
}

payments::v1::Refund MakeRefund(int64_t id, absl::Time created, absl::string_view charge_key,
                                int64_t charge_id, int64_t amount_cents, RefundStatus status) {
  payments::v1::Refund refund;
  refund.set_id(id);
  refund.set_charge_key(std::string(charge_key));
  refund.set_charge_id(charge_id);
  refund.set_amount_cents(amount_cents);
  refund.set_status(status);
  SetTimestamp(created, refund.mutable_create_time());
  return refund;
}

RefundStatus RefundStatusFor(ChargeStatus status) {
  switch (status) {
    case payments::v1::CHARGE_STATUS_SUCCEEDED:
    case payments::v1::CHARGE_STATUS_REFUNDED:
      return payments::v1::REFUND_STATUS_SUCCEEDED;
    case payments::v1::CHARGE_STATUS_DECLINED:
      return payments::v1::REFUND_STATUS_NOTHING_TO_REFUND;
    default:
      return payments::v1::REFUND_STATUS_VOIDED_BEFORE_CHARGE;
  }
}

std::string ChargeStatusName(ChargeStatus status) {
  return payments::v1::ChargeStatus_Name(status).substr(kChargePrefix.size());
}

absl::StatusOr<ChargeStatus> ParseChargeStatus(absl::string_view name) {
  ChargeStatus status;
  if (!payments::v1::ChargeStatus_Parse(absl::StrCat(kChargePrefix, name), &status)) {
    return absl::InternalError(absl::StrCat("unknown charge status in the ledger: ", name));
  }
  return status;
}

std::string RefundStatusName(RefundStatus status) {
  return payments::v1::RefundStatus_Name(status).substr(kRefundPrefix.size());
}

absl::StatusOr<RefundStatus> ParseRefundStatus(absl::string_view name) {
  RefundStatus status;
  if (!payments::v1::RefundStatus_Parse(absl::StrCat(kRefundPrefix, name), &status)) {
    return absl::InternalError(absl::StrCat("unknown refund status in the ledger: ", name));
  }
  return status;
}

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(time);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

absl::Time TimeOf(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

// The only writes of the deprecated single-number fields: their accessors are marked deprecated.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void AddToSummary(ChargeStatus status, absl::string_view currency, int64_t count,
                  int64_t amount_minor_units, payments::v1::LedgerSummary* summary) {
  auto* buckets = summary->mutable_buckets();
  int at = 0;
  while (at < buckets->size() && buckets->Get(at).status() < status) ++at;
  if (at == buckets->size() || buckets->Get(at).status() != status) {
    payments::v1::LedgerSummary::Bucket bucket;
    bucket.set_status(status);
    buckets->Add(std::move(bucket));
    for (int i = buckets->size() - 1; i > at; --i) buckets->SwapElements(i, i - 1);
  }
  auto* bucket = buckets->Mutable(at);
  bucket->set_count(bucket->count() + count);
  common::AddToTotals(bucket->mutable_totals(), currency, amount_minor_units);
  bucket->set_amount_cents(common::SingleCurrencyAmount(bucket->totals()));
  if (status == payments::v1::CHARGE_STATUS_SUCCEEDED) {
    common::AddToTotals(summary->mutable_captured_totals(), currency, amount_minor_units);
    summary->set_captured_cents(common::SingleCurrencyAmount(summary->captured_totals()));
  }
}
#pragma GCC diagnostic pop

}  // namespace payment_service

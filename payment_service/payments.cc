#include "payment_service/payments.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/failpoint.h"
#include "common/failpoint_names.h"
#include "common/idempotency.h"
#include "common/page_token.h"
#include "google/protobuf/util/time_util.h"
#include "payment_service/ledger_rules.h"
#include "payment_service/validation.h"

namespace payment_service {
namespace {

constexpr absl::Duration kRetryAfterUnavailable = absl::Milliseconds(50);

// UNAVAILABLE: retry this call (with the same key).
absl::Status ProcessorUnavailable(absl::string_view message, absl::string_view cause) {
  return common::WithRetryDelay(
      common::ErrorWithReason(absl::StatusCode::kUnavailable, "PROCESSOR_UNAVAILABLE", message,
                              {{"cause", std::string(cause)}}),
      kRetryAfterUnavailable);
}

}  // namespace

absl::Status Payments::BeforeWrite(absl::Time deadline, absl::string_view what) {
  if (const absl::Duration latency = faults_.NextLatency(); latency > absl::ZeroDuration()) {
    absl::SleepFor(latency);
  }
  if (faults_.NextFailBefore()) {
    return ProcessorUnavailable(
        absl::StrCat("the processor is unavailable; nothing was ", what, " (injected fault)"),
        "fail_before_charge");
  }
  if (absl::Now() >= deadline) {
    return absl::DeadlineExceededError(absl::StrCat("the deadline passed; nothing was ", what));
  }
  return absl::OkStatus();
}

absl::StatusOr<ChargeDecision> Payments::Decide(const RequestKey& key,
                                                const payments::v1::ChargeRequest& request) {
  const std::string& method = request.payment_method();
  if (method == "pm_card_declined") {
    return ChargeDecision{payments::v1::CHARGE_STATUS_DECLINED, "card_declined"};
  }
  if (method == "pm_card_insufficient_funds") {
    return ChargeDecision{payments::v1::CHARGE_STATUS_DECLINED, "insufficient_funds"};
  }
  if (method == "pm_card_flaky" && faults_.FlakyAttemptFails(key.caller, key.key)) {
    return ProcessorUnavailable("the card network timed out; retry with the same key",
                                "pm_card_flaky");
  }
  return ChargeDecision{payments::v1::CHARGE_STATUS_SUCCEEDED, ""};
}

absl::StatusOr<ChargeOutcome> Payments::Charge(const RequestKey& key,
                                               const payments::v1::ChargeRequest& request,
                                               absl::Time deadline) {
  if (absl::Status s = ValidateCharge(request); !s.ok()) return s;
  if (absl::Status s = BeforeWrite(deadline, "charged"); !s.ok()) return s;
  const std::string fingerprint = common::RequestFingerprint(kChargeMethod, request);
  absl::StatusOr<ChargeOutcome> outcome = ledger_.Charge(
      key, fingerprint, request, [&] { return Decide(key, request); }, deadline);
  if (!outcome.ok()) return outcome.status();
  if (!outcome->replayed) common::Failpoint(common::failpoints::kPaymentAfterChargeCommit);
  if (faults_.NextFailAfter()) {
    return ProcessorUnavailable("the connection was lost before the reply (injected fault)",
                                "fail_after_charge");
  }
  return outcome;
}

absl::StatusOr<RefundOutcome> Payments::Refund(const RequestKey& key,
                                               const payments::v1::RefundRequest& request,
                                               absl::Time deadline) {
  if (absl::Status s = ValidateRefund(request); !s.ok()) return s;
  if (absl::Status s = BeforeWrite(deadline, "refunded"); !s.ok()) return s;
  const std::string fingerprint = common::RequestFingerprint(kRefundMethod, request);
  absl::StatusOr<RefundOutcome> outcome = ledger_.Refund(key, fingerprint, request, deadline);
  if (!outcome.ok()) return outcome.status();
  if (!outcome->replayed) common::Failpoint(common::failpoints::kPaymentAfterRefundCommit);
  if (faults_.NextFailAfter()) {
    return ProcessorUnavailable("the connection was lost before the reply (injected fault)",
                                "fail_after_charge");
  }
  return outcome;
}

absl::StatusOr<payments::v1::Charge> Payments::GetCharge(
    absl::string_view caller, const payments::v1::GetChargeRequest& request, absl::Time deadline) {
  if (!request.charge_key().empty()) {
    if (request.id() != 0) {
      return common::InvalidArgument("CHARGE_ID_INVALID", "give id or charge_key, not both",
                                     {{"id", "must be 0 when charge_key is set"}});
    }
    if (absl::Status s = ValidateChargeKey(request.charge_key()); !s.ok()) return s;
    return ledger_.GetChargeByKey(caller, request.charge_key(), deadline);
  }
  if (request.id() <= 0) {
    return common::InvalidArgument("CHARGE_ID_INVALID", "id must be a positive charge id",
                                   {{"id", "must be positive"}});
  }
  return ledger_.GetCharge(caller, request.id(), deadline);
}

absl::StatusOr<payments::v1::ListChargesResponse> Payments::ListCharges(
    absl::string_view caller, const payments::v1::ListChargesRequest& request,
    absl::Time deadline) {
  std::vector<common::FieldViolation> violations;
  if (request.order_id() < 0) violations.push_back({"order_id", "must not be negative"});
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    violations.push_back({"page_size", absl::StrCat("must be between 0 and ", kMaxPageSize)});
  }
  // google.protobuf.Timestamp's own range (timestamp.proto: 0001-01-01T00:00:00Z to
  // 9999-12-31T23:59:59.999999999Z, nanos 0..999,999,999). Outside it the time has no meaning,
  // and PostgreSQL refused the microseconds it became ("interval out of range").
  if (request.has_created_after() &&
      (request.created_after().seconds() < google::protobuf::util::TimeUtil::kTimestampMinSeconds ||
       request.created_after().seconds() > google::protobuf::util::TimeUtil::kTimestampMaxSeconds ||
       request.created_after().nanos() < 0 || request.created_after().nanos() > 999'999'999)) {
    violations.push_back({"created_after", "must be a valid timestamp (years 1 to 9999)"});
  }
  if (!violations.empty()) {
    return common::InvalidArgument("LIST_REQUEST_INVALID", "invalid ListCharges request",
                                   violations);
  }
  // The token is bound to the caller and every filter.
  const std::string page_query = common::PageQuery(
      {"payments.v1.PaymentService/ListCharges", caller, absl::StrCat(request.order_id()),
       request.has_created_after()
           ? absl::StrCat(absl::ToUnixMicros(TimeOf(request.created_after())))
           : std::string("-")});
  absl::StatusOr<int64_t> after_id =
      common::DecodePageToken(request.page_token(), page_query, "PAGE_TOKEN_INVALID");
  if (!after_id.ok()) return after_id.status();
  const int page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  ChargeFilter filter;
  filter.order_id = request.order_id();
  if (request.has_created_after()) filter.created_after = TimeOf(request.created_after());
  filter.after_id = *after_id;
  filter.limit = page_size + 1;  // one more tells whether another page exists
  absl::StatusOr<std::vector<payments::v1::Charge>> charges =
      ledger_.ListCharges(caller, filter, deadline);
  if (!charges.ok()) return charges.status();
  payments::v1::ListChargesResponse response;
  for (auto& charge : *charges) {
    if (response.charges_size() == page_size) {
      response.set_next_page_token(
          common::EncodePageToken(page_query, response.charges(page_size - 1).id()));
      break;
    }
    *response.add_charges() = std::move(charge);
  }
  return response;
}

absl::StatusOr<payments::v1::LedgerSummary> Payments::GetLedgerSummary(absl::string_view caller,
                                                                       absl::Time deadline) {
  return ledger_.Summary(caller, deadline);
}

}  // namespace payment_service

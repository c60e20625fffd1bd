// The payment provider's rules, free of gRPC and libpq: validation, the test payment methods,
// fault injection, pagination and caller scoping, over a Ledger that stores atomically.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "payment_service/faults.h"
#include "payment_service/ledger.h"
#include "payments/v1/payments.pb.h"

namespace payment_service {

// Fingerprints cover the method name, so one key can never match across methods.
inline constexpr char kChargeMethod[] = "payments.v1.PaymentService/Charge";
inline constexpr char kRefundMethod[] = "payments.v1.PaymentService/Refund";

inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 500;

class Payments {
 public:
  Payments(Ledger& ledger, FaultInjector& faults) : ledger_(ledger), faults_(faults) {}

  // Charges once per (caller, key): see Ledger::Charge for replays and key reuse. Faults
  // (latency, fail before, fail after the commit) and the failpoint apply here.
  absl::StatusOr<ChargeOutcome> Charge(const RequestKey& key,
                                       const payments::v1::ChargeRequest& request,
                                       absl::Time deadline);
  absl::StatusOr<RefundOutcome> Refund(const RequestKey& key,
                                       const payments::v1::RefundRequest& request,
                                       absl::Time deadline);

  // Audit reads, scoped to the caller; faults never apply to them. `deadline` is the caller's
  // (absl::InfiniteFuture(): none), passed to the Ledger read (see Ledger: RESOURCE_EXHAUSTED or
  // DEADLINE_EXCEEDED when it runs out).
  absl::StatusOr<payments::v1::Charge> GetCharge(absl::string_view caller,
                                                 const payments::v1::GetChargeRequest& request,
                                                 absl::Time deadline = absl::InfiniteFuture());
  // INVALID_ARGUMENT LIST_REQUEST_INVALID naming order_id (negative), page_size (outside
  // 0..kMaxPageSize) or created_after (outside google.protobuf.Timestamp's range, years 1-9999);
  // PAGE_TOKEN_INVALID for a token of another query.
  absl::StatusOr<payments::v1::ListChargesResponse> ListCharges(
      absl::string_view caller, const payments::v1::ListChargesRequest& request,
      absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<payments::v1::LedgerSummary> GetLedgerSummary(
      absl::string_view caller, absl::Time deadline = absl::InfiniteFuture());

  // The outcome of the first Charge under a key, by test payment method: pm_card_declined and
  // pm_card_insufficient_funds decline, pm_card_flaky is UNAVAILABLE for its first
  // flaky_failures attempts, every other pm_card_* succeeds.
  absl::StatusOr<ChargeDecision> Decide(const RequestKey& key,
                                        const payments::v1::ChargeRequest& request);

 private:
  // Latency and fail-before, then the deadline check.
  absl::Status BeforeWrite(absl::Time deadline, absl::string_view what);
  Ledger& ledger_;
  FaultInjector& faults_;
};

}  // namespace payment_service

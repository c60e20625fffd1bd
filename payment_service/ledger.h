// The ledger: charges, refunds and their idempotency records. Two implementations behave the
// same (PostgreSQL for real use, in-memory for unit tests and demos); one test suite,
// tests/integration/payment_ledger_test.cc, runs against both.
//
// Each mutating call is one atomic unit (one database transaction): the idempotency record, the
// ledger rows and the serialized response are written together or not at all.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "payments/v1/payments.pb.h"

namespace payment_service {

// Whose request this is (the authenticated caller) and the idempotency key it came with.
struct RequestKey {
  std::string caller;
  std::string key;
};

// What the domain decided for the first Charge under a key: SUCCEEDED or DECLINED.
struct ChargeDecision {
  payments::v1::ChargeStatus status = payments::v1::CHARGE_STATUS_UNSPECIFIED;
  std::string decline_reason;
};
// Called inside the ledger's transaction, only for a key never seen before. An error aborts the
// transaction: nothing is stored and the error is returned (e.g. a transient processor failure).
using ChargeDecider = absl::FunctionRef<absl::StatusOr<ChargeDecision>()>;

struct ChargeOutcome {
  payments::v1::Charge charge;
  bool replayed = false;  // the stored answer to an earlier request with the same key
};

struct RefundOutcome {
  payments::v1::Refund refund;
  bool replayed = false;
};

struct ChargeFilter {
  int64_t order_id = 0;                             // 0: every order
  absl::Time created_after = absl::InfinitePast();  // at or after
  int64_t after_id = 0;                             // pagination: ids greater than this
  int limit = 50;
};

class Ledger {
 public:
  virtual ~Ledger() = default;

  // In one transaction, under the caller's key:
  //  - key unseen: calls `decide`, records the charge and its serialized response;
  //  - same fingerprint: returns the stored response (replayed);
  //  - a tombstone left by an earlier Refund: records and returns a VOIDED charge (no money);
  //  - different fingerprint: FAILED_PRECONDITION IDEMPOTENCY_KEY_REUSED, nothing written.
  // A concurrent call with the same key waits for the first; if it cannot before `deadline`:
  // ABORTED IDEMPOTENCY_KEY_IN_USE with RetryInfo.
  virtual absl::StatusOr<ChargeOutcome> Charge(const RequestKey& key, absl::string_view fingerprint,
                                               const payments::v1::ChargeRequest& request,
                                               ChargeDecider decide, absl::Time deadline) = 0;

  // In one transaction, under the caller's refund key: refunds the charge made under
  // request.charge_key() once (a charge has at most one refund; later refund keys get it back),
  // or leaves a tombstone when no charge exists yet. Same idempotency rules as Charge.
  virtual absl::StatusOr<RefundOutcome> Refund(const RequestKey& key, absl::string_view fingerprint,
                                               const payments::v1::RefundRequest& request,
                                               absl::Time deadline) = 0;

  // Reads. `deadline` is the caller's (absl::InfiniteFuture(): none): the store's wait for a
  // connection and its statements end by it (pg::WaitDeadline, pg::SetLocalTimeouts: at most
  // pg::kMaxWait). Running out: RESOURCE_EXHAUSTED (no pooled connection free in time, as for
  // Charge and Refund), DEADLINE_EXCEEDED (the deadline had passed, or a statement outlived it).

  // The current state of a charge of `caller`; NOT_FOUND CHARGE_NOT_FOUND otherwise.
  virtual absl::StatusOr<payments::v1::Charge> GetCharge(absl::string_view caller, int64_t id,
                                                         absl::Time deadline) = 0;
  // The charge (or Refund tombstone) `caller` holds under `charge_key`; NOT_FOUND
  // CHARGE_NOT_FOUND when there is none.
  virtual absl::StatusOr<payments::v1::Charge> GetChargeByKey(absl::string_view caller,
                                                              absl::string_view charge_key,
                                                              absl::Time deadline) = 0;
  // Charges of `caller` matching the filter, ordered by id, at most filter.limit of them.
  virtual absl::StatusOr<std::vector<payments::v1::Charge>> ListCharges(absl::string_view caller,
                                                                        const ChargeFilter& filter,
                                                                        absl::Time deadline) = 0;
  virtual absl::StatusOr<payments::v1::LedgerSummary> Summary(absl::string_view caller,
                                                              absl::Time deadline) = 0;

  // Deletes up to `batch` Refund idempotency records older than `older_than` (negative: every
  // record), as the store's own clock sees it -- the database's for PgLedger, the clock that wrote
  // created_at, so no skew between machines decides what expires. Returns how many. Charges are
  // the ledger and are kept (with them, their keys). Background work: waits for a connection at
  // most pg::kBackgroundWait (then RESOURCE_EXHAUSTED).
  virtual absl::StatusOr<int64_t> ReapRefundRecords(absl::Duration older_than, int batch) = 0;

  // Whether the store can serve requests now (readiness).
  virtual bool Ready() = 0;
};

}  // namespace payment_service

// The PostgreSQL ledger: named, prepared statements only (every value is a parameter). Each
// Charge/Refund is one READ COMMITTED transaction whose first statement is
// `INSERT ... ON CONFLICT DO NOTHING` on the unique (caller, key): a concurrent request with the
// same key waits on that row until the first commits, then replays it. The transaction's
// statement_timeout and lock_timeout come from the caller's deadline by the rule both services
// use (pg::SetLocalTimeouts, common/pg/timeouts.h: the lock wait ends pg::LockTimeoutMargin before
// the deadline, pg::kMaxWait at most); running out gives ABORTED IDEMPOTENCY_KEY_IN_USE with
// RetryInfo. A deadline already past gives DEADLINE_EXCEEDED before any statement. Statements:
// ledger_sql.h.
#pragma once

#include <memory>

#include "common/pg/pool.h"
#include "payment_service/ledger.h"

namespace payment_service {

class PgLedger final : public Ledger {
 public:
  // Applies the schema (pg::Migrate under an advisory lock) and returns a ledger on `pool`.
  static absl::StatusOr<std::unique_ptr<PgLedger>> Open(pg::Pool* pool);
  // A ledger on `pool` that has not touched the database yet (a service may start while the
  // database is down); call ApplySchema until it succeeds before serving.
  explicit PgLedger(pg::Pool* pool) : pool_(pool) {}
  // pg::Migrate on one pooled connection; UNAVAILABLE while the database cannot be reached.
  absl::Status ApplySchema();

  absl::StatusOr<ChargeOutcome> Charge(const RequestKey& key, absl::string_view fingerprint,
                                       const payments::v1::ChargeRequest& request,
                                       ChargeDecider decide, absl::Time deadline) override;
  absl::StatusOr<RefundOutcome> Refund(const RequestKey& key, absl::string_view fingerprint,
                                       const payments::v1::RefundRequest& request,
                                       absl::Time deadline) override;
  absl::StatusOr<payments::v1::Charge> GetCharge(absl::string_view caller, int64_t id,
                                                 absl::Time deadline) override;
  absl::StatusOr<payments::v1::Charge> GetChargeByKey(absl::string_view caller,
                                                      absl::string_view charge_key,
                                                      absl::Time deadline) override;
  absl::StatusOr<std::vector<payments::v1::Charge>> ListCharges(absl::string_view caller,
                                                                const ChargeFilter& filter,
                                                                absl::Time deadline) override;
  absl::StatusOr<payments::v1::LedgerSummary> Summary(absl::string_view caller,
                                                      absl::Time deadline) override;
  absl::StatusOr<int64_t> ReapRefundRecords(absl::Duration older_than, int batch) override;
  bool Ready() override;

 private:
  pg::Pool* pool_;
};

}  // namespace payment_service

// An in-memory ledger for unit tests and `--store=memory` demos. One mutex makes every call
// atomic, so concurrent calls with one key are serialised exactly like the row lock does it in
// PostgreSQL (the second sees the first's result and replays it). Nothing survives a restart.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "payment_service/ledger.h"

namespace payment_service {

class MemoryLedger final : public Ledger {
 public:
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
  bool Ready() override { return true; }

 private:
  using Key = std::pair<std::string, std::string>;  // (caller, idempotency key)

  struct ChargeRow {
    std::string caller;
    std::string fingerprint;      // empty: a tombstone left by a Refund that came first
    std::string response;         // the serialized Charge first answered under the key
    payments::v1::Charge charge;  // current state, for audits
  };
  struct RefundRecord {  // idempotency record of one Refund request
    std::string fingerprint;
    std::string response;
    absl::Time created;
  };

  // Returns the id of the charge under `key`, creating a tombstone if there is none.
  int64_t ChargeIdOrTombstone(const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  int64_t next_charge_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_refund_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, ChargeRow> charges_ ABSL_GUARDED_BY(mu_);  // ordered by id
  absl::flat_hash_map<Key, int64_t> charge_ids_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, payments::v1::Refund> refunds_by_charge_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Key, RefundRecord> refund_records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace payment_service

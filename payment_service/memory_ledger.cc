#include "payment_service/memory_ledger.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/idempotency.h"
#include "payment_service/ledger_rules.h"

namespace payment_service {

using payments::v1::ChargeStatus;

namespace {

// Step 2 of common/idempotency.h for a stored Charge or Refund: the stored answer, parsed, when
// `fingerprint` is the stored one; KeyReusedError() otherwise.
template <typename Response>
absl::StatusOr<Response> ReplayStored(absl::string_view stored_fingerprint,
                                      absl::string_view fingerprint,
                                      const std::string& stored_response) {
  absl::StatusOr<std::string> stored =
      common::ReplayOrRefuse(stored_fingerprint, fingerprint, stored_response);
  if (!stored.ok()) return stored.status();
  Response response;
  if (!response.ParseFromString(*stored)) {
    return absl::InternalError(
        absl::StrCat("stored ", Response::descriptor()->name(), " response does not parse"));
  }
  return response;
}

}  // namespace

absl::StatusOr<ChargeOutcome> MemoryLedger::Charge(const RequestKey& key,
                                                   absl::string_view fingerprint,
                                                   const payments::v1::ChargeRequest& request,
                                                   ChargeDecider decide, absl::Time) {
  absl::MutexLock lock(&mu_);
  const Key k(key.caller, key.key);
  if (auto it = charge_ids_.find(k); it != charge_ids_.end()) {
    ChargeRow& row = charges_.at(it->second);
    if (row.fingerprint.empty()) {  // a Refund came first: claim the tombstone, take no money
      row.charge = MakeCharge(it->second, TimeOf(row.charge.create_time()), key.key, request,
                              payments::v1::CHARGE_STATUS_VOIDED, "");
      row.fingerprint = std::string(fingerprint);
      row.response = row.charge.SerializeAsString();
      return ChargeOutcome{row.charge, false};
    }
    auto replay = ReplayStored<payments::v1::Charge>(row.fingerprint, fingerprint, row.response);
    if (!replay.ok()) return replay.status();
    return ChargeOutcome{*std::move(replay), true};
  }
  absl::StatusOr<ChargeDecision> decision = decide();
  if (!decision.ok()) return decision.status();
  const int64_t id = next_charge_id_++;
  ChargeRow row;
  row.caller = key.caller;
  row.fingerprint = std::string(fingerprint);
  row.charge =
      MakeCharge(id, absl::Now(), key.key, request, decision->status, decision->decline_reason);
  row.response = row.charge.SerializeAsString();
  ChargeOutcome outcome{row.charge, false};
  charges_.emplace(id, std::move(row));
  charge_ids_.emplace(k, id);
  return outcome;
}

int64_t MemoryLedger::ChargeIdOrTombstone(const Key& key) {
  if (auto it = charge_ids_.find(key); it != charge_ids_.end()) return it->second;
  const int64_t id = next_charge_id_++;
  ChargeRow row;
  row.caller = key.first;
  row.charge.set_id(id);
  row.charge.set_charge_key(key.second);
  row.charge.set_status(payments::v1::CHARGE_STATUS_VOIDED);
  SetTimestamp(absl::Now(), row.charge.mutable_create_time());
  charges_.emplace(id, std::move(row));
  charge_ids_.emplace(key, id);
  return id;
}

absl::StatusOr<RefundOutcome> MemoryLedger::Refund(const RequestKey& key,
                                                   absl::string_view fingerprint,
                                                   const payments::v1::RefundRequest& request,
                                                   absl::Time) {
  absl::MutexLock lock(&mu_);
  const Key record_key(key.caller, key.key);
  if (auto it = refund_records_.find(record_key); it != refund_records_.end()) {
    auto replay = ReplayStored<payments::v1::Refund>(it->second.fingerprint, fingerprint,
                                                     it->second.response);
    if (!replay.ok()) return replay.status();
    return RefundOutcome{*std::move(replay), true};
  }
  const int64_t charge_id = ChargeIdOrTombstone(Key(key.caller, request.charge_key()));
  ChargeRow& charge = charges_.at(charge_id);
  auto existing = refunds_by_charge_.find(charge_id);
  if (existing == refunds_by_charge_.end()) {
    const auto status = RefundStatusFor(charge.charge.status());
    const bool money_back = status == payments::v1::REFUND_STATUS_SUCCEEDED;
    auto refund = MakeRefund(next_refund_id_++, absl::Now(), request.charge_key(), charge_id,
                             money_back ? charge.charge.amount_cents() : 0, status);
    if (money_back) charge.charge.set_status(payments::v1::CHARGE_STATUS_REFUNDED);
    existing = refunds_by_charge_.emplace(charge_id, std::move(refund)).first;
  }
  RefundOutcome outcome{existing->second, false};
  refund_records_.emplace(
      record_key,
      RefundRecord{std::string(fingerprint), outcome.refund.SerializeAsString(), absl::Now()});
  return outcome;
}

absl::StatusOr<payments::v1::Charge> MemoryLedger::GetChargeByKey(absl::string_view caller,
                                                                  absl::string_view charge_key,
                                                                  absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  auto id = charge_ids_.find(Key(std::string(caller), std::string(charge_key)));
  if (id == charge_ids_.end()) return ChargeKeyNotFoundError(charge_key);
  return charges_.at(id->second).charge;
}

absl::StatusOr<payments::v1::Charge> MemoryLedger::GetCharge(absl::string_view caller, int64_t id,
                                                             absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  auto it = charges_.find(id);
  if (it == charges_.end() || it->second.caller != caller) return ChargeNotFoundError(id);
  return it->second.charge;
}

absl::StatusOr<std::vector<payments::v1::Charge>> MemoryLedger::ListCharges(
    absl::string_view caller, const ChargeFilter& filter, absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  std::vector<payments::v1::Charge> out;
  for (auto it = charges_.upper_bound(filter.after_id);
       it != charges_.end() && static_cast<int>(out.size()) < filter.limit; ++it) {
    const payments::v1::Charge& charge = it->second.charge;
    if (it->second.caller != caller) continue;
    if (filter.order_id != 0 && charge.order_id() != filter.order_id) continue;
    if (TimeOf(charge.create_time()) < filter.created_after) continue;
    out.push_back(charge);
  }
  return out;
}

absl::StatusOr<payments::v1::LedgerSummary> MemoryLedger::Summary(absl::string_view caller,
                                                                  absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  payments::v1::LedgerSummary summary;
  for (const auto& [id, row] : charges_) {
    if (row.caller == caller) {
      AddToSummary(row.charge.status(), row.charge.currency(), 1, row.charge.amount_cents(),
                   &summary);
    }
  }
  for (const auto& [charge_id, refund] : refunds_by_charge_) {
    if (charges_.at(charge_id).caller == caller &&
        refund.status() == payments::v1::REFUND_STATUS_SUCCEEDED) {
      summary.set_refund_count(summary.refund_count() + 1);
    }
  }
  return summary;
}

absl::StatusOr<int64_t> MemoryLedger::ReapRefundRecords(absl::Duration older_than, int batch) {
  const absl::Time created_before = absl::Now() - older_than;
  absl::MutexLock lock(&mu_);
  int64_t reaped = 0;
  for (auto it = refund_records_.begin(); it != refund_records_.end() && reaped < batch;) {
    if (it->second.created < created_before) {
      refund_records_.erase(it++);
      ++reaped;
    } else {
      ++it;
    }
  }
  return reaped;
}

}  // namespace payment_service

#include "payment_service/pg_ledger.h"

#include <algorithm>
#include <memory>

#include "absl/time/clock.h"
#include "common/idempotency.h"
#include "common/pg/timeouts.h"
#include "payment_service/ledger_rules.h"
#include "payment_service/ledger_sql.h"
#include "payment_service/pg_schema.h"

namespace payment_service {
namespace {

using payments::v1::ChargeStatus;
using pg::Param;

absl::Time Micros(int64_t micros) { return absl::FromUnixMicros(micros); }

// Runs a statement; a lock wait that hit lock_timeout becomes IDEMPOTENCY_KEY_IN_USE.
absl::StatusOr<pg::Result> Run(pg::Connection& conn, const pg::Query& query,
                               std::initializer_list<Param> params) {
  absl::StatusOr<pg::Result> result = conn.Exec(query, params);
  if (!result.ok()) return common::KeyInUseIfLocked(result.status());
  return result;
}

absl::StatusOr<payments::v1::Charge> ChargeFromRow(const pg::Result& r, int row) {
  absl::StatusOr<ChargeStatus> status = ParseChargeStatus(r.Text(row, 4));
  if (!status.ok()) return status.status();
  payments::v1::Charge charge;
  charge.set_id(r.Int(row, 0));
  charge.set_order_id(r.Int(row, 1));
  charge.set_amount_cents(r.Int(row, 2));
  charge.set_currency(std::string(r.Text(row, 3)));
  charge.set_status(*status);
  charge.set_decline_reason(std::string(r.Text(row, 5)));
  charge.set_payment_method(std::string(r.Text(row, 6)));
  charge.set_customer_id(std::string(r.Text(row, 7)));
  charge.set_charge_key(std::string(r.Text(row, 8)));
  SetTimestamp(Micros(r.Int(row, 9)), charge.mutable_create_time());
  return charge;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgLedger>> PgLedger::Open(pg::Pool* pool) {
  auto ledger = std::make_unique<PgLedger>(pool);
  if (absl::Status s = ledger->ApplySchema(); !s.ok()) return s;
  return ledger;
}

absl::Status PgLedger::ApplySchema() {
  absl::StatusOr<pg::Pool::Lease> lease = pool_->Acquire(pg::WaitDeadline(absl::InfiniteFuture()));
  if (!lease.ok()) return lease.status();
  return MigratePaymentSchema(**lease);
}

bool PgLedger::Ready() { return pool_->PingWritable(); }

absl::StatusOr<ChargeOutcome> PgLedger::Charge(const RequestKey& key, absl::string_view fingerprint,
                                               const payments::v1::ChargeRequest& request,
                                               ChargeDecider decide, absl::Time deadline) {
  // A keyed write: a wait on a key's row ends as IDEMPOTENCY_KEY_IN_USE just before the deadline
  // (pg::SetLocalTimeouts, the rule the order service uses too), with time left to answer.
  absl::StatusOr<std::unique_ptr<pg::DeadlineTransaction>> tx =
      pg::DeadlineTransaction::Begin(*pool_, deadline);
  if (!tx.ok()) return tx.status();
  pg::Connection& conn = (*tx)->conn();

  // Waits here while another transaction holds an uncommitted row with this key.
  absl::StatusOr<pg::Result> inserted = Run(
      conn, sql::kInsertCharge,
      {key.caller, key.key, Param::Bytes(fingerprint), request.order_id(), request.amount_cents(),
       request.currency(), request.payment_method(), request.customer_id()});
  if (!inserted.ok()) return inserted.status();
  if (inserted->rows() == 1) {  // the key is new: decide, then record the outcome
    absl::StatusOr<ChargeDecision> decision = decide();
    if (!decision.ok()) return decision.status();  // rolled back: nothing stored
    ChargeOutcome outcome{MakeCharge(inserted->Int(0, 0), Micros(inserted->Int(0, 1)), key.key,
                                     request, decision->status, decision->decline_reason),
                          false};
    absl::StatusOr<pg::Result> finished =
        Run(conn, sql::kFinishCharge,
            {outcome.charge.id(), ChargeStatusName(decision->status), decision->decline_reason,
             Param::Bytes(outcome.charge.SerializeAsString())});
    if (!finished.ok()) return finished.status();
    if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
    return outcome;
  }

  absl::StatusOr<pg::Result> row = Run(conn, sql::kLockCharge, {key.caller, key.key});
  if (!row.ok()) return row.status();
  if (row->rows() != 1) return absl::InternalError("charge row vanished under its key");
  ChargeOutcome outcome;
  if (row->Bool(0, 1)) {  // a tombstone: a Refund came first, so this charge takes no money
    outcome.charge = MakeCharge(row->Int(0, 0), Micros(row->Int(0, 6)), key.key, request,
                                payments::v1::CHARGE_STATUS_VOIDED, "");
    absl::StatusOr<pg::Result> claimed =
        Run(conn, sql::kClaimTombstone,
            {outcome.charge.id(), Param::Bytes(fingerprint), request.order_id(),
             request.amount_cents(), request.currency(), request.payment_method(),
             request.customer_id(), Param::Bytes(outcome.charge.SerializeAsString())});
    if (!claimed.ok()) return claimed.status();
    if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
    return outcome;
  }
  absl::StatusOr<std::string> stored =
      common::ReplayOrRefuse(row->Bytes(0, 2), fingerprint, row->Bytes(0, 3));
  if (!stored.ok()) return stored.status();
  if (!outcome.charge.ParseFromString(*stored)) {
    return absl::InternalError("stored charge response does not parse");
  }
  outcome.replayed = true;
  return outcome;  // read only: the rollback on leaving releases the row lock
}

absl::StatusOr<RefundOutcome> PgLedger::Refund(const RequestKey& key, absl::string_view fingerprint,
                                               const payments::v1::RefundRequest& request,
                                               absl::Time deadline) {
  // A keyed write: a wait on a key's row ends as IDEMPOTENCY_KEY_IN_USE just before the deadline
  // (pg::SetLocalTimeouts, the rule the order service uses too), with time left to answer.
  absl::StatusOr<std::unique_ptr<pg::DeadlineTransaction>> tx =
      pg::DeadlineTransaction::Begin(*pool_, deadline);
  if (!tx.ok()) return tx.status();
  pg::Connection& conn = (*tx)->conn();

  absl::StatusOr<pg::Result> record =
      Run(conn, sql::kInsertRefundRecord, {key.caller, key.key, Param::Bytes(fingerprint)});
  if (!record.ok()) return record.status();
  if (record->rows() == 0) {  // this refund key was used before: replay or refuse
    absl::StatusOr<pg::Result> old = Run(conn, sql::kLockRefundRecord, {key.caller, key.key});
    if (!old.ok()) return old.status();
    if (old->rows() != 1) return absl::InternalError("refund record vanished under its key");
    absl::StatusOr<std::string> stored =
        common::ReplayOrRefuse(old->Bytes(0, 0), fingerprint, old->Bytes(0, 1));
    if (!stored.ok()) return stored.status();
    RefundOutcome replay{{}, true};
    if (!replay.refund.ParseFromString(*stored)) {
      return absl::InternalError("stored refund response does not parse");
    }
    return replay;
  }
  const int64_t record_id = record->Int(0, 0);

  // Lock the charge under charge_key, or leave a tombstone that voids a later Charge.
  int64_t charge_id = 0;
  ChargeStatus charge_status = payments::v1::CHARGE_STATUS_VOIDED;
  int64_t charge_amount = 0;
  absl::StatusOr<pg::Result> tomb =
      Run(conn, sql::kInsertTombstone, {key.caller, request.charge_key()});
  if (!tomb.ok()) return tomb.status();
  if (tomb->rows() == 1) {
    charge_id = tomb->Int(0, 0);
  } else {
    absl::StatusOr<pg::Result> charge =
        Run(conn, sql::kLockCharge, {key.caller, request.charge_key()});
    if (!charge.ok()) return charge.status();
    if (charge->rows() != 1) return absl::InternalError("charge row vanished under its key");
    absl::StatusOr<ChargeStatus> status = ParseChargeStatus(charge->Text(0, 4));
    if (!status.ok()) return status.status();
    charge_id = charge->Int(0, 0);
    charge_status = *status;
    charge_amount = charge->Int(0, 5);
  }

  RefundOutcome outcome;
  absl::StatusOr<pg::Result> existing = Run(conn, sql::kFindRefund, {charge_id});
  if (!existing.ok()) return existing.status();
  if (existing->rows() == 1) {  // refunded before (under another refund key): the same refund
    absl::StatusOr<payments::v1::RefundStatus> status = ParseRefundStatus(existing->Text(0, 2));
    if (!status.ok()) return status.status();
    outcome.refund = MakeRefund(existing->Int(0, 0), Micros(existing->Int(0, 3)),
                                request.charge_key(), charge_id, existing->Int(0, 1), *status);
  } else {
    const payments::v1::RefundStatus status = RefundStatusFor(charge_status);
    const bool money_back = status == payments::v1::REFUND_STATUS_SUCCEEDED;
    const int64_t amount = money_back ? charge_amount : 0;
    absl::StatusOr<pg::Result> inserted = Run(conn, sql::kInsertRefund,
                                              {key.caller, charge_id, request.charge_key(), amount,
                                               RefundStatusName(status), request.reason()});
    if (!inserted.ok()) return inserted.status();
    if (money_back) {
      if (auto r = Run(conn, sql::kMarkRefunded, {charge_id}); !r.ok()) return r.status();
    }
    outcome.refund = MakeRefund(inserted->Int(0, 0), Micros(inserted->Int(0, 1)),
                                request.charge_key(), charge_id, amount, status);
  }
  absl::StatusOr<pg::Result> stored =
      Run(conn, sql::kStoreRefundResponse,
          {record_id, Param::Bytes(outcome.refund.SerializeAsString())});
  if (!stored.ok()) return stored.status();
  if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
  return outcome;
}

absl::StatusOr<payments::v1::Charge> PgLedger::GetChargeByKey(absl::string_view caller,
                                                              absl::string_view charge_key,
                                                              absl::Time deadline) {
  absl::StatusOr<std::unique_ptr<pg::DeadlineTransaction>> tx =
      pg::DeadlineTransaction::Begin(*pool_, deadline);
  if (!tx.ok()) return tx.status();
  absl::StatusOr<pg::Result> r = Run((*tx)->conn(), sql::kGetChargeByKey, {caller, charge_key});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return ChargeKeyNotFoundError(charge_key);
  return ChargeFromRow(*r, 0);
}

absl::StatusOr<payments::v1::Charge> PgLedger::GetCharge(absl::string_view caller, int64_t id,
                                                         absl::Time deadline) {
  absl::StatusOr<std::unique_ptr<pg::DeadlineTransaction>> tx =
      pg::DeadlineTransaction::Begin(*pool_, deadline);
  if (!tx.ok()) return tx.status();
  absl::StatusOr<pg::Result> r = Run((*tx)->conn(), sql::kGetCharge, {caller, id});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return ChargeNotFoundError(id);
  return ChargeFromRow(*r, 0);
}

absl::StatusOr<std::vector<payments::v1::Charge>> PgLedger::ListCharges(absl::string_view caller,
                                                                        const ChargeFilter& filter,
                                                                        absl::Time deadline) {
  absl::StatusOr<std::unique_ptr<pg::DeadlineTransaction>> tx =
      pg::DeadlineTransaction::Begin(*pool_, deadline);
  if (!tx.ok()) return tx.status();
  const Param created_after = filter.created_after == absl::InfinitePast()
                                  ? Param::Null()
                                  : Param(absl::ToUnixMicros(filter.created_after));
  absl::StatusOr<pg::Result> r =
      Run((*tx)->conn(), sql::kListCharges,
          {caller, filter.order_id, created_after, filter.after_id, filter.limit});
  if (!r.ok()) return r.status();
  std::vector<payments::v1::Charge> charges;
  for (int i = 0; i < r->rows(); ++i) {
    absl::StatusOr<payments::v1::Charge> charge = ChargeFromRow(*r, i);
    if (!charge.ok()) return charge.status();
    charges.push_back(*std::move(charge));
  }
  return charges;
}

absl::StatusOr<payments::v1::LedgerSummary> PgLedger::Summary(absl::string_view caller,
                                                              absl::Time deadline) {
  absl::StatusOr<std::unique_ptr<pg::DeadlineTransaction>> tx =
      pg::DeadlineTransaction::Begin(*pool_, deadline);
  if (!tx.ok()) return tx.status();
  absl::StatusOr<pg::Result> r = Run((*tx)->conn(), sql::kSummary, {caller});
  if (!r.ok()) return r.status();
  payments::v1::LedgerSummary summary;
  for (int i = 0; i < r->rows(); ++i) {
    if (r->Text(i, 0) == "REFUNDS") {
      summary.set_refund_count(r->Int(i, 2));
      continue;
    }
    absl::StatusOr<ChargeStatus> status = ParseChargeStatus(r->Text(i, 0));
    if (!status.ok()) return status.status();
    AddToSummary(*status, r->Text(i, 1), r->Int(i, 2), r->Int(i, 3), &summary);
  }
  return summary;
}

absl::StatusOr<int64_t> PgLedger::ReapRefundRecords(absl::Duration older_than, int batch) {
  absl::StatusOr<pg::Pool::Lease> lease = pool_->Acquire(pg::BackgroundDeadline());
  if (!lease.ok()) return lease.status();
  absl::StatusOr<pg::Result> r =
      Run(**lease, sql::kReapRefundRecords, {absl::ToInt64Microseconds(older_than), batch});
  if (!r.ok()) return r.status();
  return r->affected();
}

}  // namespace payment_service

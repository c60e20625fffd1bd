#include "payment_service/pg_ledger.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pg/sql_state.h"
#include "payment_service/ledger_rules.h"
#include "payment_service/pg_schema.h"

namespace payment_service {
namespace {

using payments::v1::ChargeStatus;
using pg::Param;

// Timestamps travel as microseconds since the Unix epoch.
#define PAY_MICROS(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
#define PAY_CHARGE_COLUMNS                                                         \
  "id, order_id, amount_cents, currency, status, decline_reason, payment_method, " \
  "customer_id, charge_key, " PAY_MICROS("created_at")
#define PAY_FROM_MICROS(param) "(timestamptz 'epoch' + " param " * interval '1 microsecond')"

constexpr pg::Query kSetLockTimeout{"pay_lock_timeout",
                                    "SELECT set_config('lock_timeout', $1, true)"};

// --- Charge -------------------------------------------------------------------------------
constexpr pg::Query kInsertCharge{
    "pay_insert_charge",
    "INSERT INTO charges (caller, charge_key, fingerprint, order_id, amount_cents, currency,"
    " payment_method, customer_id, status)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PENDING')"
    " ON CONFLICT (caller, charge_key) DO NOTHING"
    " RETURNING id, " PAY_MICROS("created_at")};
constexpr pg::Query kFinishCharge{
    "pay_finish_charge",
    "UPDATE charges SET status = $2, decline_reason = $3, response = $4 WHERE id = $1"};
constexpr pg::Query kLockCharge{
    "pay_lock_charge",
    "SELECT id, fingerprint IS NULL, fingerprint, response, status, amount_cents, " PAY_MICROS(
        "created_at") " FROM charges WHERE caller = $1 AND charge_key = $2 FOR UPDATE"};
constexpr pg::Query kClaimTombstone{
    "pay_claim_tombstone",
    "UPDATE charges SET fingerprint = $2, order_id = $3, amount_cents = $4, currency = $5,"
    " payment_method = $6, customer_id = $7, response = $8 WHERE id = $1"};

// --- Refund -------------------------------------------------------------------------------
constexpr pg::Query kInsertRefundRecord{
    "pay_insert_refund_record",
    "INSERT INTO refund_requests (caller, refund_key, fingerprint) VALUES ($1, $2, $3)"
    " ON CONFLICT (caller, refund_key) DO NOTHING RETURNING id"};
constexpr pg::Query kLockRefundRecord{"pay_lock_refund_record",
                                      "SELECT fingerprint, response FROM refund_requests"
                                      " WHERE caller = $1 AND refund_key = $2 FOR UPDATE"};
constexpr pg::Query kInsertTombstone{
    "pay_insert_tombstone",
    "INSERT INTO charges (caller, charge_key, status) VALUES ($1, $2, 'VOIDED')"
    " ON CONFLICT (caller, charge_key) DO NOTHING RETURNING id"};
constexpr pg::Query kFindRefund{"pay_find_refund",
                                "SELECT id, amount_cents, status, " PAY_MICROS(
                                    "created_at") " FROM refunds WHERE charge_id = $1"};
constexpr pg::Query kInsertRefund{
    "pay_insert_refund",
    "INSERT INTO refunds (caller, charge_id, charge_key, amount_cents, status, reason)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, " PAY_MICROS("created_at")};
constexpr pg::Query kMarkRefunded{"pay_mark_refunded",
                                  "UPDATE charges SET status = 'REFUNDED' WHERE id = $1"};
constexpr pg::Query kStoreRefundResponse{"pay_store_refund_response",
                                         "UPDATE refund_requests SET response = $2 WHERE id = $1"};

// --- Audit and retention --------------------------------------------------------------------
constexpr pg::Query kGetCharge{
    "pay_get_charge", "SELECT " PAY_CHARGE_COLUMNS " FROM charges WHERE caller = $1 AND id = $2"};
constexpr pg::Query kGetChargeByKey{"pay_get_charge_by_key",
                                    "SELECT " PAY_CHARGE_COLUMNS
                                    " FROM charges WHERE caller = $1 AND charge_key = $2"};
constexpr pg::Query kListCharges{
    "pay_list_charges",
    "SELECT " PAY_CHARGE_COLUMNS " FROM charges"
    " WHERE caller = $1 AND ($2::bigint = 0 OR order_id = $2)"
    " AND ($3::bigint IS NULL OR created_at >= " PAY_FROM_MICROS("$3::bigint") ")"
    " AND id > $4 ORDER BY id LIMIT $5"};
// One statement, so the counts come from one snapshot; the last row counts refunds. Sums per
// status and currency: amounts of two currencies are different units.
constexpr pg::Query kSummary{
    "pay_summary_per_currency",
    "SELECT status, currency, count(*), coalesce(sum(amount_cents), 0)::bigint FROM charges"
    " WHERE caller = $1 GROUP BY status, currency"
    " UNION ALL SELECT 'REFUNDS', '', count(*), 0 FROM refunds"
    " WHERE caller = $1 AND status = 'SUCCEEDED'"};
constexpr pg::Query kReapRefundRecords{
    "pay_reap_refund_records",
    "DELETE FROM refund_requests WHERE id IN (SELECT id FROM refund_requests"
    " WHERE created_at < now() - $1::bigint * interval '1 microsecond'"
    " ORDER BY created_at, id LIMIT $2)"};

#undef PAY_CHARGE_COLUMNS
#undef PAY_MICROS
#undef PAY_FROM_MICROS

// Waits longer than this are cut short even for calls without a deadline.
constexpr absl::Duration kMaxWait = absl::Seconds(30);
// Left of the deadline for answering after giving up on a lock: a fifth of the time left,
// between 20 ms and 250 ms, so the ABORTED answer reaches the caller before its deadline does.
absl::Duration ReplyMargin(absl::Duration left) {
  return std::clamp(left / 5, absl::Milliseconds(20), absl::Milliseconds(250));
}

absl::Time Micros(int64_t micros) { return absl::FromUnixMicros(micros); }

// Runs a statement; a lock wait that hit lock_timeout becomes IDEMPOTENCY_KEY_IN_USE.
absl::StatusOr<pg::Result> Run(pg::Connection& conn, const pg::Query& query,
                               std::initializer_list<Param> params) {
  absl::StatusOr<pg::Result> result = conn.Exec(query, params);
  if (!result.ok() && pg::SqlStateOf(result.status()) == pg::sql_state::kLockNotAvailable)
    return KeyInUseError();
  return result;
}

absl::Status SetLockTimeout(pg::Connection& conn, absl::Time deadline) {
  absl::Duration left = std::min(deadline - absl::Now(), kMaxWait);
  left -= ReplyMargin(left);
  if (left <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError("the deadline passed before the ledger was reached");
  }
  const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(left));
  return Run(conn, kSetLockTimeout, {absl::StrCat(ms, "ms")}).status();
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
  absl::StatusOr<pg::Pool::Lease> lease = pool_->Acquire(absl::Now() + kMaxWait);
  if (!lease.ok()) return lease.status();
  return MigratePaymentSchema(**lease);
}

absl::StatusOr<pg::Pool::Lease> PgLedger::Lease(absl::Time deadline) {
  return pool_->Acquire(std::min(deadline, absl::Now() + kMaxWait));
}

bool PgLedger::Ready() { return pool_->PingWritable(); }

absl::StatusOr<ChargeOutcome> PgLedger::Charge(const RequestKey& key, absl::string_view fingerprint,
                                               const payments::v1::ChargeRequest& request,
                                               ChargeDecider decide, absl::Time deadline) {
  absl::StatusOr<pg::Pool::Lease> lease = Lease(deadline);
  if (!lease.ok()) return lease.status();
  pg::Connection& conn = **lease;
  pg::Transaction tx(conn);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  if (absl::Status s = SetLockTimeout(conn, deadline); !s.ok()) return s;

  // Waits here while another transaction holds an uncommitted row with this key.
  absl::StatusOr<pg::Result> inserted = Run(
      conn, kInsertCharge,
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
        Run(conn, kFinishCharge,
            {outcome.charge.id(), ChargeStatusName(decision->status), decision->decline_reason,
             Param::Bytes(outcome.charge.SerializeAsString())});
    if (!finished.ok()) return finished.status();
    if (absl::Status s = tx.Commit(); !s.ok()) return s;
    return outcome;
  }

  absl::StatusOr<pg::Result> row = Run(conn, kLockCharge, {key.caller, key.key});
  if (!row.ok()) return row.status();
  if (row->rows() != 1) return absl::InternalError("charge row vanished under its key");
  ChargeOutcome outcome;
  if (row->Bool(0, 1)) {  // a tombstone: a Refund came first, so this charge takes no money
    outcome.charge = MakeCharge(row->Int(0, 0), Micros(row->Int(0, 6)), key.key, request,
                                payments::v1::CHARGE_STATUS_VOIDED, "");
    absl::StatusOr<pg::Result> claimed =
        Run(conn, kClaimTombstone,
            {outcome.charge.id(), Param::Bytes(fingerprint), request.order_id(),
             request.amount_cents(), request.currency(), request.payment_method(),
             request.customer_id(), Param::Bytes(outcome.charge.SerializeAsString())});
    if (!claimed.ok()) return claimed.status();
    if (absl::Status s = tx.Commit(); !s.ok()) return s;
    return outcome;
  }
  if (row->Bytes(0, 2) != fingerprint) return KeyReusedError();
  if (!outcome.charge.ParseFromString(row->Bytes(0, 3))) {
    return absl::InternalError("stored charge response does not parse");
  }
  outcome.replayed = true;
  return outcome;  // read only: the rollback on leaving releases the row lock
}

absl::StatusOr<RefundOutcome> PgLedger::Refund(const RequestKey& key, absl::string_view fingerprint,
                                               const payments::v1::RefundRequest& request,
                                               absl::Time deadline) {
  absl::StatusOr<pg::Pool::Lease> lease = Lease(deadline);
  if (!lease.ok()) return lease.status();
  pg::Connection& conn = **lease;
  pg::Transaction tx(conn);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  if (absl::Status s = SetLockTimeout(conn, deadline); !s.ok()) return s;

  absl::StatusOr<pg::Result> record =
      Run(conn, kInsertRefundRecord, {key.caller, key.key, Param::Bytes(fingerprint)});
  if (!record.ok()) return record.status();
  if (record->rows() == 0) {  // this refund key was used before: replay or refuse
    absl::StatusOr<pg::Result> old = Run(conn, kLockRefundRecord, {key.caller, key.key});
    if (!old.ok()) return old.status();
    if (old->rows() != 1) return absl::InternalError("refund record vanished under its key");
    if (old->Bytes(0, 0) != fingerprint) return KeyReusedError();
    RefundOutcome replay{{}, true};
    if (!replay.refund.ParseFromString(old->Bytes(0, 1))) {
      return absl::InternalError("stored refund response does not parse");
    }
    return replay;
  }
  const int64_t record_id = record->Int(0, 0);

  // Lock the charge under charge_key, or leave a tombstone that voids a later Charge.
  int64_t charge_id = 0;
  ChargeStatus charge_status = payments::v1::CHARGE_STATUS_VOIDED;
  int64_t charge_amount = 0;
  absl::StatusOr<pg::Result> tomb = Run(conn, kInsertTombstone, {key.caller, request.charge_key()});
  if (!tomb.ok()) return tomb.status();
  if (tomb->rows() == 1) {
    charge_id = tomb->Int(0, 0);
  } else {
    absl::StatusOr<pg::Result> charge = Run(conn, kLockCharge, {key.caller, request.charge_key()});
    if (!charge.ok()) return charge.status();
    if (charge->rows() != 1) return absl::InternalError("charge row vanished under its key");
    absl::StatusOr<ChargeStatus> status = ParseChargeStatus(charge->Text(0, 4));
    if (!status.ok()) return status.status();
    charge_id = charge->Int(0, 0);
    charge_status = *status;
    charge_amount = charge->Int(0, 5);
  }

  RefundOutcome outcome;
  absl::StatusOr<pg::Result> existing = Run(conn, kFindRefund, {charge_id});
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
    absl::StatusOr<pg::Result> inserted = Run(conn, kInsertRefund,
                                              {key.caller, charge_id, request.charge_key(), amount,
                                               RefundStatusName(status), request.reason()});
    if (!inserted.ok()) return inserted.status();
    if (money_back) {
      if (auto r = Run(conn, kMarkRefunded, {charge_id}); !r.ok()) return r.status();
    }
    outcome.refund = MakeRefund(inserted->Int(0, 0), Micros(inserted->Int(0, 1)),
                                request.charge_key(), charge_id, amount, status);
  }
  absl::StatusOr<pg::Result> stored = Run(
      conn, kStoreRefundResponse, {record_id, Param::Bytes(outcome.refund.SerializeAsString())});
  if (!stored.ok()) return stored.status();
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  return outcome;
}

absl::StatusOr<payments::v1::Charge> PgLedger::GetChargeByKey(absl::string_view caller,
                                                              absl::string_view charge_key) {
  absl::StatusOr<pg::Pool::Lease> lease = Lease(absl::InfiniteFuture());
  if (!lease.ok()) return lease.status();
  absl::StatusOr<pg::Result> r = Run(**lease, kGetChargeByKey, {caller, charge_key});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return ChargeKeyNotFoundError(charge_key);
  return ChargeFromRow(*r, 0);
}

absl::StatusOr<payments::v1::Charge> PgLedger::GetCharge(absl::string_view caller, int64_t id) {
  absl::StatusOr<pg::Pool::Lease> lease = Lease(absl::InfiniteFuture());
  if (!lease.ok()) return lease.status();
  absl::StatusOr<pg::Result> r = Run(**lease, kGetCharge, {caller, id});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return ChargeNotFoundError(id);
  return ChargeFromRow(*r, 0);
}

absl::StatusOr<std::vector<payments::v1::Charge>> PgLedger::ListCharges(
    absl::string_view caller, const ChargeFilter& filter) {
  absl::StatusOr<pg::Pool::Lease> lease = Lease(absl::InfiniteFuture());
  if (!lease.ok()) return lease.status();
  const Param created_after = filter.created_after == absl::InfinitePast()
                                  ? Param::Null()
                                  : Param(absl::ToUnixMicros(filter.created_after));
  absl::StatusOr<pg::Result> r =
      Run(**lease, kListCharges,
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

absl::StatusOr<payments::v1::LedgerSummary> PgLedger::Summary(absl::string_view caller) {
  absl::StatusOr<pg::Pool::Lease> lease = Lease(absl::InfiniteFuture());
  if (!lease.ok()) return lease.status();
  absl::StatusOr<pg::Result> r = Run(**lease, kSummary, {caller});
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
  absl::StatusOr<pg::Pool::Lease> lease = Lease(absl::InfiniteFuture());
  if (!lease.ok()) return lease.status();
  absl::StatusOr<pg::Result> r =
      Run(**lease, kReapRefundRecords, {absl::ToInt64Microseconds(older_than), batch});
  if (!r.ok()) return r.status();
  return r->affected();
}

}  // namespace payment_service

// Every statement of the payment service; what each one takes and returns is documented in
// ledger_sql.h. The tables are pg_schema.cc's.
#include "payment_service/ledger_sql.h"

namespace payment_service::sql {

// Timestamps travel as microseconds since the Unix epoch.
#define PAY_MICROS(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
#define PAY_CHARGE_COLUMNS                                                         \
  "id, order_id, amount_cents, currency, status, decline_reason, payment_method, " \
  "customer_id, charge_key, " PAY_MICROS("created_at")
#define PAY_FROM_MICROS(param) "(timestamptz 'epoch' + " param " * interval '1 microsecond')"

// --- Charge -------------------------------------------------------------------------------
const pg::Query kInsertCharge{
    "pay_insert_charge",
    "INSERT INTO charges (caller, charge_key, fingerprint, order_id, amount_cents, currency,"
    " payment_method, customer_id, status)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PENDING')"
    " ON CONFLICT (caller, charge_key) DO NOTHING"
    " RETURNING id, " PAY_MICROS("created_at")};
const pg::Query kFinishCharge{
    "pay_finish_charge",
    "UPDATE charges SET status = $2, decline_reason = $3, response = $4 WHERE id = $1"};
const pg::Query kLockCharge{
    "pay_lock_charge",
    "SELECT id, fingerprint IS NULL, fingerprint, response, status, amount_cents, " PAY_MICROS(
        "created_at") " FROM charges WHERE caller = $1 AND charge_key = $2 FOR UPDATE"};
const pg::Query kClaimTombstone{
    "pay_claim_tombstone",
    "UPDATE charges SET fingerprint = $2, order_id = $3, amount_cents = $4, currency = $5,"
    " payment_method = $6, customer_id = $7, response = $8 WHERE id = $1"};

// --- Refund -------------------------------------------------------------------------------
const pg::Query kInsertRefundRecord{
    "pay_insert_refund_record",
    "INSERT INTO refund_requests (caller, refund_key, fingerprint) VALUES ($1, $2, $3)"
    " ON CONFLICT (caller, refund_key) DO NOTHING RETURNING id"};
const pg::Query kLockRefundRecord{"pay_lock_refund_record",
                                  "SELECT fingerprint, response FROM refund_requests"
                                  " WHERE caller = $1 AND refund_key = $2 FOR UPDATE"};
const pg::Query kInsertTombstone{
    "pay_insert_tombstone",
    "INSERT INTO charges (caller, charge_key, status) VALUES ($1, $2, 'VOIDED')"
    " ON CONFLICT (caller, charge_key) DO NOTHING RETURNING id"};
const pg::Query kFindRefund{"pay_find_refund",
                            "SELECT id, amount_cents, status, " PAY_MICROS(
                                "created_at") " FROM refunds WHERE charge_id = $1"};
const pg::Query kInsertRefund{
    "pay_insert_refund",
    "INSERT INTO refunds (caller, charge_id, charge_key, amount_cents, status, reason)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, " PAY_MICROS("created_at")};
const pg::Query kMarkRefunded{"pay_mark_refunded",
                              "UPDATE charges SET status = 'REFUNDED' WHERE id = $1"};
const pg::Query kStoreRefundResponse{"pay_store_refund_response",
                                     "UPDATE refund_requests SET response = $2 WHERE id = $1"};

// --- Audit and retention --------------------------------------------------------------------
const pg::Query kGetCharge{
    "pay_get_charge", "SELECT " PAY_CHARGE_COLUMNS " FROM charges WHERE caller = $1 AND id = $2"};
const pg::Query kGetChargeByKey{"pay_get_charge_by_key",
                                "SELECT " PAY_CHARGE_COLUMNS
                                " FROM charges WHERE caller = $1 AND charge_key = $2"};
const pg::Query kListCharges{
    "pay_list_charges",
    "SELECT " PAY_CHARGE_COLUMNS " FROM charges"
    " WHERE caller = $1 AND ($2::bigint = 0 OR order_id = $2)"
    " AND ($3::bigint IS NULL OR created_at >= " PAY_FROM_MICROS("$3::bigint") ")"
    " AND id > $4 ORDER BY id LIMIT $5"};
const pg::Query kSummary{
    "pay_summary_per_currency",
    "SELECT status, currency, count(*), coalesce(sum(amount_cents), 0)::bigint FROM charges"
    " WHERE caller = $1 GROUP BY status, currency"
    " UNION ALL SELECT 'REFUNDS', '', count(*), 0 FROM refunds"
    " WHERE caller = $1 AND status = 'SUCCEEDED'"};
const pg::Query kReapRefundRecords{
    "pay_reap_refund_records",
    "DELETE FROM refund_requests WHERE id IN (SELECT id FROM refund_requests"
    " WHERE created_at < now() - $1::bigint * interval '1 microsecond'"
    " ORDER BY created_at, id LIMIT $2)"};

#undef PAY_CHARGE_COLUMNS
#undef PAY_MICROS
#undef PAY_FROM_MICROS

}  // namespace payment_service::sql

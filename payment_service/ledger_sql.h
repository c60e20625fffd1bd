// Every SQL statement of the payment service, in one place (the schema is pg_schema.cc's): one
// named, prepared statement per purpose, every value a parameter ($n below). PgLedger refers to
// them by name (sql::kInsertCharge). Times travel as microseconds since the Unix epoch.
// charges.status and refunds.status are text ('SUCCEEDED', ... with a CHECK in pg_schema.cc),
// mapped to and from payments.v1 by ChargeStatusName / ParseChargeStatus and RefundStatusName /
// ParseRefundStatus (ledger_rules.h).
#pragma once

#include "common/pg/connection.h"

namespace payment_service::sql {

// The columns ChargeFromRow reads (kGetCharge, kGetChargeByKey, kListCharges): id, order_id,
// amount_cents, currency, status, decline_reason, payment_method, customer_id, charge_key,
// created_at.

// --- Charge --------------------------------------------------------------------------------
// Takes the charge key: $1 caller, $2 charge_key, $3 fingerprint, $4 order_id, $5 amount_cents,
// $6 currency, $7 payment_method, $8 customer_id -> id, created_at when the key was new (status
// PENDING until kFinishCharge, in the same transaction); no row when it was taken (after
// waiting for an uncommitted holder, bounded by lock_timeout).
extern const pg::Query kInsertCharge;
// $1 id, $2 status, $3 decline_reason, $4 response (bytea).
extern const pg::Query kFinishCharge;
// $1 caller, $2 charge_key -> id, is a tombstone, fingerprint, response, status, amount_cents,
// created_at; the row locked until the transaction ends.
extern const pg::Query kLockCharge;
// Fills a tombstone with the late Charge it voids: $1 id, $2 fingerprint, $3 order_id,
// $4 amount_cents, $5 currency, $6 payment_method, $7 customer_id, $8 response.
extern const pg::Query kClaimTombstone;

// --- Refund --------------------------------------------------------------------------------
// Takes the refund key: $1 caller, $2 refund_key, $3 fingerprint -> id when new.
extern const pg::Query kInsertRefundRecord;
// $1 caller, $2 refund_key -> fingerprint, response; the record locked.
extern const pg::Query kLockRefundRecord;
// A Refund before any Charge with the key leaves a VOIDED row without a fingerprint (a
// tombstone) that voids a later Charge: $1 caller, $2 charge_key -> id when it was inserted.
extern const pg::Query kInsertTombstone;
// $1 charge id -> id, amount_cents, status, created_at of its refund.
extern const pg::Query kFindRefund;
// $1 caller, $2 charge id, $3 charge_key, $4 amount_cents, $5 status, $6 reason -> id,
// created_at.
extern const pg::Query kInsertRefund;
// $1 charge id: its status becomes REFUNDED.
extern const pg::Query kMarkRefunded;
// $1 refund record id, $2 response (bytea).
extern const pg::Query kStoreRefundResponse;

// --- Audit and retention -------------------------------------------------------------------
// $1 caller, $2 id.
extern const pg::Query kGetCharge;
// $1 caller, $2 charge_key.
extern const pg::Query kGetChargeByKey;
// $1 caller, $2 order_id (0 any), $3 created after (micros, NULL any), $4 after id, $5 limit.
extern const pg::Query kListCharges;
// One statement, so the counts come from one snapshot; the last row counts refunds. Sums per
// status and currency: amounts of two currencies are different units.
// $1 caller -> status ('REFUNDS' for the refund row), currency, count, sum of amount_cents.
extern const pg::Query kSummary;
// Deletes at most $2 refund records older than $1 microseconds.
extern const pg::Query kReapRefundRecords;

}  // namespace payment_service::sql

// Every SQL statement of the order service, in one place (the schema and its migrations are
// schema.cc's): one named, prepared statement per purpose, every value a parameter ($n below).
// Repositories refer to them by name (sql::kCreateOrder). Times travel as microseconds since the
// Unix epoch unless a statement says otherwise; durations as float8 seconds.
//
// Stored values:
// - orders.status is the orders.v1.OrderStatus number (smallint). Statements take every status
//   they compare or write as a parameter made by StoredStatus, and readers turn the column back
//   with OrderStatusFromStored: those two are the only mapping. 0 (ORDER_STATUS_UNSPECIFIED)
//   means "no status" where a statement says so.
// - outbox_events.status is text ('PENDING', 'DONE', 'DEAD', CHECK in schema.cc), named in the
//   statements themselves; PgOutboxStore maps it to orders.v1.OutboxEventStatus.
#pragma once

#include <cstdint>

#include "common/pg/connection.h"
#include "orders/v1/orders.pb.h"

namespace orders {

// The stored form of `status` (orders.status), for a statement's parameter.
inline int StoredStatus(orders::v1::OrderStatus status) { return static_cast<int>(status); }

// orders.status as read back (the inverse of StoredStatus).
inline orders::v1::OrderStatus OrderStatusFromStored(int64_t stored) {
  return static_cast<orders::v1::OrderStatus>(stored);
}

namespace sql {

// --- Orders and their idempotency keys (PgOrderRepository) -----------------------------------
// Takes the key: inserts its record, or (ON CONFLICT) waits for a concurrent holder to finish.
// lock_timeout is set in the same statement so the wait ends before the caller's deadline.
// $1 tenant, $2 method, $3 key, $4 fingerprint (bytea), $5 lock_timeout ("123ms").
// One row when the key was free, none when it was taken.
extern const pg::Query kClaimKey;

// $1 tenant, $2 method, $3 key -> fingerprint, response (bytea) of a used key.
extern const pg::Query kStoredResponse;

// CreateOrder in one statement (one round trip, its own transaction) for one request or a group
// commit of many: each row takes its idempotency key and, only if it was free, writes the order,
// its items, its CHARGE event, its ORDER_CREATED event and the stored response. Order ids are
// reserved beforehand and responses built before the statement, so a stored answer commits with
// everything it describes. Keys are taken in a fixed order, so two batches never wait on each
// other in a cycle; a concurrent holder of a key makes its row wait (bounded by lock_timeout).
// A row with key '' takes no key and is always written: an import's order, whose idempotency is
// its import's commit (import_commits), not a key of its own.
// $1 lock_timeout; per order (arrays of one length): $2 tenant, $3 method, $4 key,
// $5 fingerprint (hex), $6 response (hex), $7 order id (from kReserveOrderIds), $8 customer_id,
// $9 currency, $10 amount_cents, $11 payment_method, $12 created_at (timestamptz text);
// per item: $13 order id, $14 line (from 1), $15 sku, $16 quantity, $17 unit_price_cents;
// $18 StoredStatus(ORDER_STATUS_CREATED).
// One row per order: id, written (bool), and for a key already taken the stored fingerprint and
// response when the first request committed before the statement's snapshot (NULL otherwise:
// the caller reads them with kStoredResponse).
extern const pg::Query kCreateOrder;

// Order ids reserved in blocks: one round trip per block instead of one per order. Ids of a
// block a process never uses are simply skipped; ids are never reused. A block is consecutive
// (reserve_order_ids, schema.cc migration 5), so the statement returns its first id.
// $1 count -> the first id of the block.
extern const pg::Query kReserveOrderIds;

// $1 tenant, $2 method, $3 key, $4 response (bytea), $5 order id.
extern const pg::Query kStoreResponse;

// The order columns OrderFromRow reads: id, customer_id, currency, amount_cents,
// payment_method, status, charge_id, decline_reason, created_at, updated_at (micros),
// shipping_address (bytea), cancel_reason. kGetOrder: $1 tenant, $2 id.
extern const pg::Query kGetOrder;

// $1 tenant, $2 id -> status, the order's row locked until the transaction ends.
extern const pg::Query kLockOrder;

// Cancels, skips a CHARGE nobody holds (the REFUND's tombstone voids any late attempt), and
// enqueues the REFUND behind whatever is still running.
// $1 tenant, $2 id, $3 reason, $4 StoredStatus(ORDER_STATUS_CANCELLED) -> kGetOrder's columns.
extern const pg::Query kCancelOrder;

// $1 tenant, $2 id, $3 address (bytea), $4 StoredStatus(ORDER_STATUS_CANCELLED): a cancelled
// order is not changed (0 rows affected).
extern const pg::Query kSetAddress;

// $1 tenant, $2 customer_id ('' any), $3 status (0 any), $4 before id (0 none), $5 limit ->
// kGetOrder's columns, newest first.
extern const pg::Query kListOrders;

// $1 order ids (bigint[]) -> order_id, sku, quantity, unit_price_cents, in line order.
extern const pg::Query kOrderItems;

// --- Imports and the analytics read (PgOrderRepository, pg_order_repository_import.cc)
// --------------- The counts, the money per currency and the watermark in one statement, so all
// come from one snapshot (the projector changes them in one statement too): one row per currency,
// or one row with NULL money when no money was counted yet (and NULL counts when nothing was). The
// watermark (as_of), by the database's clock: the creation time of the customer's oldest event not
// yet projected, or the read's own time when there is none. An event is created before it commits,
// so every event committed before the watermark is counted. $1 tenant, $2 customer_id ->
// order_count, paid_count, payment_failed_count, cancelled_count, events_applied, as_of (micros),
// currency, paid_amount, cancelled_amount.
extern const pg::Query kGetAnalytics;

// A put and a commit of one import never interleave: a put holds this lock shared and a commit
// holds it exclusively, each until its transaction ends, so a chunk is either stored before the
// commit reads the import's chunks or finds the commit and is refused (without it, a put racing
// a commit could be answered OK and never created). The two-key form keeps it apart from
// pg::Migrate's locks; two imports whose names share a hash only wait for each other.
// Both: $1 tenant, $2 import_id, $3 lock_timeout.
extern const pg::Query kLockImportShared;
extern const pg::Query kLockImport;

// $1 tenant, $2 import_id -> chunk_count, when the import was committed.
extern const pg::Query kImportCommitted;

// $1 tenant, $2 import_id, $3 chunk_index, $4 fingerprint, $5 request, $6 response (bytea);
// one row when stored, none when the chunk existed.
extern const pg::Query kPutChunk;

// $1 tenant, $2 import_id, $3 chunk_index -> fingerprint, response.
extern const pg::Query kGetChunk;

// $1 tenant, $2 import_id, $3 chunk_count; one row when this commit is the first.
extern const pg::Query kClaimCommit;

// $1 tenant, $2 import_id, $3 chunk_count -> the indexes (20 at most) at or above it.
extern const pg::Query kExtraChunks;

// $1 tenant, $2 import_id -> chunk_count, summary (bytea) of a committed import.
extern const pg::Query kStoredCommit;

// $1 tenant, $2 import_id, $3 chunk_count -> chunk_index, request of the chunks below it.
extern const pg::Query kImportChunks;

// $1 tenant, $2 import_id, $3 summary (bytea).
extern const pg::Query kStoreSummary;

// --- The outbox relay and its admin (PgOutboxStore) ------------------------------------------
// The relay's writes end with `FROM ... cfg`: the synchronous_commit setting for the statement's
// own transaction ('' keeps the server's), always their last parameter (PgOutboxStore's
// constructor).
// Autocommit statements only: no transaction is ever open while the relay calls payments.
// An order's events run one at a time in id order, but only a PENDING event holds the next one
// back: a REFUND behind a DEAD CHARGE runs (the refund refunds what the charge took, or leaves a
// tombstone that voids it), so per-order ordering never strands money.
// $1 lease owner, $2 limit, $3 lease (s), $4 synchronous_commit.
extern const pg::Query kClaimEvents;

// The relay's heartbeat while its calls are in flight: the lease follows liveness, so a call
// slower than the lease is not taken over (and repeated) by another relay.
// $1 ids (bigint[]), $2 owner, $3 lease (s), $4 synchronous_commit.
extern const pg::Query kExtendLeases;

// Finishing events and updating their orders happen in one statement, every row fenced on its
// own lease (id, owner, attempts). An order only moves out of CREATED here, so a late outcome
// never overrides a cancel. `id = ANY($1)` gives the planner the primary key; the unnest join
// pairs each id with its attempt and outcome. $1 ids, $2 attempts, $3 the orders' new statuses
// (0: unchanged), $4 charge ids, $5 decline reasons (arrays), $6 owner, $7 synchronous_commit,
// $8 StoredStatus(ORDER_STATUS_CREATED), $9 StoredStatus(ORDER_STATUS_PAID) -> the ids done.
extern const pg::Query kCompleteEvents;

// Only transient answers reschedule; they are counted apart from the attempt budget.
// $1 id, $2 owner, $3 attempts, $4 delay (s), $5 error, $6 synchronous_commit.
extern const pg::Query kRescheduleEvent;

// $1 id, $2 owner, $3 attempts, $4 error, $5 synchronous_commit.
extern const pg::Query kBuryEvent;

// $1 status text ('' any), $2 min age (s), $3 after id, $4 limit.
extern const pg::Query kListEvents;

// $1 ids (bigint[], empty: every DEAD event).
extern const pg::Query kRequeueDead;

// -> pending, dead, oldest pending age (s), attempts of the open events.
extern const pg::Query kOutboxCounts;

// --- The outbox wake-up (OutboxNotifier) -----------------------------------------------------
// $1 channel.
extern const pg::Query kNotify;

// --- The reconciler (PgReconcileStore) -------------------------------------------------------
// -> the deployment's id (schema.cc).
extern const pg::Query kDeploymentIdentity;

// $1 after id, $2 limit -> id, status, amount_cents, currency, charge_key, has a PENDING event.
extern const pg::Query kOrdersAfter;

// CREATED -> PAID, as the relay's completion would have done it; its CHARGE event (DEAD, or
// DONE) is DONE. $1 id, $2 charge_id, $3 StoredStatus(ORDER_STATUS_PAID),
// $4 StoredStatus(ORDER_STATUS_CREATED) -> orders changed.
extern const pg::Query kMarkPaid;

// A cancelled order's refund: its DEAD REFUND requeued with a fresh window, or a new one
// (naming the key its charge was sent under) when it has none; nothing while one is PENDING.
// $1 id, $2 StoredStatus(ORDER_STATUS_CANCELLED) -> events queued.
extern const pg::Query kQueueRefund;

// --- The analytics projector -----------------------------------------------------------------
// Counts go to customer_analytics; money goes to customer_analytics_money, one row per
// currency, because amounts of two currencies are different units and never one sum (JPY 500 and
// USD 1250 are not 1750 of anything). An event's currency is its order's, which never changes.
// $1 batch size.
extern const pg::Query kProjectAnalytics;

// --- The reaper: each deletes at most $2 rows older than $1 seconds ----------------------------
extern const pg::Query kReapEvents;
extern const pg::Query kReapKeys;
// Projected order events go with finished outbox events; an inbox entry goes only once its event
// is gone, so a redelivery can never find the inbox without it.
extern const pg::Query kReapOrderEvents;
extern const pg::Query kReapInbox;

}  // namespace sql
}  // namespace orders

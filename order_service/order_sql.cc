// Every statement of the order service; what each one takes and returns is documented in
// order_sql.h. The tables are schema.cc's.
#include "order_service/order_sql.h"

namespace orders::sql {

// --- Orders and their idempotency keys (PgOrderRepository) -----------------------------------
const pg::Query kClaimKey{"order_claim_key", R"sql(
INSERT INTO idempotency_keys (tenant, method, key, fingerprint)
SELECT $1::text, $2::text, $3::text, $4::bytea FROM (SELECT set_config('lock_timeout', $5, true)) AS cfg
ON CONFLICT DO NOTHING
RETURNING 1)sql"};

const pg::Query kStoredResponse{"order_stored_response", R"sql(
SELECT fingerprint, response FROM idempotency_keys WHERE tenant = $1 AND method = $2 AND key = $3)sql"};

const pg::Query kCreateOrder{"order_create", R"sql(
WITH cfg AS (SELECT set_config('lock_timeout', $1, true)),
input AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                       $8::text[], $9::text[], $10::bigint[], $11::text[], $12::timestamptz[])
    AS t(tenant, method, key, fingerprint_hex, response_hex, order_id, customer_id, currency,
         amount_cents, payment_method, created_at)),
k AS (
  INSERT INTO idempotency_keys (tenant, method, key, fingerprint, response, order_id)
  SELECT tenant, method, key, decode(fingerprint_hex, 'hex'), decode(response_hex, 'hex'),
         order_id
  FROM input, cfg
  WHERE key <> ''
  ORDER BY tenant, method, key
  ON CONFLICT DO NOTHING
  RETURNING order_id),
o AS (
  INSERT INTO orders (id, tenant, customer_id, currency, amount_cents, payment_method, status,
                      created_at, updated_at)
  SELECT i.order_id, i.tenant, i.customer_id, i.currency, i.amount_cents, i.payment_method,
         $18::smallint, i.created_at, i.created_at
  FROM input i LEFT JOIN k ON k.order_id = i.order_id
  WHERE k.order_id IS NOT NULL OR i.key = ''
  RETURNING id, tenant, customer_id, currency, amount_cents, payment_method, charge_key),
i AS (
  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)
  SELECT t.order_id, t.line, t.sku, t.quantity, t.price
  FROM unnest($13::bigint[], $14::bigint[], $15::text[], $16::bigint[], $17::bigint[])
    AS t(order_id, line, sku, quantity, price)
  JOIN o ON o.id = t.order_id),
e AS (
  INSERT INTO outbox_events (aggregate_id, kind, payment_key, payload)
  SELECT o.id, 'CHARGE', o.charge_key,
         json_build_object('order_id', o.id, 'amount_cents', o.amount_cents,
                           'currency', o.currency, 'payment_method', o.payment_method,
                           'customer_id', o.customer_id)::text
  FROM o ORDER BY o.id),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT o.tenant, o.customer_id, o.id, 'ORDER_CREATED', o.amount_cents FROM o ORDER BY o.id)
SELECT i.order_id, k.order_id IS NOT NULL OR i.key = '', s.fingerprint, s.response
FROM input i
LEFT JOIN k ON k.order_id = i.order_id
-- The stored answer of a key that was already taken: one probe of the unique index per such
-- member. LATERAL ... LIMIT 1 keeps it a probe: as a plain join the planner, with the statistics
-- of any burst, hashed the whole table for every batch (1,100 sequential scans reading 9.1
-- million rows to create 20,000 orders).
LEFT JOIN LATERAL (
  SELECT fingerprint, response FROM idempotency_keys s
  WHERE k.order_id IS NULL AND i.key <> ''
    AND s.tenant = i.tenant AND s.method = i.method AND s.key = i.key
  LIMIT 1) s ON true)sql"};

const pg::Query kReserveOrderIds{"order_reserve_ids", R"sql(
SELECT reserve_order_ids($1))sql"};

const pg::Query kStoreResponse{"order_store_response", R"sql(
UPDATE idempotency_keys SET response = $4, order_id = $5
WHERE tenant = $1 AND method = $2 AND key = $3)sql"};

const pg::Query kGetOrder{"order_get", R"sql(
SELECT id, customer_id, currency, amount_cents, payment_method, status, charge_id, decline_reason,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM updated_at) * 1000000)::bigint, shipping_address, cancel_reason
FROM orders WHERE tenant = $1 AND id = $2)sql"};

const pg::Query kLockOrder{"order_lock", R"sql(
SELECT status FROM orders WHERE tenant = $1 AND id = $2 FOR UPDATE)sql"};

const pg::Query kCancelOrder{"order_cancel", R"sql(
WITH o AS (
  UPDATE orders SET status = $4::smallint, cancel_reason = $3, updated_at = now()
  WHERE tenant = $1 AND id = $2
  RETURNING *),
skip AS (
  UPDATE outbox_events
  SET status = 'DONE', done_at = clock_timestamp(),
      last_error = 'skipped: the order was cancelled before it was charged'
  WHERE aggregate_id = $2 AND kind = 'CHARGE' AND status IN ('PENDING', 'DEAD')
    AND (lease_until IS NULL OR lease_until < now()) AND EXISTS (SELECT 1 FROM o)),
e AS (
  INSERT INTO outbox_events (aggregate_id, kind, payment_key, payload)
  SELECT id, 'REFUND', payment_key('refund', id),
         json_build_object('charge_key', charge_key, 'reason', $3::text)::text
  FROM o),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT tenant, customer_id, id, 'ORDER_CANCELLED', amount_cents FROM o)
SELECT id, customer_id, currency, amount_cents, payment_method, status, charge_id, decline_reason,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM updated_at) * 1000000)::bigint, shipping_address, cancel_reason
FROM o)sql"};

const pg::Query kSetAddress{"order_set_address", R"sql(
UPDATE orders SET shipping_address = $3, updated_at = now()
WHERE tenant = $1 AND id = $2 AND status <> $4::smallint)sql"};

const pg::Query kListOrders{"order_list", R"sql(
SELECT id, customer_id, currency, amount_cents, payment_method, status, charge_id, decline_reason,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM updated_at) * 1000000)::bigint, shipping_address, cancel_reason
FROM orders
WHERE tenant = $1 AND ($2 = '' OR customer_id = $2) AND ($3 = 0 OR status = $3)
  AND ($4::bigint = 0 OR id < $4::bigint)
ORDER BY id DESC
LIMIT $5)sql"};

const pg::Query kOrderItems{"order_items", R"sql(
SELECT order_id, sku, quantity, unit_price_cents FROM order_items
WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, line)sql"};

// --- Imports and the analytics read (PgOrderRepository, order_import_store.cc) ---------------
const pg::Query kGetAnalytics{"analytics_get_watermarked", R"sql(
WITH w AS (
  SELECT coalesce((SELECT min(e.created_at) FROM order_events e
                   WHERE NOT e.projected AND e.tenant = $1 AND e.customer_id = $2),
                  now()) AS as_of)
SELECT a.order_count, a.paid_count, a.payment_failed_count, a.cancelled_count, a.events_applied,
       (extract(epoch FROM w.as_of) * 1000000)::bigint,
       m.currency, m.paid_amount, m.cancelled_amount
FROM w
LEFT JOIN customer_analytics a ON a.tenant = $1 AND a.customer_id = $2
LEFT JOIN customer_analytics_money m ON m.tenant = a.tenant AND m.customer_id = a.customer_id
ORDER BY m.currency)sql"};

const pg::Query kLockImportShared{"import_lock_shared", R"sql(
SELECT pg_advisory_xact_lock_shared(1768779892, hashtext($1 || '/' || $2))
FROM (SELECT set_config('lock_timeout', $3, true)) AS cfg)sql"};

const pg::Query kLockImport{"import_lock", R"sql(
SELECT pg_advisory_xact_lock(1768779892, hashtext($1 || '/' || $2))
FROM (SELECT set_config('lock_timeout', $3, true)) AS cfg)sql"};

const pg::Query kImportCommitted{"import_committed", R"sql(
SELECT chunk_count FROM import_commits WHERE tenant = $1 AND import_id = $2)sql"};

const pg::Query kPutChunk{"import_put_chunk", R"sql(
INSERT INTO import_chunks (tenant, import_id, chunk_index, fingerprint, request, response)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING 1)sql"};

const pg::Query kGetChunk{"import_get_chunk", R"sql(
SELECT fingerprint, response FROM import_chunks
WHERE tenant = $1 AND import_id = $2 AND chunk_index = $3)sql"};

const pg::Query kClaimCommit{"import_claim_commit", R"sql(
INSERT INTO import_commits (tenant, import_id, chunk_count)
VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING 1)sql"};

const pg::Query kExtraChunks{"import_extra_chunks", R"sql(
SELECT chunk_index FROM import_chunks
WHERE tenant = $1 AND import_id = $2 AND chunk_index >= $3 ORDER BY chunk_index LIMIT 20)sql"};

const pg::Query kStoredCommit{"import_stored_commit", R"sql(
SELECT chunk_count, summary FROM import_commits WHERE tenant = $1 AND import_id = $2)sql"};

const pg::Query kImportChunks{"import_chunks", R"sql(
SELECT chunk_index, request FROM import_chunks
WHERE tenant = $1 AND import_id = $2 AND chunk_index < $3 ORDER BY chunk_index)sql"};

const pg::Query kStoreSummary{"import_store_summary", R"sql(
UPDATE import_commits SET summary = $3 WHERE tenant = $1 AND import_id = $2)sql"};

// --- The outbox relay and its admin (PgOutboxStore) ------------------------------------------
// The work of a claim is bounded by its limit, not by the backlog: first the oldest claimable
// ids (a window of 4 x limit + 64, enough when some wait behind an earlier event of their order),
// then, among those only, the ones no earlier PENDING event of the same order holds back, locked.
// As one NOT EXISTS the planner joined every PENDING row against every other: with the statistics
// of a table that was small or mostly DONE at its last ANALYZE, a claim read 30,000 buffers and
// took 36-80 ms with 15,000 events pending, so a backlog slowed the relay that had to drain it
// (now 700 buffers and 21 ms with the same stale statistics, 0.3 ms once analyzed). The lease and
// status are checked again on the locked row (READ COMMITTED rechecks them after a concurrent
// claim commits), so two relays never claim the same event.
const pg::Query kClaimEvents{"outbox_claim", R"sql(
WITH candidates AS MATERIALIZED (
  SELECT id FROM outbox_events
  WHERE status = 'PENDING' AND available_at <= now()
    AND (lease_until IS NULL OR lease_until < now())
  ORDER BY id
  LIMIT $2 * 4 + 64),
c AS (
  SELECT e.id FROM outbox_events e
  WHERE e.id = ANY (ARRAY(SELECT id FROM candidates))
    AND e.status = 'PENDING' AND e.available_at <= now()
    AND (e.lease_until IS NULL OR e.lease_until < now())
    AND (SELECT p.id FROM outbox_events p
         WHERE p.aggregate_id = e.aggregate_id AND p.status = 'PENDING'
         ORDER BY p.id LIMIT 1) = e.id
  ORDER BY e.id
  LIMIT $2
  FOR UPDATE SKIP LOCKED)
UPDATE outbox_events e
SET lease_owner = $1, lease_until = now() + make_interval(secs => $3::float8),
    attempts = e.attempts + 1,
    -- The retry window runs from the first attempt (an event may wait behind an earlier one).
    window_start = CASE WHEN e.attempts = 0 THEN now() ELSE e.window_start END
FROM c, (SELECT set_config('synchronous_commit', coalesce(nullif($4, ''), current_setting('synchronous_commit')), true)) cfg WHERE e.id = c.id
RETURNING e.id, e.aggregate_id, e.kind, e.payment_key, e.payload, e.attempts,
          (extract(epoch FROM now() - e.created_at) * 1000000)::bigint, e.transient_failures,
          extract(epoch FROM now() - e.window_start)::float8)sql"};

const pg::Query kExtendLeases{"outbox_extend_leases", R"sql(
UPDATE outbox_events
SET lease_until = now() + make_interval(secs => $3::float8)
FROM (SELECT set_config('synchronous_commit', coalesce(nullif($4, ''), current_setting('synchronous_commit')), true)) cfg
WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND status = 'PENDING')sql"};

const pg::Query kCompleteEvents{"outbox_complete_all", R"sql(
WITH input AS (
  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::bigint[], $5::text[])
    AS i(id, attempts, order_status, charge_id, decline_reason)),
done AS (
  UPDATE outbox_events e
  SET status = 'DONE', done_at = clock_timestamp(), lease_owner = NULL, lease_until = NULL,
      last_error = ''
  FROM input i, (SELECT set_config('synchronous_commit', coalesce(nullif($7, ''), current_setting('synchronous_commit')), true)) cfg
  WHERE e.id = ANY($1::bigint[]) AND e.id = i.id AND e.lease_owner = $6
    AND e.attempts = i.attempts AND e.status = 'PENDING'
  RETURNING e.id, e.aggregate_id, i.order_status, i.charge_id, i.decline_reason),
upd AS (
  UPDATE orders
  SET status = done.order_status, charge_id = done.charge_id,
      decline_reason = done.decline_reason, updated_at = now()
  FROM done
  WHERE orders.id = done.aggregate_id AND done.order_status <> 0 AND orders.status = $8::smallint
  RETURNING orders.id, orders.tenant, orders.customer_id, orders.amount_cents, orders.status),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT tenant, customer_id, id,
         CASE status WHEN $9::smallint THEN 'ORDER_PAID' ELSE 'ORDER_PAYMENT_FAILED' END, amount_cents
  FROM upd ORDER BY id)
SELECT id FROM done)sql"};

const pg::Query kRescheduleEvent{"outbox_reschedule", R"sql(
UPDATE outbox_events
SET lease_owner = NULL, lease_until = NULL, transient_failures = transient_failures + 1,
    available_at = now() + make_interval(secs => $4::float8), last_error = $5
FROM (SELECT set_config('synchronous_commit', coalesce(nullif($6, ''), current_setting('synchronous_commit')), true)) cfg
WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'PENDING')sql"};

const pg::Query kBuryEvent{"outbox_bury", R"sql(
UPDATE outbox_events
SET status = 'DEAD', lease_owner = NULL, lease_until = NULL, last_error = $4
FROM (SELECT set_config('synchronous_commit', coalesce(nullif($5, ''), current_setting('synchronous_commit')), true)) cfg
WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'PENDING')sql"};

const pg::Query kListEvents{"outbox_list", R"sql(
SELECT id, aggregate_id, kind, payment_key, status, attempts, last_error,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM available_at) * 1000000)::bigint, coalesce(lease_owner, '')
FROM outbox_events
WHERE ($1 = '' OR status = $1) AND created_at <= now() - make_interval(secs => $2::float8)
  AND id > $3::bigint
ORDER BY id
LIMIT $4)sql"};

const pg::Query kRequeueDead{"outbox_requeue", R"sql(
UPDATE outbox_events
SET status = 'PENDING', attempts = 0, transient_failures = 0, available_at = now(),
    window_start = now(),
    lease_owner = NULL, lease_until = NULL
WHERE status = 'DEAD' AND (cardinality($1::bigint[]) = 0 OR id = ANY($1::bigint[])))sql"};

const pg::Query kOutboxCounts{"outbox_counts", R"sql(
SELECT count(*) FILTER (WHERE status = 'PENDING'),
       count(*) FILTER (WHERE status = 'DEAD'),
       coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'PENDING')), 0),
       coalesce(sum(attempts), 0)
FROM outbox_events WHERE status <> 'DONE')sql"};

// --- The outbox wake-up (OutboxNotifier) -----------------------------------------------------
const pg::Query kNotify{"outbox_notify", "SELECT pg_notify($1, '')"};

// --- The reconciler (PgReconcileStore) -------------------------------------------------------
const pg::Query kDeploymentIdentity{"reconcile_identity", "SELECT id FROM deployment_identity"};

const pg::Query kOrdersAfter{"reconcile_orders_after", R"sql(
SELECT o.id, o.status, o.amount_cents, o.currency, o.charge_key,
       EXISTS (SELECT 1 FROM outbox_events p WHERE p.aggregate_id = o.id AND p.status = 'PENDING')
FROM orders o
WHERE o.id > $1::bigint
ORDER BY o.id
LIMIT $2)sql"};

const pg::Query kMarkPaid{"reconcile_mark_paid", R"sql(
WITH upd AS (
  UPDATE orders SET status = $3::smallint, charge_id = $2, updated_at = now()
  WHERE id = $1 AND status = $4::smallint
    AND NOT EXISTS (SELECT 1 FROM outbox_events p WHERE p.aggregate_id = $1 AND p.status = 'PENDING')
  RETURNING id, tenant, customer_id, amount_cents),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT tenant, customer_id, id, 'ORDER_PAID', amount_cents FROM upd),
done AS (
  UPDATE outbox_events
  SET status = 'DONE', done_at = clock_timestamp(), last_error = 'reconciled: charge SUCCEEDED'
  WHERE aggregate_id = $1 AND kind = 'CHARGE' AND status = 'DEAD' AND EXISTS (SELECT 1 FROM upd))
SELECT count(*) FROM upd)sql"};

const pg::Query kQueueRefund{"reconcile_queue_refund", R"sql(
WITH o AS (
  SELECT id, charge_key FROM orders
  WHERE id = $1 AND status = $2::smallint
    AND NOT EXISTS (SELECT 1 FROM outbox_events p WHERE p.aggregate_id = $1 AND p.status = 'PENDING')),
requeued AS (
  UPDATE outbox_events e
  SET status = 'PENDING', attempts = 0, transient_failures = 0, available_at = now(),
      window_start = now(), lease_owner = NULL, lease_until = NULL
  FROM o
  WHERE e.aggregate_id = o.id AND e.kind = 'REFUND' AND e.status = 'DEAD'
  RETURNING e.id),
fresh AS (
  INSERT INTO outbox_events (aggregate_id, kind, payment_key, payload)
  SELECT o.id, 'REFUND', payment_key('refund', o.id),
         json_build_object('charge_key', o.charge_key, 'reason', 'reconciled: money held')::text
  FROM o
  WHERE NOT EXISTS (SELECT 1 FROM outbox_events r WHERE r.aggregate_id = o.id AND r.kind = 'REFUND')
  RETURNING id)
SELECT (SELECT count(*) FROM requeued) + (SELECT count(*) FROM fresh))sql"};

// --- The analytics projector -----------------------------------------------------------------
const pg::Query kProjectAnalytics{"analytics_project_per_currency", R"sql(
WITH batch AS (
  SELECT id, tenant, customer_id, order_id, kind, amount_cents, created_at FROM order_events
  WHERE NOT projected ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED),
fresh AS (
  INSERT INTO analytics_inbox (event_id) SELECT id FROM batch
  ON CONFLICT DO NOTHING RETURNING event_id),
agg AS (
  SELECT b.tenant, b.customer_id,
         count(*) FILTER (WHERE kind = 'ORDER_CREATED') AS created,
         count(*) FILTER (WHERE kind = 'ORDER_PAID') AS paid,
         count(*) FILTER (WHERE kind = 'ORDER_PAYMENT_FAILED') AS failed,
         count(*) FILTER (WHERE kind = 'ORDER_CANCELLED') AS cancelled,
         count(*) AS applied, max(created_at) AS as_of
  FROM batch b JOIN fresh f ON f.event_id = b.id
  GROUP BY b.tenant, b.customer_id),
up AS (
  INSERT INTO customer_analytics AS a (tenant, customer_id, order_count, paid_count,
      payment_failed_count, cancelled_count, events_applied, as_of)
  SELECT tenant, customer_id, created, paid, failed, cancelled, applied, as_of FROM agg
  ON CONFLICT (tenant, customer_id) DO UPDATE SET
    order_count = a.order_count + EXCLUDED.order_count,
    paid_count = a.paid_count + EXCLUDED.paid_count,
    payment_failed_count = a.payment_failed_count + EXCLUDED.payment_failed_count,
    cancelled_count = a.cancelled_count + EXCLUDED.cancelled_count,
    events_applied = a.events_applied + EXCLUDED.events_applied,
    as_of = greatest(a.as_of, EXCLUDED.as_of)),
money AS (
  SELECT b.tenant, b.customer_id, o.currency,
         coalesce(sum(b.amount_cents) FILTER (WHERE b.kind = 'ORDER_PAID'), 0) AS paid,
         coalesce(sum(b.amount_cents) FILTER (WHERE b.kind = 'ORDER_CANCELLED'), 0) AS cancelled
  FROM batch b JOIN fresh f ON f.event_id = b.id JOIN orders o ON o.id = b.order_id
  WHERE b.kind IN ('ORDER_PAID', 'ORDER_CANCELLED')
  GROUP BY b.tenant, b.customer_id, o.currency),
up_money AS (
  INSERT INTO customer_analytics_money AS m (tenant, customer_id, currency, paid_amount,
      cancelled_amount)
  SELECT tenant, customer_id, currency, paid, cancelled FROM money
  ON CONFLICT (tenant, customer_id, currency) DO UPDATE SET
    paid_amount = m.paid_amount + EXCLUDED.paid_amount,
    cancelled_amount = m.cancelled_amount + EXCLUDED.cancelled_amount),
mark AS (
  UPDATE order_events SET projected = true WHERE id IN (SELECT id FROM batch))
SELECT count(*) FROM batch)sql"};

// --- The reaper ------------------------------------------------------------------------------
const pg::Query kReapEvents{"reap_events", R"sql(
DELETE FROM outbox_events WHERE id IN (
  SELECT id FROM outbox_events
  WHERE status = 'DONE' AND done_at < now() - make_interval(secs => $1::float8)
  LIMIT $2))sql"};

const pg::Query kReapKeys{"reap_keys", R"sql(
DELETE FROM idempotency_keys WHERE ctid IN (
  SELECT ctid FROM idempotency_keys
  WHERE created_at < now() - make_interval(secs => $1::float8)
  LIMIT $2))sql"};

const pg::Query kReapOrderEvents{"reap_order_events", R"sql(
DELETE FROM order_events WHERE id IN (
  SELECT id FROM order_events
  WHERE projected AND created_at < now() - make_interval(secs => $1::float8)
  LIMIT $2))sql"};

const pg::Query kReapInbox{"reap_inbox", R"sql(
DELETE FROM analytics_inbox WHERE event_id IN (
  SELECT event_id FROM analytics_inbox i
  WHERE applied_at < now() - make_interval(secs => $1::float8)
    AND NOT EXISTS (SELECT 1 FROM order_events e WHERE e.id = i.event_id)
  LIMIT $2))sql"};

}  // namespace orders::sql

#include "order_service/pg_reconcile_store.h"

#include "absl/time/clock.h"
#include "common/pg/connection.h"

namespace orders {
namespace {

constexpr pg::Query kIdentity{"reconcile_identity", "SELECT id FROM deployment_identity"};

constexpr pg::Query kOrdersAfter{"reconcile_orders_after", R"sql(
SELECT o.id, o.status, o.amount_cents, o.currency, o.charge_key,
       EXISTS (SELECT 1 FROM outbox_events p WHERE p.aggregate_id = o.id AND p.status = 'PENDING')
FROM orders o
WHERE o.id > $1::bigint
ORDER BY o.id
LIMIT $2)sql"};

// CREATED -> PAID, as the relay's completion would have done it; its CHARGE event (DEAD, or
// DONE) is DONE.
constexpr pg::Query kMarkPaid{"reconcile_mark_paid", R"sql(
WITH upd AS (
  UPDATE orders SET status = 2, charge_id = $2, updated_at = now()
  WHERE id = $1 AND status = 1
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

// A cancelled order's refund: its DEAD REFUND requeued with a fresh window, or a new one
// (naming the key its charge was sent under) when it has none; nothing while one is PENDING.
constexpr pg::Query kQueueRefund{"reconcile_queue_refund", R"sql(
WITH o AS (
  SELECT id, charge_key FROM orders
  WHERE id = $1 AND status = 4
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

}  // namespace

absl::StatusOr<std::string> PgReconcileStore::DeploymentIdentity() {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kIdentity, {});
  if (!rows.ok()) return rows.status();
  return std::string(rows->Text(0, 0));
}

absl::StatusOr<std::vector<OrderLedgerRow>> PgReconcileStore::OrdersAfter(int64_t after_id,
                                                                          int limit) {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kOrdersAfter, {after_id, limit});
  if (!rows.ok()) return rows.status();
  std::vector<OrderLedgerRow> out;
  for (int r = 0; r < rows->rows(); ++r) {
    OrderLedgerRow o;
    o.id = rows->Int(r, 0);
    o.status = static_cast<orders::v1::OrderStatus>(rows->Int(r, 1));
    o.amount_minor = rows->Int(r, 2);
    o.currency = std::string(rows->Text(r, 3));
    o.charge_key = std::string(rows->Text(r, 4));
    o.in_flight = rows->Bool(r, 5);
    out.push_back(std::move(o));
  }
  return out;
}

absl::StatusOr<bool> PgReconcileStore::MarkPaid(int64_t order_id, int64_t charge_id) {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kMarkPaid, {order_id, charge_id});
  if (!rows.ok()) return rows.status();
  return rows->Int(0, 0) == 1;
}

absl::StatusOr<bool> PgReconcileStore::QueueRefund(int64_t order_id) {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kQueueRefund, {order_id});
  if (!rows.ok()) return rows.status();
  return rows->Int(0, 0) > 0;
}

}  // namespace orders

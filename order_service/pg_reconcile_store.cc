#include "order_service/pg_reconcile_store.h"

#include "common/pg/connection.h"
#include "common/pg/timeouts.h"
#include "order_service/order_sql.h"

namespace orders {
absl::StatusOr<std::string> PgReconcileStore::DeploymentIdentity() {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(sql::kDeploymentIdentity, {});
  if (!rows.ok()) return rows.status();
  return std::string(rows->Text(0, 0));
}

absl::StatusOr<std::vector<OrderLedgerRow>> PgReconcileStore::OrdersAfter(int64_t after_id,
                                                                          int limit) {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(sql::kOrdersAfter, {after_id, limit});
  if (!rows.ok()) return rows.status();
  std::vector<OrderLedgerRow> out;
  for (int r = 0; r < rows->rows(); ++r) {
    OrderLedgerRow o;
    o.id = rows->Int(r, 0);
    o.status = OrderStatusFromStored(rows->Int(r, 1));
    o.amount_minor = rows->Int(r, 2);
    o.currency = std::string(rows->Text(r, 3));
    o.charge_key = std::string(rows->Text(r, 4));
    o.in_flight = rows->Bool(r, 5);
    out.push_back(std::move(o));
  }
  return out;
}

absl::StatusOr<bool> PgReconcileStore::MarkPaid(int64_t order_id, int64_t charge_id) {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(sql::kMarkPaid,
                            {order_id, charge_id, StoredStatus(orders::v1::ORDER_STATUS_PAID),
                             StoredStatus(orders::v1::ORDER_STATUS_CREATED)});
  if (!rows.ok()) return rows.status();
  return rows->Int(0, 0) == 1;
}

absl::StatusOr<bool> PgReconcileStore::QueueRefund(int64_t order_id) {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(sql::kQueueRefund,
                            {order_id, StoredStatus(orders::v1::ORDER_STATUS_CANCELLED)});
  if (!rows.ok()) return rows.status();
  return rows->Int(0, 0) > 0;
}

}  // namespace orders

// ReconcileStore over PostgreSQL (the orders database; every tenant: reconciliation is an
// operator's job).
#pragma once

#include "common/pg/pool.h"
#include "order_service/reconcile_store.h"

namespace orders {

class PgReconcileStore : public ReconcileStore {
 public:
  explicit PgReconcileStore(pg::Pool& pool) : pool_(pool) {}

  absl::StatusOr<std::string> DeploymentIdentity() override;
  absl::StatusOr<std::vector<OrderLedgerRow>> OrdersAfter(int64_t after_id, int limit) override;
  absl::StatusOr<bool> MarkPaid(int64_t order_id, int64_t charge_id) override;
  absl::StatusOr<bool> QueueRefund(int64_t order_id) override;

 private:
  pg::Pool& pool_;
};

}  // namespace orders

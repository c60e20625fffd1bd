// OrderRepository over PostgreSQL (libpq through common/pg, named statements only).
#pragma once

#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/pg/pool.h"
#include "order_service/create_batcher.h"
#include "order_service/order_repository.h"

namespace orders {

// Group commit of CreateOrder (see CreateBatcher).
struct CreateBatchOptions {
  int lanes = 2;       // batches written at once, each on its own connection
  int max_batch = 32;  // requests per batch; 1 turns group commit off
};

class PgOrderRepository : public OrderRepository {
 public:
  explicit PgOrderRepository(pg::Pool& pool, CreateBatchOptions batching = {});

  absl::StatusOr<CreateResult> CreateOrder(const IdempotencyScope& scope,
                                           const orders::v1::CreateOrderRequest& request,
                                           int64_t amount_cents, absl::Time deadline) override;
  absl::StatusOr<orders::v1::Order> GetOrder(const std::string& tenant, int64_t id,
                                             absl::Time deadline) override;
  absl::StatusOr<OrderPage> ListOrders(const std::string& tenant, const ListQuery& query,
                                       absl::Time deadline) override;
  absl::StatusOr<CancelResult> CancelOrder(const IdempotencyScope& scope, int64_t id,
                                           const std::string& reason, absl::Time deadline) override;
  absl::StatusOr<orders::v1::Order> SetShippingAddress(const std::string& tenant, int64_t id,
                                                       const orders::v1::ShippingAddress& address,
                                                       absl::Time deadline) override;
  absl::StatusOr<orders::v1::OrderAnalytics> GetAnalytics(const std::string& tenant,
                                                          const std::string& customer_id,
                                                          absl::Time deadline) override;
  absl::StatusOr<ImportChunkResult> PutImportChunk(
      const std::string& tenant, const orders::v1::PutImportChunkRequest& request,
      const std::string& fingerprint,
      const google::protobuf::RepeatedPtrField<orders::v1::MoneyTotal>& totals,
      absl::Time deadline) override;
  absl::StatusOr<ImportCommitResult> CommitImport(const std::string& tenant,
                                                  const std::string& import_id, int chunk_count,
                                                  absl::Time deadline) override;

 private:
  static constexpr int kIdBlock = 32;
  // An order id from this process's reserved block, refilled with kIdBlock consecutive ids
  // (reserve_order_ids) when empty.
  absl::StatusOr<int64_t> ReserveOrderId(absl::Time deadline);
  // Writes `batch` with one statement and one commit, setting each request's outcome; an error
  // of the statement is returned and leaves the outcomes unset.
  absl::Status WriteTogether(pg::Connection& conn, const std::vector<PendingCreate*>& batch,
                             absl::Time deadline);
  // CreateBatcher's writer: the batch together, or request by request if that fails.
  void WriteBatch(const std::vector<PendingCreate*>& batch);
  // The order part of a PendingCreate for `request` (amount in cents, validated) under `id`, an
  // id taken with sql::kReserveOrderIds, created at `created` (whole microseconds). The
  // idempotency scope, response and deadline are the caller's to fill; an empty key writes the
  // order without one (an import's orders).
  static PendingCreate Pending(const std::string& tenant,
                               const orders::v1::CreateOrderRequest& request, int64_t amount_cents,
                               int64_t id, absl::Time created);
  // The one write of orders, CreateOrder's and CommitImport's: sql::kCreateOrder for `batch` on
  // `conn` inside the caller's transaction (one round trip for the whole batch), lock_timeout
  // from `deadline` (pg::DeadlineTimeout). Sets each request's `written` and `stored` once the
  // statement succeeded, before the caller commits. Errors: the statement's, with its SQLSTATE
  // (pg::SqlStateOf; 55P03 lock_not_available when a key's holder outlasted the deadline),
  // leaving the outcomes unset.
  static absl::Status ExecCreate(pg::Connection& conn, const std::vector<PendingCreate*>& batch,
                                 absl::Time deadline);

  pg::Pool& pool_;
  CreateBatcher batcher_;
  absl::Mutex ids_mu_;
  std::deque<int64_t> reserved_ids_ ABSL_GUARDED_BY(ids_mu_);

 public:
  CreateBatcher::Stats batch_stats() const { return batcher_.stats(); }
};

}  // namespace orders

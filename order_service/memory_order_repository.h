// An in-memory OrderRepository for unit tests: the same rules, one mutex instead of row locks.
#pragma once

#include <map>
#include <optional>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "order_service/order_repository.h"

namespace orders {

class MemoryOrderRepository : public OrderRepository {
 public:
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

  // Outbox events written so far (kind, payment key), for assertions.
  std::vector<std::pair<std::string, std::string>> OutboxEvents() const;
  // This store's deployment identity (random per instance, as one per database).
  const std::string& deployment() const { return deployment_; }

 private:
  const std::string deployment_ = NewDeploymentIdentity();
  struct StoredKey {
    std::string fingerprint;
    std::string response;
  };
  // The stored response under a key: nullopt when the key is new (and now taken).
  absl::StatusOr<std::optional<std::string>> ClaimKey(const IdempotencyScope& scope)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One keyed write under `scope` (CreateOrder, CancelOrder): replays or refuses a stored key,
  // else runs `write` on the response and stores that under the key when it succeeds.
  template <typename Result, typename Write>
  absl::StatusOr<Result> KeyedWriteLocked(const IdempotencyScope& scope, Write write)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct StoredOrder {
    std::string tenant;
    orders::v1::Order order;
  };

  struct StoredChunk {
    std::string fingerprint;
    orders::v1::PutImportChunkRequest request;
    orders::v1::ImportChunk response;
  };
  absl::StatusOr<orders::v1::Order> InsertLocked(const std::string& tenant,
                                                 const orders::v1::CreateOrderRequest& request,
                                                 int64_t amount_cents)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, StoredChunk> chunks_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, std::pair<int, orders::v1::ImportSummary>> commits_
      ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::tuple<std::string, std::string, std::string>, StoredKey> keys_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, StoredOrder> orders_ ABSL_GUARDED_BY(mu_);
  // The order `id` of `tenant`, or null (another tenant's order is not found either).
  StoredOrder* FindLocked(const std::string& tenant, int64_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = orders_.find(id);
    return it == orders_.end() || it->second.tenant != tenant ? nullptr : &it->second;
  }
  std::vector<std::pair<std::string, std::string>> outbox_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orders

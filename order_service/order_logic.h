// The order domain: validation and the idempotency and order rules, independent of gRPC and SQL.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "order_service/order_repository.h"

namespace orders {

struct RequestScope {
  std::string tenant;
  std::string idempotency_key;  // empty for methods that take none
  absl::Time deadline = absl::InfiniteFuture();
};

class OrderLogic {
 public:
  // `on_outbox_write` runs after each commit that wrote an outbox event (the relay's wake-up).
  OrderLogic(OrderRepository& repository, std::function<void()> on_outbox_write)
      : repository_(repository), on_outbox_write_(std::move(on_outbox_write)) {}

  absl::StatusOr<CreateResult> CreateOrder(const RequestScope& scope,
                                           const orders::v1::CreateOrderRequest& request);
  absl::StatusOr<orders::v1::Order> GetOrder(const RequestScope& scope,
                                             const orders::v1::GetOrderRequest& request);
  absl::StatusOr<orders::v1::ListOrdersResponse> ListOrders(
      const RequestScope& scope, const orders::v1::ListOrdersRequest& request);
  absl::StatusOr<CancelResult> CancelOrder(const RequestScope& scope,
                                           const orders::v1::CancelOrderRequest& request);
  absl::StatusOr<orders::v1::Order> SetShippingAddress(
      const RequestScope& scope, const orders::v1::SetShippingAddressRequest& request);
  absl::StatusOr<orders::v1::OrderAnalytics> GetOrderAnalytics(
      const RequestScope& scope, const orders::v1::GetOrderAnalyticsRequest& request);
  // INVALID_ARGUMENT IMPORT_CHUNK_INVALID naming import_id, chunk_index, orders (1 to
  // kMaxOrdersPerChunk) or orders[i].<field>; then OrderRepository::PutImportChunk's rules.
  absl::StatusOr<ImportChunkResult> PutImportChunk(
      const RequestScope& scope, const orders::v1::PutImportChunkRequest& request);
  // INVALID_ARGUMENT IMPORT_COMMIT_INVALID naming import_id or chunk_count; then
  // OrderRepository::CommitImport's rules.
  absl::StatusOr<ImportCommitResult> CommitImport(const RequestScope& scope,
                                                  const orders::v1::CommitImportRequest& request);

 private:
  OrderRepository& repository_;
  std::function<void()> on_outbox_write_;
};

// An import chunk holds 1 to kMaxOrdersPerChunk orders, each within CreateOrder's limits.
inline constexpr int kMaxOrdersPerChunk = 1000;
// The largest PutImportChunkRequest those limits allow, serialized: 1,000 orders of 100 line
// items with every text at its longest and every number at its largest varint (8,105 bytes an
// order, 134 for the import's name and index). gRPC refuses a larger message before the service
// sees it (RESOURCE_EXHAUSTED, which no retry fixes), so order_service refuses to start with a
// --max_message_bytes below this: a chunk the service would accept always reaches it.
inline constexpr int64_t kMaxImportChunkBytes = 8'105'134;

// Validates a CreateOrderRequest and returns its total in minor units; INVALID_ARGUMENT with
// every field violation otherwise.
absl::StatusOr<int64_t> ValidateCreateOrder(const orders::v1::CreateOrderRequest& request);

}  // namespace orders

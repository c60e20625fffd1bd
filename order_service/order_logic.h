// The order domain: validation and the idempotency and order rules, independent of gRPC and SQL.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "order_service/order_repository.h"
#include "order_service/validation.h"

namespace orders {

struct RequestScope {
  std::string tenant;
  std::string idempotency_key;  // empty for methods that take none
  absl::Time deadline = absl::InfiniteFuture();
};

// Requests reach OrderLogic after the adapter's text rule (OrderGrpcService::ScopeOf,
// common::CheckStorableText): no string here holds a NUL. Length limits below are in characters
// (common::CharacterCount), as orders.proto documents them.
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
  // INVALID_ARGUMENT CANCEL_INVALID for an id <= 0 or a reason over 500 characters (any text);
  // then OrderRepository::CancelOrder's answers.
  absl::StatusOr<CancelResult> CancelOrder(const RequestScope& scope,
                                           const orders::v1::CancelOrderRequest& request);
  absl::StatusOr<orders::v1::Order> SetShippingAddress(
      const RequestScope& scope, const orders::v1::SetShippingAddressRequest& request);
  // INVALID_ARGUMENT CUSTOMER_ID_INVALID unless customer_id has 1-128 characters. Money per
  // currency (OrderRepository::GetAnalytics).
  absl::StatusOr<orders::v1::OrderAnalytics> GetOrderAnalytics(
      const RequestScope& scope, const orders::v1::GetOrderAnalyticsRequest& request);
  // INVALID_ARGUMENT IMPORT_CHUNK_INVALID naming import_id, chunk_index, orders (1 to
  // kMaxOrdersPerChunk) or orders[i].<field>; then OrderRepository::PutImportChunk's rules. The
  // chunk's totals are per currency (issue 12: amounts of two currencies are never one sum).
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

}  // namespace orders

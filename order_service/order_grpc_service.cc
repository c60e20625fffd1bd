#include "order_service/order_grpc_service.h"

#include <utility>
#include <variant>

#include "absl/time/clock.h"
#include "common/callback_serve.h"
#include "common/grpc_admission.h"
#include "common/grpc_metadata.h"
#include "common/status_mapper.h"
#include "common/storable_text.h"
#include "grpcpp/server_context.h"

namespace orders {
namespace {

grpc::Status ToGrpc(const absl::Status& status) {
  return common::ToGrpcStatus(status, kOrdersErrorDomain);
}

}  // namespace

namespace {

// What a call failed by chaos answers (--chaos_failure_rate), before or after its work.
grpc::Status ChaosBeforeTheCall() {
  return ToGrpc(absl::UnavailableError("injected failure before the call (chaos)"));
}

grpc::Status ChaosAfterTheCall() {
  return ToGrpc(absl::UnavailableError("injected failure: the response was lost (chaos)"));
}

}  // namespace

absl::StatusOr<RequestScope> OrderGrpcService::ScopeOf(const grpc::ServerContextBase& context,
                                                       const google::protobuf::Message& request,
                                                       bool needs_key) const {
  RequestScope scope;
  absl::StatusOr<std::string> tenant = auth_.Identify(common::BearerTokenOf(context));
  if (!tenant.ok()) return tenant.status();
  scope.tenant = *std::move(tenant);
  // Every request passes here first: text PostgreSQL cannot store verbatim is refused before any
  // domain rule, store or fingerprint sees it.
  if (absl::Status s = common::CheckStorableText(request); !s.ok()) return s;
  if (needs_key) {
    absl::StatusOr<std::string> key = common::IdempotencyKeyOf(context);
    if (!key.ok()) return key.status();
    scope.idempotency_key = *std::move(key);
  }
  scope.deadline = common::DeadlineOf(context);
  return scope;
}

template <auto Work, typename Request, typename Response>
grpc::ServerUnaryReactor* OrderGrpcService::Serve(grpc::CallbackServerContext* context,
                                                  const Request* request, Response* response,
                                                  const CallShape& shape) {
  const ChaosPoint point = RollChaos(shape);
  if (point == ChaosPoint::kBefore) return common::AnswerNow(context, ChaosBeforeTheCall());
  absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, shape.needs_key);
  if (!scope.ok()) return common::AnswerNow(context, ToGrpc(scope.status()));
  const std::string tenant = scope->tenant;
  return common::AdmitThenRun(context, admission_, workers_, shape.lane, tenant, kOrdersErrorDomain,
                              [this, context, request, response, point, scope = *std::move(scope)] {
                                grpc::Status status =
                                    (this->*Work)(*context, scope, *request, response);
                                return point == ChaosPoint::kAfter ? ChaosAfterTheCall() : status;
                              });
}

template <auto Work, typename Request, typename Response>
grpc::Status OrderGrpcService::ServeNow(grpc::ServerContext* context, const Request* request,
                                        Response* response, const CallShape& shape) {
  const ChaosPoint point = RollChaos(shape);
  if (point == ChaosPoint::kBefore) return ChaosBeforeTheCall();
  grpc::Status status = [&]() -> grpc::Status {
    absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, shape.needs_key);
    if (!scope.ok()) return ToGrpc(scope.status());
    return common::AdmitThenRunNow(
        context, admission_, shape.lane, scope->tenant, kOrdersErrorDomain,
        [&] { return (this->*Work)(*context, *scope, *request, response); });
  }();
  if (point == ChaosPoint::kAfter) return ChaosAfterTheCall();
  return status;
}

ChaosPoint OrderGrpcService::RollChaos(const CallShape& shape) {
  if (chaos_ == nullptr || shape.chaos_method == nullptr) return ChaosPoint::kNone;
  return chaos_->Roll(shape.chaos_method);
}

// Both entries of each method (common/callback_serve.h).
#define ORDERS_SERVE(Method, Request, Response, Shape) \
  COMMON_SERVE_UNARY(OrderGrpcService, Method, orders::v1::Request, orders::v1::Response, Shape)

ORDERS_SERVE(CreateOrder, CreateOrderRequest, CreateOrderResponse, kCreateOrderShape)
ORDERS_SERVE(GetOrder, GetOrderRequest, Order, kGetOrderShape)
ORDERS_SERVE(ListOrders, ListOrdersRequest, ListOrdersResponse, kListOrdersShape)
ORDERS_SERVE(CancelOrder, CancelOrderRequest, CancelOrderResponse, kCancelOrderShape)
ORDERS_SERVE(SetShippingAddress, SetShippingAddressRequest, Order, kSetShippingAddressShape)
ORDERS_SERVE(GetOrderAnalytics, GetOrderAnalyticsRequest, OrderAnalytics, kGetOrderAnalyticsShape)
ORDERS_SERVE(PutImportChunk, PutImportChunkRequest, ImportChunk, kPutImportChunkShape)
ORDERS_SERVE(CommitImport, CommitImportRequest, ImportSummary, kCommitImportShape)
#undef ORDERS_SERVE

// The work of each method, with its permit held: the domain call, its answer, the replay header.

grpc::Status OrderGrpcService::CreateOrderWork(grpc::ServerContextBase& context,
                                               const RequestScope& scope,
                                               const orders::v1::CreateOrderRequest& request,
                                               orders::v1::CreateOrderResponse* response) {
  absl::StatusOr<CreateResult> result = logic_.CreateOrder(scope, request);
  if (!result.ok()) return ToGrpc(result.status());
  if (result->replayed) common::MarkReplayed(context);
  *response = std::move(result->response);
  return grpc::Status::OK;
}

grpc::Status OrderGrpcService::GetOrderWork(grpc::ServerContextBase& /*context*/,
                                            const RequestScope& scope,
                                            const orders::v1::GetOrderRequest& request,
                                            orders::v1::Order* response) {
  absl::StatusOr<orders::v1::Order> order = logic_.GetOrder(scope, request);
  if (!order.ok()) return ToGrpc(order.status());
  *response = *std::move(order);
  return grpc::Status::OK;
}

grpc::Status OrderGrpcService::ListOrdersWork(grpc::ServerContextBase& /*context*/,
                                              const RequestScope& scope,
                                              const orders::v1::ListOrdersRequest& request,
                                              orders::v1::ListOrdersResponse* response) {
  absl::StatusOr<orders::v1::ListOrdersResponse> page = logic_.ListOrders(scope, request);
  if (!page.ok()) return ToGrpc(page.status());
  *response = *std::move(page);
  return grpc::Status::OK;
}

grpc::Status OrderGrpcService::CancelOrderWork(grpc::ServerContextBase& context,
                                               const RequestScope& scope,
                                               const orders::v1::CancelOrderRequest& request,
                                               orders::v1::CancelOrderResponse* response) {
  absl::StatusOr<CancelResult> result = logic_.CancelOrder(scope, request);
  if (!result.ok()) return ToGrpc(result.status());
  if (result->replayed) common::MarkReplayed(context);
  *response = std::move(result->response);
  return grpc::Status::OK;
}

grpc::Status OrderGrpcService::SetShippingAddressWork(
    grpc::ServerContextBase& /*context*/, const RequestScope& scope,
    const orders::v1::SetShippingAddressRequest& request, orders::v1::Order* response) {
  absl::StatusOr<orders::v1::Order> order = logic_.SetShippingAddress(scope, request);
  if (!order.ok()) return ToGrpc(order.status());
  *response = *std::move(order);
  return grpc::Status::OK;
}

grpc::Status OrderGrpcService::GetOrderAnalyticsWork(
    grpc::ServerContextBase& /*context*/, const RequestScope& scope,
    const orders::v1::GetOrderAnalyticsRequest& request, orders::v1::OrderAnalytics* response) {
  absl::StatusOr<orders::v1::OrderAnalytics> analytics = logic_.GetOrderAnalytics(scope, request);
  if (!analytics.ok()) return ToGrpc(analytics.status());
  *response = *std::move(analytics);
  return grpc::Status::OK;
}

grpc::Status OrderGrpcService::PutImportChunkWork(grpc::ServerContextBase& context,
                                                  const RequestScope& scope,
                                                  const orders::v1::PutImportChunkRequest& request,
                                                  orders::v1::ImportChunk* response) {
  absl::StatusOr<ImportChunkResult> result = logic_.PutImportChunk(scope, request);
  if (!result.ok()) return ToGrpc(result.status());
  if (result->replayed) common::MarkReplayed(context);
  *response = std::move(result->chunk);
  return grpc::Status::OK;
}

grpc::Status OrderGrpcService::CommitImportWork(grpc::ServerContextBase& context,
                                                const RequestScope& scope,
                                                const orders::v1::CommitImportRequest& request,
                                                orders::v1::ImportSummary* response) {
  absl::StatusOr<ImportCommitResult> result = logic_.CommitImport(scope, request);
  if (!result.ok()) return ToGrpc(result.status());
  if (result->replayed) common::MarkReplayed(context);
  *response = std::move(result->summary);
  return grpc::Status::OK;
}

}  // namespace orders

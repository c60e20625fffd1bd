#include "order_service/order_grpc_service.h"

#include <utility>
#include <variant>

#include "absl/time/clock.h"
#include "common/grpc_admission.h"
#include "common/grpc_metadata.h"
#include "common/status_mapper.h"
#include "common/storable_text.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"

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

template <typename Call>
grpc::Status OrderGrpcService::WithChaos(const char* method, Call&& call) {
  const ChaosPoint point = chaos_ ? chaos_->Roll(method) : ChaosPoint::kNone;
  if (point == ChaosPoint::kBefore) return ChaosBeforeTheCall();
  grpc::Status status = call();
  if (point == ChaosPoint::kAfter) return ChaosAfterTheCall();
  return status;
}

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

absl::StatusOr<common::AdmissionController::Permit> OrderGrpcService::Admit(
    grpc::ServerContextBase& context, common::AdmissionLane lane, const RequestScope& scope) {
  return common::AdmitCall(admission_, context, lane, scope.tenant);
}

template <typename Work>
grpc::ServerUnaryReactor* OrderGrpcService::Serve(grpc::CallbackServerContext* context,
                                                  const google::protobuf::Message& request,
                                                  const CallShape& shape, Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const ChaosPoint point = chaos_ ? chaos_->Roll(shape.chaos_method) : ChaosPoint::kNone;
  if (point == ChaosPoint::kBefore) {
    reactor->Finish(ChaosBeforeTheCall());
    return reactor;
  }
  absl::StatusOr<RequestScope> scope = ScopeOf(*context, request, shape.needs_key);
  if (!scope.ok()) {
    reactor->Finish(ToGrpc(scope.status()));
    return reactor;
  }
  auto entered = common::EnterCall(admission_, *context, shape.lane, scope->tenant);
  if (!entered.ok()) {
    reactor->Finish(ToGrpc(entered.status()));
    return reactor;
  }
  workers_.Post([this, context, reactor, point, scope = *std::move(scope),
                 entered = *std::move(entered), work = std::move(work)]() mutable {
    grpc::Status status;
    {
      absl::StatusOr<common::AdmissionController::Permit> permit =
          std::holds_alternative<common::AdmissionController::Permit>(entered)
              ? std::move(std::get<common::AdmissionController::Permit>(entered))
              : common::AwaitCall(
                    admission_, *context,
                    std::move(std::get<common::AdmissionController::Ticket>(entered)));
      status = permit.ok() ? work(scope) : ToGrpc(permit.status());
    }  // the slot is free before the answer leaves, as with a synchronous handler
    if (point == ChaosPoint::kAfter) status = ChaosAfterTheCall();
    reactor->Finish(status);
  });
  return reactor;
}

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

grpc::ServerUnaryReactor* OrderGrpcService::CreateOrder(
    grpc::CallbackServerContext* context, const orders::v1::CreateOrderRequest* request,
    orders::v1::CreateOrderResponse* response) {
  return Serve(context, *request, kCreateOrderShape,
               [this, context, request, response](const RequestScope& scope) {
                 return CreateOrderWork(*context, scope, *request, response);
               });
}

grpc::Status OrderGrpcService::CreateOrderNow(grpc::ServerContext* context,
                                              const orders::v1::CreateOrderRequest* request,
                                              orders::v1::CreateOrderResponse* response) {
  return WithChaos(kCreateOrderShape.chaos_method, [&]() -> grpc::Status {
    absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, kCreateOrderShape.needs_key);
    if (!scope.ok()) return ToGrpc(scope.status());
    auto permit = Admit(*context, kCreateOrderShape.lane, *scope);
    if (!permit.ok()) return ToGrpc(permit.status());
    return CreateOrderWork(*context, *scope, *request, response);
  });
}

grpc::Status OrderGrpcService::GetOrder(grpc::ServerContext* context,
                                        const orders::v1::GetOrderRequest* request,
                                        orders::v1::Order* response) {
  absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, /*needs_key=*/false);
  if (!scope.ok()) return ToGrpc(scope.status());
  auto permit = Admit(*context, common::AdmissionLane::kPriority, *scope);
  if (!permit.ok()) return ToGrpc(permit.status());
  absl::StatusOr<orders::v1::Order> order = logic_.GetOrder(*scope, *request);
  if (!order.ok()) return ToGrpc(order.status());
  *response = *std::move(order);
  return grpc::Status::OK;
}

grpc::Status OrderGrpcService::ListOrders(grpc::ServerContext* context,
                                          const orders::v1::ListOrdersRequest* request,
                                          orders::v1::ListOrdersResponse* response) {
  absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, /*needs_key=*/false);
  if (!scope.ok()) return ToGrpc(scope.status());
  auto permit = Admit(*context, common::AdmissionLane::kWork, *scope);
  if (!permit.ok()) return ToGrpc(permit.status());
  absl::StatusOr<orders::v1::ListOrdersResponse> page = logic_.ListOrders(*scope, *request);
  if (!page.ok()) return ToGrpc(page.status());
  *response = *std::move(page);
  return grpc::Status::OK;
}

}  // namespace orders

namespace orders {

grpc::Status OrderGrpcService::CancelOrder(grpc::ServerContext* context,
                                           const orders::v1::CancelOrderRequest* request,
                                           orders::v1::CancelOrderResponse* response) {
  return WithChaos("CancelOrder", [&]() -> grpc::Status {
    absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, /*needs_key=*/true);
    if (!scope.ok()) return ToGrpc(scope.status());
    auto permit = Admit(*context, common::AdmissionLane::kWork, *scope);
    if (!permit.ok()) return ToGrpc(permit.status());
    absl::StatusOr<CancelResult> result = logic_.CancelOrder(*scope, *request);
    if (!result.ok()) return ToGrpc(result.status());
    if (result->replayed) common::MarkReplayed(*context);
    *response = std::move(result->response);
    return grpc::Status::OK;
  });
}

grpc::Status OrderGrpcService::GetOrderAnalytics(
    grpc::ServerContext* context, const orders::v1::GetOrderAnalyticsRequest* request,
    orders::v1::OrderAnalytics* response) {
  absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, /*needs_key=*/false);
  if (!scope.ok()) return ToGrpc(scope.status());
  auto permit = Admit(*context, common::AdmissionLane::kWork, *scope);
  if (!permit.ok()) return ToGrpc(permit.status());
  absl::StatusOr<orders::v1::OrderAnalytics> analytics = logic_.GetOrderAnalytics(*scope, *request);
  if (!analytics.ok()) return ToGrpc(analytics.status());
  *response = *std::move(analytics);
  return grpc::Status::OK;
}

grpc::Status OrderGrpcService::PutImportChunk(grpc::ServerContext* context,
                                              const orders::v1::PutImportChunkRequest* request,
                                              orders::v1::ImportChunk* response) {
  return WithChaos("PutImportChunk", [&]() -> grpc::Status {
    absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, /*needs_key=*/false);
    if (!scope.ok()) return ToGrpc(scope.status());
    auto permit = Admit(*context, common::AdmissionLane::kWork, *scope);
    if (!permit.ok()) return ToGrpc(permit.status());
    absl::StatusOr<ImportChunkResult> result = logic_.PutImportChunk(*scope, *request);
    if (!result.ok()) return ToGrpc(result.status());
    if (result->replayed) common::MarkReplayed(*context);
    *response = std::move(result->chunk);
    return grpc::Status::OK;
  });
}

grpc::Status OrderGrpcService::CommitImport(grpc::ServerContext* context,
                                            const orders::v1::CommitImportRequest* request,
                                            orders::v1::ImportSummary* response) {
  return WithChaos("CommitImport", [&]() -> grpc::Status {
    absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, /*needs_key=*/false);
    if (!scope.ok()) return ToGrpc(scope.status());
    auto permit = Admit(*context, common::AdmissionLane::kWork, *scope);
    if (!permit.ok()) return ToGrpc(permit.status());
    absl::StatusOr<ImportCommitResult> result = logic_.CommitImport(*scope, *request);
    if (!result.ok()) return ToGrpc(result.status());
    if (result->replayed) common::MarkReplayed(*context);
    *response = std::move(result->summary);
    return grpc::Status::OK;
  });
}

grpc::Status OrderGrpcService::SetShippingAddress(
    grpc::ServerContext* context, const orders::v1::SetShippingAddressRequest* request,
    orders::v1::Order* response) {
  absl::StatusOr<RequestScope> scope = ScopeOf(*context, *request, /*needs_key=*/false);
  if (!scope.ok()) return ToGrpc(scope.status());
  auto permit = Admit(*context, common::AdmissionLane::kWork, *scope);
  if (!permit.ok()) return ToGrpc(permit.status());
  absl::StatusOr<orders::v1::Order> order = logic_.SetShippingAddress(*scope, *request);
  if (!order.ok()) return ToGrpc(order.status());
  *response = *std::move(order);
  return grpc::Status::OK;
}

}  // namespace orders

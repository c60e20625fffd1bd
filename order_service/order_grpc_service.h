// gRPC adapter of OrderService: metadata -> RequestScope, proto in/out, one status mapper.
#pragma once

#include "common/admission.h"
#include "common/auth.h"
#include "order_service/chaos.h"
#include "order_service/error_domain.h"
#include "order_service/order_logic.h"
#include "orders/v1/orders.grpc.pb.h"

namespace orders {

class OrderGrpcService final : public orders::v1::OrderService::Service {
 public:
  // `chaos` may be null (no injected failures). `admission` may be null (no admission control);
  // with one, every RPC takes a permit after ScopeOf and before any database work: GetOrder on
  // the priority lane (an operator can still look while the work lane is full), the others on
  // the work lane (common/admission.h for the refusals).
  OrderGrpcService(OrderLogic& logic, const common::TokenAuthenticator& auth,
                   ChaosDice* chaos = nullptr, common::AdmissionController* admission = nullptr)
      : logic_(logic), auth_(auth), chaos_(chaos), admission_(admission) {}

  grpc::Status CreateOrder(grpc::ServerContext* context,
                           const orders::v1::CreateOrderRequest* request,
                           orders::v1::CreateOrderResponse* response) override;
  grpc::Status GetOrder(grpc::ServerContext* context, const orders::v1::GetOrderRequest* request,
                        orders::v1::Order* response) override;
  grpc::Status ListOrders(grpc::ServerContext* context,
                          const orders::v1::ListOrdersRequest* request,
                          orders::v1::ListOrdersResponse* response) override;
  grpc::Status CancelOrder(grpc::ServerContext* context,
                           const orders::v1::CancelOrderRequest* request,
                           orders::v1::CancelOrderResponse* response) override;
  grpc::Status SetShippingAddress(grpc::ServerContext* context,
                                  const orders::v1::SetShippingAddressRequest* request,
                                  orders::v1::Order* response) override;
  grpc::Status GetOrderAnalytics(grpc::ServerContext* context,
                                 const orders::v1::GetOrderAnalyticsRequest* request,
                                 orders::v1::OrderAnalytics* response) override;
  grpc::Status PutImportChunk(grpc::ServerContext* context,
                              const orders::v1::PutImportChunkRequest* request,
                              orders::v1::ImportChunk* response) override;
  grpc::Status CommitImport(grpc::ServerContext* context,
                            const orders::v1::CommitImportRequest* request,
                            orders::v1::ImportSummary* response) override;

 private:
  // The caller's tenant (UNAUTHENTICATED first: an unknown caller learns nothing), then the
  // text rule on the whole request (INVALID_ARGUMENT TEXT_NOT_STORABLE naming each field,
  // common/storable_text.h), then the idempotency key when the method needs one
  // (INVALID_ARGUMENT IDEMPOTENCY_KEY_MISSING / IDEMPOTENCY_KEY_INVALID). Every RPC calls it
  // first, so no rule below it ever sees such text.
  absl::StatusOr<RequestScope> ScopeOf(const grpc::ServerContext& context,
                                       const google::protobuf::Message& request,
                                       bool needs_key) const;

  // Runs `call` unless chaos fails it before; answers UNAVAILABLE after it when chaos drops the
  // response.
  template <typename Call>
  grpc::Status WithChaos(const char* method, Call&& call);

  // A permit of `lane` for the scope's tenant, or the refusal to answer (pushback trailer set).
  absl::StatusOr<common::AdmissionController::Permit> Admit(grpc::ServerContext& context,
                                                            common::AdmissionLane lane,
                                                            const RequestScope& scope);

  OrderLogic& logic_;
  const common::TokenAuthenticator& auth_;
  ChaosDice* chaos_;
  common::AdmissionController* admission_;
};

}  // namespace orders

// gRPC adapter of OrderService: metadata -> RequestScope, proto in/out, one status mapper.
#pragma once

#include "common/admission.h"
#include "common/auth.h"
#include "common/worker_pool.h"
#include "order_service/chaos.h"
#include "order_service/error_domain.h"
#include "order_service/order_logic.h"
#include "orders/v1/orders.grpc.pb.h"

namespace orders {

class OrderGrpcService final : public orders::v1::OrderService::WithCallbackMethod_CreateOrder<
                                   orders::v1::OrderService::Service> {
 public:
  // `chaos` may be null (no injected failures). `admission` may be null (no admission control);
  // with one, every RPC takes a permit after ScopeOf and before any database work: GetOrder on
  // the priority lane (an operator can still look while the work lane is full), the others on
  // the work lane (common/admission.h for the refusals). `worker_threads` (at least 1) run the
  // calls answered through the callback API; with admission, AdmissionConfig::worker_threads
  // (all it can hold at once), so an admitted call never waits for a worker.
  OrderGrpcService(OrderLogic& logic, const common::TokenAuthenticator& auth,
                   ChaosDice* chaos = nullptr, common::AdmissionController* admission = nullptr,
                   int worker_threads = 4)
      : logic_(logic),
        auth_(auth),
        chaos_(chaos),
        admission_(admission),
        workers_(worker_threads) {}

  // Through gRPC's callback API: the caller, the text rule, the key and admission's decision
  // are taken on gRPC's own thread, so a refusal is answered at once, never behind threads
  // blocked on the database; admitted (or queued) calls run on the service's workers. With the
  // synchronous API, a storm's calls waited up to 70-90 ms (p99) for a handler thread before any
  // code of ours ran (bench/overload_phase.sh: refusals' p99 at the server 3.5-3.9 ms before
  // the handler, against 14-71 ms).
  grpc::ServerUnaryReactor* CreateOrder(grpc::CallbackServerContext* context,
                                        const orders::v1::CreateOrderRequest* request,
                                        orders::v1::CreateOrderResponse* response) override;
  // The same call answered on the calling thread, for in-process callers (fuzzing, tests):
  // identical rules and answers, the admission wait included.
  grpc::Status CreateOrderNow(grpc::ServerContext* context,
                              const orders::v1::CreateOrderRequest* request,
                              orders::v1::CreateOrderResponse* response);
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
  // What a method needs before its work: the chaos name, whether it takes an idempotency key,
  // and its admission lane.
  struct CallShape {
    const char* chaos_method;
    bool needs_key;
    common::AdmissionLane lane;
  };
  static constexpr CallShape kCreateOrderShape{"CreateOrder", true, common::AdmissionLane::kWork};

  // Answers a call through the callback API (see CreateOrder): chaos, ScopeOf and admission's
  // decision on gRPC's thread, a refusal at once; then `work(scope)` (returns the call's status)
  // on a worker, holding the permit.
  template <typename Work>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context,
                                  const google::protobuf::Message& request, const CallShape& shape,
                                  Work work);
  grpc::Status CreateOrderWork(grpc::ServerContextBase& context, const RequestScope& scope,
                               const orders::v1::CreateOrderRequest& request,
                               orders::v1::CreateOrderResponse* response);

  // The caller's tenant (UNAUTHENTICATED first: an unknown caller learns nothing), then the
  // text rule on the whole request (INVALID_ARGUMENT TEXT_NOT_STORABLE naming each field,
  // common/storable_text.h), then the idempotency key when the method needs one
  // (INVALID_ARGUMENT IDEMPOTENCY_KEY_MISSING / IDEMPOTENCY_KEY_INVALID). Every RPC calls it
  // first, so no rule below it ever sees such text.
  absl::StatusOr<RequestScope> ScopeOf(const grpc::ServerContextBase& context,
                                       const google::protobuf::Message& request,
                                       bool needs_key) const;

  // Runs `call` unless chaos fails it before; answers UNAVAILABLE after it when chaos drops the
  // response.
  template <typename Call>
  grpc::Status WithChaos(const char* method, Call&& call);

  // A permit of `lane` for the scope's tenant, or the refusal to answer (pushback trailer set).
  absl::StatusOr<common::AdmissionController::Permit> Admit(grpc::ServerContextBase& context,
                                                            common::AdmissionLane lane,
                                                            const RequestScope& scope);

  OrderLogic& logic_;
  const common::TokenAuthenticator& auth_;
  ChaosDice* chaos_;
  common::AdmissionController* admission_;
  // Runs admitted and queued callback calls: admission bounds them (worker_threads).
  common::WorkerPool workers_;
};

}  // namespace orders

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

class OrderGrpcService final : public orders::v1::OrderService::CallbackService {
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

  // Every method is served through gRPC's callback API: the caller, the text rule, the key and
  // admission's decision are taken on gRPC's own thread, so a refusal is answered at once, never
  // behind threads blocked on the database; admitted (or queued) calls run on the service's
  // workers. With the synchronous API, a storm's calls waited up to 70-90 ms (p99) for a handler
  // thread before any code of ours ran (bench/overload_phase.sh: refusals' p99 in the server
  // before the handler 3.8-11.6 ms, against 14-77 ms).
  grpc::ServerUnaryReactor* CreateOrder(grpc::CallbackServerContext* context,
                                        const orders::v1::CreateOrderRequest* request,
                                        orders::v1::CreateOrderResponse* response) override;
  grpc::ServerUnaryReactor* GetOrder(grpc::CallbackServerContext* context,
                                     const orders::v1::GetOrderRequest* request,
                                     orders::v1::Order* response) override;
  grpc::ServerUnaryReactor* ListOrders(grpc::CallbackServerContext* context,
                                       const orders::v1::ListOrdersRequest* request,
                                       orders::v1::ListOrdersResponse* response) override;
  grpc::ServerUnaryReactor* CancelOrder(grpc::CallbackServerContext* context,
                                        const orders::v1::CancelOrderRequest* request,
                                        orders::v1::CancelOrderResponse* response) override;
  grpc::ServerUnaryReactor* SetShippingAddress(grpc::CallbackServerContext* context,
                                               const orders::v1::SetShippingAddressRequest* request,
                                               orders::v1::Order* response) override;
  grpc::ServerUnaryReactor* GetOrderAnalytics(grpc::CallbackServerContext* context,
                                              const orders::v1::GetOrderAnalyticsRequest* request,
                                              orders::v1::OrderAnalytics* response) override;
  grpc::ServerUnaryReactor* PutImportChunk(grpc::CallbackServerContext* context,
                                           const orders::v1::PutImportChunkRequest* request,
                                           orders::v1::ImportChunk* response) override;
  grpc::ServerUnaryReactor* CommitImport(grpc::CallbackServerContext* context,
                                         const orders::v1::CommitImportRequest* request,
                                         orders::v1::ImportSummary* response) override;

  // The same calls answered on the calling thread, for in-process callers (fuzzing): identical
  // rules and answers, the admission wait included.
  grpc::Status CreateOrderNow(grpc::ServerContext* context,
                              const orders::v1::CreateOrderRequest* request,
                              orders::v1::CreateOrderResponse* response);
  grpc::Status GetOrderNow(grpc::ServerContext* context, const orders::v1::GetOrderRequest* request,
                           orders::v1::Order* response);
  grpc::Status ListOrdersNow(grpc::ServerContext* context,
                             const orders::v1::ListOrdersRequest* request,
                             orders::v1::ListOrdersResponse* response);
  grpc::Status CancelOrderNow(grpc::ServerContext* context,
                              const orders::v1::CancelOrderRequest* request,
                              orders::v1::CancelOrderResponse* response);
  grpc::Status SetShippingAddressNow(grpc::ServerContext* context,
                                     const orders::v1::SetShippingAddressRequest* request,
                                     orders::v1::Order* response);
  grpc::Status GetOrderAnalyticsNow(grpc::ServerContext* context,
                                    const orders::v1::GetOrderAnalyticsRequest* request,
                                    orders::v1::OrderAnalytics* response);
  grpc::Status PutImportChunkNow(grpc::ServerContext* context,
                                 const orders::v1::PutImportChunkRequest* request,
                                 orders::v1::ImportChunk* response);
  grpc::Status CommitImportNow(grpc::ServerContext* context,
                               const orders::v1::CommitImportRequest* request,
                               orders::v1::ImportSummary* response);

 private:
  // What a method needs before its work: its name for --chaos_methods (null: chaos never fails
  // it), whether it takes an idempotency key, and its admission lane.
  struct CallShape {
    const char* chaos_method;
    bool needs_key;
    common::AdmissionLane lane;
  };
  using Lane = common::AdmissionLane;
  static constexpr CallShape kCreateOrderShape{kChaosCreateOrder, true, Lane::kWork};
  static constexpr CallShape kGetOrderShape{nullptr, false, Lane::kPriority};
  static constexpr CallShape kListOrdersShape{nullptr, false, Lane::kWork};
  static constexpr CallShape kCancelOrderShape{kChaosCancelOrder, true, Lane::kWork};
  static constexpr CallShape kSetShippingAddressShape{nullptr, false, Lane::kWork};
  static constexpr CallShape kGetOrderAnalyticsShape{nullptr, false, Lane::kWork};
  static constexpr CallShape kPutImportChunkShape{kChaosPutImportChunk, false, Lane::kWork};
  static constexpr CallShape kCommitImportShape{kChaosCommitImport, false, Lane::kWork};

  // A call through the callback API: chaos, ScopeOf and admission's decision on gRPC's thread (a
  // refusal answered at once); then `Work` on a worker, holding the permit. Chaos that drops the
  // response answers UNAVAILABLE after the work.
  template <auto Work, typename Request, typename Response>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, const Request* request,
                                  Response* response, const CallShape& shape);
  // The same on the calling thread.
  template <auto Work, typename Request, typename Response>
  grpc::Status ServeNow(grpc::ServerContext* context, const Request* request, Response* response,
                        const CallShape& shape);
  ChaosPoint RollChaos(const CallShape& shape);

  // Each method's work once admitted: the domain call, its answer, the replay header.
  grpc::Status CreateOrderWork(grpc::ServerContextBase& context, const RequestScope& scope,
                               const orders::v1::CreateOrderRequest& request,
                               orders::v1::CreateOrderResponse* response);
  grpc::Status GetOrderWork(grpc::ServerContextBase& context, const RequestScope& scope,
                            const orders::v1::GetOrderRequest& request,
                            orders::v1::Order* response);
  grpc::Status ListOrdersWork(grpc::ServerContextBase& context, const RequestScope& scope,
                              const orders::v1::ListOrdersRequest& request,
                              orders::v1::ListOrdersResponse* response);
  grpc::Status CancelOrderWork(grpc::ServerContextBase& context, const RequestScope& scope,
                               const orders::v1::CancelOrderRequest& request,
                               orders::v1::CancelOrderResponse* response);
  grpc::Status SetShippingAddressWork(grpc::ServerContextBase& context, const RequestScope& scope,
                                      const orders::v1::SetShippingAddressRequest& request,
                                      orders::v1::Order* response);
  grpc::Status GetOrderAnalyticsWork(grpc::ServerContextBase& context, const RequestScope& scope,
                                     const orders::v1::GetOrderAnalyticsRequest& request,
                                     orders::v1::OrderAnalytics* response);
  grpc::Status PutImportChunkWork(grpc::ServerContextBase& context, const RequestScope& scope,
                                  const orders::v1::PutImportChunkRequest& request,
                                  orders::v1::ImportChunk* response);
  grpc::Status CommitImportWork(grpc::ServerContextBase& context, const RequestScope& scope,
                                const orders::v1::CommitImportRequest& request,
                                orders::v1::ImportSummary* response);

  // The caller's tenant (UNAUTHENTICATED first: an unknown caller learns nothing), then the
  // text rule on the whole request (INVALID_ARGUMENT TEXT_NOT_STORABLE naming each field,
  // common/storable_text.h), then the idempotency key when the method needs one
  // (INVALID_ARGUMENT IDEMPOTENCY_KEY_MISSING / IDEMPOTENCY_KEY_INVALID). Every RPC calls it
  // first, so no rule below it ever sees such text.
  absl::StatusOr<RequestScope> ScopeOf(const grpc::ServerContextBase& context,
                                       const google::protobuf::Message& request,
                                       bool needs_key) const;

  OrderLogic& logic_;
  const common::TokenAuthenticator& auth_;
  ChaosDice* chaos_;
  common::AdmissionController* admission_;
  // Runs admitted and queued callback calls: admission bounds them (worker_threads).
  common::WorkerPool workers_;
};

}  // namespace orders

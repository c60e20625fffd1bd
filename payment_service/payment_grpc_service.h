// gRPC adapters: metadata (bearer token, idempotency key, deadline) in, the domain's
// absl::Status out through common::ToGrpcStatus (domain "payments.example"), replays marked with
// `idempotent-replayed: true`. The one rule applied here is the text rule of both services, on
// every request after authentication and before the key (INVALID_ARGUMENT TEXT_NOT_STORABLE
// naming each field; common/storable_text.h); every other rule lives in the domain.
#pragma once

#include <string>

#include "common/admission.h"
#include "common/auth.h"
#include "common/worker_pool.h"
#include "payment_service/error_domain.h"
#include "payment_service/faults.h"
#include "payment_service/payments.h"
#include "payments/v1/payments.grpc.pb.h"

namespace payment_service {

class PaymentGrpcService final : public payments::v1::PaymentService::CallbackService {
 public:
  // `admission` may be null (no admission control). With one, every RPC takes a permit after
  // authentication and before the ledger: Charge, Refund and ListCharges on the work lane (per
  // caller share), GetCharge and GetLedgerSummary on the priority lane (common/admission.h).
  // `worker_threads` (at least 1) run admitted calls; with admission,
  // AdmissionConfig::worker_threads (all it can hold at once).
  PaymentGrpcService(Payments& payments, const common::TokenAuthenticator& auth,
                     common::AdmissionController* admission = nullptr, int worker_threads = 4)
      : payments_(payments), auth_(auth), admission_(admission), workers_(worker_threads) {}

  // Served through gRPC's callback API (common/callback_serve.h): the caller, the text rule, the
  // key and admission's decision on gRPC's thread, a refusal at once; the ledger on a worker.
  grpc::ServerUnaryReactor* Charge(grpc::CallbackServerContext* context,
                                   const payments::v1::ChargeRequest* request,
                                   payments::v1::Charge* response) override;
  grpc::ServerUnaryReactor* Refund(grpc::CallbackServerContext* context,
                                   const payments::v1::RefundRequest* request,
                                   payments::v1::Refund* response) override;
  grpc::ServerUnaryReactor* GetCharge(grpc::CallbackServerContext* context,
                                      const payments::v1::GetChargeRequest* request,
                                      payments::v1::Charge* response) override;
  grpc::ServerUnaryReactor* ListCharges(grpc::CallbackServerContext* context,
                                        const payments::v1::ListChargesRequest* request,
                                        payments::v1::ListChargesResponse* response) override;
  grpc::ServerUnaryReactor* GetLedgerSummary(grpc::CallbackServerContext* context,
                                             const payments::v1::GetLedgerSummaryRequest* request,
                                             payments::v1::LedgerSummary* response) override;

  // The same calls answered on the calling thread, for in-process callers (fuzzing): identical
  // rules and answers, the admission wait included.
  grpc::Status ChargeNow(grpc::ServerContext* context, const payments::v1::ChargeRequest* request,
                         payments::v1::Charge* response);
  grpc::Status RefundNow(grpc::ServerContext* context, const payments::v1::RefundRequest* request,
                         payments::v1::Refund* response);
  grpc::Status GetChargeNow(grpc::ServerContext* context,
                            const payments::v1::GetChargeRequest* request,
                            payments::v1::Charge* response);
  grpc::Status ListChargesNow(grpc::ServerContext* context,
                              const payments::v1::ListChargesRequest* request,
                              payments::v1::ListChargesResponse* response);
  grpc::Status GetLedgerSummaryNow(grpc::ServerContext* context,
                                   const payments::v1::GetLedgerSummaryRequest* request,
                                   payments::v1::LedgerSummary* response);

 private:
  // Who calls, and under which idempotency key when the method takes one.
  struct CallScope {
    std::string caller;
    RequestKey key;  // empty unless CallShape::needs_key
  };
  struct CallShape {
    bool needs_key;
    common::AdmissionLane lane;
  };
  using Lane = common::AdmissionLane;
  static constexpr CallShape kChargeShape{true, Lane::kWork};
  static constexpr CallShape kRefundShape{true, Lane::kWork};
  static constexpr CallShape kGetChargeShape{false, Lane::kPriority};
  static constexpr CallShape kListChargesShape{false, Lane::kWork};
  static constexpr CallShape kGetLedgerSummaryShape{false, Lane::kPriority};

  // The caller (UNAUTHENTICATED first, so an unknown caller learns nothing), then the text rule
  // on the whole request (INVALID_ARGUMENT TEXT_NOT_STORABLE naming each field;
  // common/storable_text.h), then the idempotency key when the method takes one, before any
  // domain rule or the ledger sees it.
  absl::StatusOr<CallScope> ScopeOf(const grpc::ServerContextBase& context,
                                    const google::protobuf::Message& request, bool needs_key) const;
  template <auto Work, typename Request, typename Response>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, const Request* request,
                                  Response* response, const CallShape& shape);
  template <auto Work, typename Request, typename Response>
  grpc::Status ServeNow(grpc::ServerContext* context, const Request* request, Response* response,
                        const CallShape& shape);

  // Each method's work once admitted: the ledger call, its answer, the replay header.
  grpc::Status ChargeWork(grpc::ServerContextBase& context, const CallScope& scope,
                          const payments::v1::ChargeRequest& request,
                          payments::v1::Charge* response);
  grpc::Status RefundWork(grpc::ServerContextBase& context, const CallScope& scope,
                          const payments::v1::RefundRequest& request,
                          payments::v1::Refund* response);
  grpc::Status GetChargeWork(grpc::ServerContextBase& context, const CallScope& scope,
                             const payments::v1::GetChargeRequest& request,
                             payments::v1::Charge* response);
  grpc::Status ListChargesWork(grpc::ServerContextBase& context, const CallScope& scope,
                               const payments::v1::ListChargesRequest& request,
                               payments::v1::ListChargesResponse* response);
  grpc::Status GetLedgerSummaryWork(grpc::ServerContextBase& context, const CallScope& scope,
                                    const payments::v1::GetLedgerSummaryRequest& request,
                                    payments::v1::LedgerSummary* response);

  Payments& payments_;
  const common::TokenAuthenticator& auth_;
  common::AdmissionController* admission_;
  common::WorkerPool workers_;
};

// Registered only with --enable_fault_admin. SetFaults replaces the whole configuration.
class FaultAdminGrpcService final : public payments::v1::PaymentFaultAdmin::Service {
 public:
  FaultAdminGrpcService(FaultInjector& faults, const common::TokenAuthenticator& auth)
      : faults_(faults), auth_(auth) {}

  grpc::Status SetFaults(grpc::ServerContext* context, const payments::v1::FaultConfig* request,
                         payments::v1::FaultConfig* response) override;
  grpc::Status GetFaults(grpc::ServerContext* context,
                         const payments::v1::GetFaultsRequest* request,
                         payments::v1::FaultState* response) override;

 private:
  FaultInjector& faults_;
  const common::TokenAuthenticator& auth_;
};

FaultConfig FromProto(const payments::v1::FaultConfig& config);
payments::v1::FaultConfig ToProto(const FaultConfig& config);

}  // namespace payment_service

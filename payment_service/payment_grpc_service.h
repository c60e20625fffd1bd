// gRPC adapters: metadata (bearer token, idempotency key, deadline) in, the domain's
// absl::Status out through common::ToGrpcStatus (domain "payments.example"), replays marked with
// `idempotent-replayed: true`. The one rule applied here is the text rule of both services, on
// every request after authentication and before the key (INVALID_ARGUMENT TEXT_NOT_STORABLE
// naming each field; common/storable_text.h); every other rule lives in the domain.
#pragma once

#include "common/admission.h"
#include "common/auth.h"
#include "payment_service/error_domain.h"
#include "payment_service/faults.h"
#include "payment_service/payments.h"
#include "payments/v1/payments.grpc.pb.h"

namespace payment_service {

class PaymentGrpcService final : public payments::v1::PaymentService::Service {
 public:
  // `admission` may be null (no admission control). With one, every RPC takes a permit after
  // authentication and before the ledger: Charge, Refund and ListCharges on the work lane (per
  // caller share), GetCharge and GetLedgerSummary on the priority lane (common/admission.h).
  PaymentGrpcService(Payments& payments, const common::TokenAuthenticator& auth,
                     common::AdmissionController* admission = nullptr)
      : payments_(payments), auth_(auth), admission_(admission) {}

  grpc::Status Charge(grpc::ServerContext* context, const payments::v1::ChargeRequest* request,
                      payments::v1::Charge* response) override;
  grpc::Status Refund(grpc::ServerContext* context, const payments::v1::RefundRequest* request,
                      payments::v1::Refund* response) override;
  grpc::Status GetCharge(grpc::ServerContext* context,
                         const payments::v1::GetChargeRequest* request,
                         payments::v1::Charge* response) override;
  grpc::Status ListCharges(grpc::ServerContext* context,
                           const payments::v1::ListChargesRequest* request,
                           payments::v1::ListChargesResponse* response) override;
  grpc::Status GetLedgerSummary(grpc::ServerContext* context,
                                const payments::v1::GetLedgerSummaryRequest* request,
                                payments::v1::LedgerSummary* response) override;

 private:
  Payments& payments_;
  const common::TokenAuthenticator& auth_;
  common::AdmissionController* admission_;
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

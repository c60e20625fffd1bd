#include "payment_service/payment_grpc_service.h"

#include <string>

#include "absl/time/clock.h"
#include "common/callback_serve.h"
#include "common/grpc_admission.h"
#include "common/grpc_metadata.h"
#include "common/status_mapper.h"
#include "common/storable_text.h"
#include "grpcpp/server_context.h"

namespace payment_service {
namespace {

grpc::Status Reply(const absl::Status& status) {
  return common::ToGrpcStatus(status, kErrorDomain);
}

// Every RPC of both services passes here first: the caller (UNAUTHENTICATED first, so an unknown
// caller learns nothing), then the text rule on the whole request (INVALID_ARGUMENT
// TEXT_NOT_STORABLE naming each field; common/storable_text.h), before any domain rule or the
// ledger sees it.
absl::StatusOr<std::string> CallerOf(const grpc::ServerContextBase& context,
                                     const common::TokenAuthenticator& auth,
                                     const google::protobuf::Message& request) {
  absl::StatusOr<std::string> caller = auth.Identify(common::BearerTokenOf(context));
  if (!caller.ok()) return caller.status();
  if (absl::Status s = common::CheckStorableText(request); !s.ok()) return s;
  return caller;
}

}  // namespace

absl::StatusOr<PaymentGrpcService::CallScope> PaymentGrpcService::ScopeOf(
    const grpc::ServerContextBase& context, const google::protobuf::Message& request,
    bool needs_key) const {
  CallScope scope;
  absl::StatusOr<std::string> caller = CallerOf(context, auth_, request);
  if (!caller.ok()) return caller.status();
  scope.caller = *std::move(caller);
  if (needs_key) {
    absl::StatusOr<std::string> key = common::IdempotencyKeyOf(context);
    if (!key.ok()) return key.status();
    scope.key = RequestKey{scope.caller, *std::move(key)};
  }
  return scope;
}

template <auto Work, typename Request, typename Response>
grpc::ServerUnaryReactor* PaymentGrpcService::Serve(grpc::CallbackServerContext* context,
                                                    const Request* request, Response* response,
                                                    const CallShape& shape) {
  absl::StatusOr<CallScope> scope = ScopeOf(*context, *request, shape.needs_key);
  if (!scope.ok()) return common::AnswerNow(context, Reply(scope.status()));
  const std::string caller = scope->caller;
  return common::AdmitThenRun(context, admission_, workers_, shape.lane, caller, kErrorDomain,
                              [this, context, request, response, scope = *std::move(scope)] {
                                return (this->*Work)(*context, scope, *request, response);
                              });
}

template <auto Work, typename Request, typename Response>
grpc::Status PaymentGrpcService::ServeNow(grpc::ServerContext* context, const Request* request,
                                          Response* response, const CallShape& shape) {
  absl::StatusOr<CallScope> scope = ScopeOf(*context, *request, shape.needs_key);
  if (!scope.ok()) return Reply(scope.status());
  return common::AdmitThenRunNow(context, admission_, shape.lane, scope->caller, kErrorDomain, [&] {
    return (this->*Work)(*context, *scope, *request, response);
  });
}

// Both entries of each method (common/callback_serve.h).
#define PAYMENTS_SERVE(Method, Request, Response, Shape)                                        \
  COMMON_SERVE_UNARY(PaymentGrpcService, Method, payments::v1::Request, payments::v1::Response, \
                     Shape)

PAYMENTS_SERVE(Charge, ChargeRequest, Charge, kChargeShape)
PAYMENTS_SERVE(Refund, RefundRequest, Refund, kRefundShape)
PAYMENTS_SERVE(GetCharge, GetChargeRequest, Charge, kGetChargeShape)
PAYMENTS_SERVE(ListCharges, ListChargesRequest, ListChargesResponse, kListChargesShape)
PAYMENTS_SERVE(GetLedgerSummary, GetLedgerSummaryRequest, LedgerSummary, kGetLedgerSummaryShape)
#undef PAYMENTS_SERVE

grpc::Status PaymentGrpcService::ChargeWork(grpc::ServerContextBase& context,
                                            const CallScope& scope,
                                            const payments::v1::ChargeRequest& request,
                                            payments::v1::Charge* response) {
  absl::StatusOr<ChargeOutcome> outcome =
      payments_.Charge(scope.key, request, common::DeadlineOf(context));
  if (!outcome.ok()) return Reply(outcome.status());
  if (outcome->replayed) common::MarkReplayed(context);
  *response = std::move(outcome->charge);
  return grpc::Status::OK;
}

grpc::Status PaymentGrpcService::RefundWork(grpc::ServerContextBase& context,
                                            const CallScope& scope,
                                            const payments::v1::RefundRequest& request,
                                            payments::v1::Refund* response) {
  absl::StatusOr<RefundOutcome> outcome =
      payments_.Refund(scope.key, request, common::DeadlineOf(context));
  if (!outcome.ok()) return Reply(outcome.status());
  if (outcome->replayed) common::MarkReplayed(context);
  *response = std::move(outcome->refund);
  return grpc::Status::OK;
}

grpc::Status PaymentGrpcService::GetChargeWork(grpc::ServerContextBase& context,
                                               const CallScope& scope,
                                               const payments::v1::GetChargeRequest& request,
                                               payments::v1::Charge* response) {
  absl::StatusOr<payments::v1::Charge> charge =
      payments_.GetCharge(scope.caller, request, common::DeadlineOf(context));
  if (!charge.ok()) return Reply(charge.status());
  *response = *std::move(charge);
  return grpc::Status::OK;
}

grpc::Status PaymentGrpcService::ListChargesWork(grpc::ServerContextBase& context,
                                                 const CallScope& scope,
                                                 const payments::v1::ListChargesRequest& request,
                                                 payments::v1::ListChargesResponse* response) {
  absl::StatusOr<payments::v1::ListChargesResponse> page =
      payments_.ListCharges(scope.caller, request, common::DeadlineOf(context));
  if (!page.ok()) return Reply(page.status());
  *response = *std::move(page);
  return grpc::Status::OK;
}

grpc::Status PaymentGrpcService::GetLedgerSummaryWork(
    grpc::ServerContextBase& context, const CallScope& scope,
    const payments::v1::GetLedgerSummaryRequest& /*request*/,
    payments::v1::LedgerSummary* response) {
  absl::StatusOr<payments::v1::LedgerSummary> summary =
      payments_.GetLedgerSummary(scope.caller, common::DeadlineOf(context));
  if (!summary.ok()) return Reply(summary.status());
  *response = *std::move(summary);
  return grpc::Status::OK;
}

FaultConfig FromProto(const payments::v1::FaultConfig& p) {
  FaultConfig c;
  c.fail_before_charge = p.fail_before_charge();
  c.fail_after_charge = p.fail_after_charge();
  c.latency_ms = p.latency_ms();
  c.latency_jitter_ms = p.latency_jitter_ms();
  c.seed = p.seed();
  c.flaky_failures = p.flaky_failures();
  return c;
}

payments::v1::FaultConfig ToProto(const FaultConfig& c) {
  payments::v1::FaultConfig p;
  p.set_fail_before_charge(c.fail_before_charge);
  p.set_fail_after_charge(c.fail_after_charge);
  p.set_latency_ms(c.latency_ms);
  p.set_latency_jitter_ms(c.latency_jitter_ms);
  p.set_seed(c.seed);
  p.set_flaky_failures(c.flaky_failures);
  return p;
}

grpc::Status FaultAdminGrpcService::SetFaults(grpc::ServerContext* context,
                                              const payments::v1::FaultConfig* request,
                                              payments::v1::FaultConfig* response) {
  if (auto caller = CallerOf(*context, auth_, *request); !caller.ok()) {
    return Reply(caller.status());
  }
  if (absl::Status s = faults_.Set(FromProto(*request)); !s.ok()) return Reply(s);
  *response = ToProto(faults_.config());
  return grpc::Status::OK;
}

grpc::Status FaultAdminGrpcService::GetFaults(grpc::ServerContext* context,
                                              const payments::v1::GetFaultsRequest* request,
                                              payments::v1::FaultState* response) {
  if (auto caller = CallerOf(*context, auth_, *request); !caller.ok()) {
    return Reply(caller.status());
  }
  *response->mutable_config() = ToProto(faults_.config());
  const FaultCounters counters = faults_.counters();
  response->set_injected_fail_before_charge(counters.fail_before_charge);
  response->set_injected_fail_after_charge(counters.fail_after_charge);
  response->set_injected_latency(counters.latency);
  response->set_injected_flaky(counters.flaky);
  return grpc::Status::OK;
}

}  // namespace payment_service

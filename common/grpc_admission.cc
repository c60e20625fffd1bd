#include "common/grpc_admission.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/status_mapper.h"
#include "grpcpp/server_context.h"

namespace common {

absl::StatusOr<std::variant<AdmissionController::Permit, AdmissionController::Ticket>> EnterCall(
    AdmissionController* admission, grpc::ServerContextBase& context, AdmissionLane lane,
    absl::string_view tenant) {
  if (admission == nullptr) return AdmissionController::Permit();
  auto entered = admission->Enter(lane, tenant, absl::FromChrono(context.deadline()));
  if (!entered.ok()) AddRetryPushback(context, entered.status());
  return entered;
}

absl::StatusOr<AdmissionController::Permit> AwaitCall(AdmissionController* admission,
                                                      grpc::ServerContextBase& context,
                                                      AdmissionController::Ticket ticket) {
  absl::StatusOr<AdmissionController::Permit> permit = admission->Await(std::move(ticket));
  if (!permit.ok()) AddRetryPushback(context, permit.status());
  return permit;
}

absl::StatusOr<AdmissionController::Permit> AdmitCall(AdmissionController* admission,
                                                      grpc::ServerContextBase& context,
                                                      AdmissionLane lane,
                                                      absl::string_view tenant) {
  auto entered = EnterCall(admission, context, lane, tenant);
  if (!entered.ok()) return entered.status();
  if (auto* permit = std::get_if<AdmissionController::Permit>(&*entered)) return std::move(*permit);
  return AwaitCall(admission, context, std::move(std::get<AdmissionController::Ticket>(*entered)));
}

}  // namespace common

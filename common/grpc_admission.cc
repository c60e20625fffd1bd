#include "common/grpc_admission.h"

#include "absl/time/clock.h"
#include "common/status_mapper.h"
#include "grpcpp/server_context.h"

namespace common {

absl::StatusOr<AdmissionController::Permit> AdmitCall(AdmissionController* admission,
                                                      grpc::ServerContextBase& context,
                                                      AdmissionLane lane,
                                                      absl::string_view tenant) {
  if (admission == nullptr) return AdmissionController::Permit();
  absl::StatusOr<AdmissionController::Permit> permit =
      admission->Admit(lane, tenant, absl::FromChrono(context.deadline()));
  if (!permit.ok()) AddRetryPushback(context, permit.status());
  return permit;
}

}  // namespace common

// The gRPC side of admission control (common/admission.h): one call that both services' handlers
// make first, after authentication and before any database work.
#pragma once

#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/admission.h"

namespace grpc {
class ServerContextBase;
}

namespace common {

// Admits the call on `lane` for `tenant` within the call's own deadline. `admission` may be null
// (admission control off: every call is admitted, an empty permit). On refusal returns the
// controller's status (RESOURCE_EXHAUSTED OVERLOADED / TENANT_OVERLOADED with RetryInfo, or
// DEADLINE_EXCEEDED DEADLINE_EXPIRED) and has already set the `grpc-retry-pushback-ms` trailer
// (gRFC A6) on `context`; the handler answers it through its status mapper.
absl::StatusOr<AdmissionController::Permit> AdmitCall(AdmissionController* admission,
                                                      grpc::ServerContextBase& context,
                                                      AdmissionLane lane, absl::string_view tenant);

// AdmitCall's decision without its wait, for gRPC's callback threads (which must not block): a
// permit, a refusal (pushback trailer set, as AdmitCall), or a queued ticket for AwaitCall on a
// thread that may block.
absl::StatusOr<std::variant<AdmissionController::Permit, AdmissionController::Ticket>> EnterCall(
    AdmissionController* admission, grpc::ServerContextBase& context, AdmissionLane lane,
    absl::string_view tenant);
// Waits for the queued call's slot (AdmissionController::Await); on refusal sets the pushback
// trailer as AdmitCall does.
absl::StatusOr<AdmissionController::Permit> AwaitCall(AdmissionController* admission,
                                                      grpc::ServerContextBase& context,
                                                      AdmissionController::Ticket ticket);

}  // namespace common

// The one mapping between absl::Status (domain) and grpc::Status (wire), Google error model:
// every error leaves with exactly one ErrorInfo, and the details travel in grpc-status-details-bin.
#pragma once

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace common {

grpc::Status ToGrpcStatus(const absl::Status& status, absl::string_view error_domain);

// Back to absl::Status on the client side, keeping ErrorInfo/BadRequest/RetryInfo as payloads.
absl::Status FromGrpcStatus(const grpc::Status& status);

// True for codes where the same call may succeed later (DESIGN: UNAVAILABLE, DEADLINE_EXCEEDED,
// ABORTED, RESOURCE_EXHAUSTED).
bool IsTransient(absl::StatusCode code);

}  // namespace common

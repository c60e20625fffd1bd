// The one mapping between absl::Status (domain) and grpc::Status (wire), Google error model:
// every error leaves with exactly one ErrorInfo, and the details travel in grpc-status-details-bin.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/errors.h"  // IsTransient, RetryDelayOf: the domain's half of the error model
#include "grpcpp/support/status.h"

namespace grpc {
class ServerContextBase;
}

namespace common {

// gRFC A6 server pushback: the trailing metadata key a server sets to tell a client when to retry
// (milliseconds, decimal).
inline constexpr char kRetryPushbackHeader[] = "grpc-retry-pushback-ms";

grpc::Status ToGrpcStatus(const absl::Status& status, absl::string_view error_domain);

// When `status` carries a google.rpc.RetryInfo delay, also sends it as `grpc-retry-pushback-ms`
// trailing metadata, so gRPC's own retry policy and clients that read only metadata honour it
// (used for admission refusals, common/admission.h). Call before the handler returns.
void AddRetryPushback(grpc::ServerContextBase& context, const absl::Status& status);

// The `grpc-retry-pushback-ms` value for `status`: its RetryInfo delay in whole milliseconds, or
// "" when it carries none (the one rule behind AddRetryPushback and common/retry_pushback.h).
std::string RetryPushbackMillis(const absl::Status& status);

// Back to absl::Status on the client side, keeping ErrorInfo/BadRequest/RetryInfo as payloads.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace common

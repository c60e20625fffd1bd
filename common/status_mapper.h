// The one mapping between absl::Status (domain) and grpc::Status (wire), Google error model:
// every error leaves with exactly one ErrorInfo, and the details travel in grpc-status-details-bin.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
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

// The RetryInfo delay of a status, or zero (client side: FromGrpcStatus keeps RetryInfo).
absl::Duration RetryDelayOf(const absl::Status& status);

// Back to absl::Status on the client side, keeping ErrorInfo/BadRequest/RetryInfo as payloads.
absl::Status FromGrpcStatus(const grpc::Status& status);

// True for codes where the same call may succeed later (DESIGN: UNAVAILABLE, DEADLINE_EXCEEDED,
// ABORTED, RESOURCE_EXHAUSTED).
bool IsTransient(absl::StatusCode code);

// gRPC's own refusal of a message over a size limit ("Received message larger than max",
// "Sent message larger than max"): RESOURCE_EXHAUSTED without an ErrorInfo (the services' own
// RESOURCE_EXHAUSTED, a full connection pool, always carries one). The same message is refused
// every time.
bool IsMessageTooLarge(const absl::Status& status);

// Whether this answer may change if the same call is made again: a transient code, except a
// message over a size limit.
bool IsTransient(const absl::Status& status);

}  // namespace common

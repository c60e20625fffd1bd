// Reading request metadata in gRPC adapters.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace grpc {
class ServerContextBase;
}

namespace common {

std::vector<absl::string_view> MetadataValues(const grpc::ServerContextBase& context,
                                              absl::string_view key);

// The validated `idempotency-key` of a request.
absl::StatusOr<std::string> IdempotencyKeyOf(const grpc::ServerContextBase& context);

// The token of `authorization: Bearer <token>`, or empty when absent.
std::string BearerTokenOf(const grpc::ServerContextBase& context);

// The caller's deadline (grpc-timeout), absl::InfiniteFuture() when it set none. The one way
// adapters read it: the domain and the stores bound their waits by it (common/pg/timeouts.h).
absl::Time DeadlineOf(const grpc::ServerContextBase& context);

// Marks a response as a replay of a stored one.
void MarkReplayed(grpc::ServerContextBase& context);

}  // namespace common

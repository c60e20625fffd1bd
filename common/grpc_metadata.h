// Reading request metadata in gRPC adapters.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace grpc {
class ServerContext;
}

namespace common {

std::vector<absl::string_view> MetadataValues(const grpc::ServerContext& context,
                                              absl::string_view key);

// The validated `idempotency-key` of a request.
absl::StatusOr<std::string> IdempotencyKeyOf(const grpc::ServerContext& context);

// The token of `authorization: Bearer <token>`, or empty when absent.
std::string BearerTokenOf(const grpc::ServerContext& context);

// The caller's deadline (grpc-timeout), absl::InfiniteFuture() when it set none. The one way
// adapters read it: the domain and the stores bound their waits by it (common/pg/timeouts.h).
absl::Time DeadlineOf(const grpc::ServerContext& context);

// Marks a response as a replay of a stored one.
void MarkReplayed(grpc::ServerContext& context);

}  // namespace common

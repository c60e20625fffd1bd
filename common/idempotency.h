// Idempotency-key rules shared by both services.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace google::protobuf {
class Message;
}

namespace common {

inline constexpr char kIdempotencyKeyHeader[] = "idempotency-key";
inline constexpr char kReplayedHeader[] = "idempotent-replayed";
inline constexpr size_t kMaxIdempotencyKeyLength = 255;

// Checks the values of the `idempotency-key` metadata entry: exactly one, 1-255 visible ASCII
// characters other than ',' (RFC 9110 5.3: a comma joins folded copies of a header, so "K,K" is
// two keys, not one). Errors are INVALID_ARGUMENT with reason IDEMPOTENCY_KEY_MISSING or _INVALID.
absl::StatusOr<std::string> ValidateIdempotencyKey(const std::vector<absl::string_view>& values);

// SHA-256 over the method name and the request's deterministic serialization: the same request
// always gives the same fingerprint, a different one (almost) never does.
std::string RequestFingerprint(absl::string_view method, const google::protobuf::Message& request);

// Lower-case hex, for logs and error metadata (never log a raw key).
std::string ShortHash(absl::string_view text);

}  // namespace common

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

// --- The protocol every keyed write of both services follows, in both store kinds (seed
// patterns: 冪等キー / idempotency key, draft-ietf-httpapi-idempotency-key-header section 2.7):
//   1. claim the key with the request's fingerprint, in the transaction that does the write;
//   2. a key already stored and finished: ReplayOrRefuse -- the stored answer when the
//      fingerprints match, FAILED_PRECONDITION IDEMPOTENCY_KEY_REUSED when they differ;
//   3. a key held by a request still running: wait on its row lock up to the lock timeout
//      (pg::LockTimeout, from the caller's deadline); a wait cut off there is KeyInUseIfLocked.
inline constexpr char kKeyReusedReason[] = "IDEMPOTENCY_KEY_REUSED";
inline constexpr char kKeyInUseReason[] = "IDEMPOTENCY_KEY_IN_USE";

// FAILED_PRECONDITION, reason IDEMPOTENCY_KEY_REUSED: the key was used for a different request.
// Deterministic: never retried; the caller needs a new key.
absl::Status KeyReusedError();
// ABORTED, reason IDEMPOTENCY_KEY_IN_USE, RetryInfo 250 ms: a request with this key is still
// running; retrying with the same key is safe and replays it once it finished.
absl::Status KeyInUseError();

// Step 2: the stored response when `stored_fingerprint` is the request's, else KeyReusedError().
absl::StatusOr<std::string> ReplayOrRefuse(absl::string_view stored_fingerprint,
                                           absl::string_view fingerprint,
                                           std::string stored_response);

// Step 3: a statement that gave up waiting for the key's row lock (SQLSTATE 55P03,
// lock_not_available) means KeyInUseError(); any other status is returned unchanged.
absl::Status KeyInUseIfLocked(absl::Status status);

}  // namespace common

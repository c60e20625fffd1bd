#include "common/idempotency.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "common/errors.h"
#include "common/pg/sql_state.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"

namespace common {

absl::StatusOr<std::string> ValidateIdempotencyKey(const std::vector<absl::string_view>& values) {
  const std::string field = kIdempotencyKeyHeader;
  if (values.empty()) {
    return InvalidArgument("IDEMPOTENCY_KEY_MISSING",
                           "request metadata 'idempotency-key' is required for this method",
                           {{field, "missing"}});
  }
  if (values.size() > 1) {
    return InvalidArgument("IDEMPOTENCY_KEY_INVALID",
                           "request metadata 'idempotency-key' must appear exactly once",
                           {{field, "repeated"}});
  }
  absl::string_view key = values.front();
  if (key.empty()) {
    return InvalidArgument("IDEMPOTENCY_KEY_INVALID", "'idempotency-key' must not be empty",
                           {{field, "empty"}});
  }
  if (key.size() > kMaxIdempotencyKeyLength) {
    return InvalidArgument("IDEMPOTENCY_KEY_INVALID",
                           "'idempotency-key' must be at most 255 characters",
                           {{field, "longer than 255 characters"}});
  }
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) {
      return InvalidArgument("IDEMPOTENCY_KEY_INVALID",
                             "'idempotency-key' must be visible ASCII (no spaces)",
                             {{field, "contains a character outside visible ASCII"}});
    }
    // RFC 9110 section 5.3: a proxy may fold two copies of a header into one value joined by
    // commas ("K3,K3"). Such a value must not become a third key that a retry with "K3" misses.
    if (c == ',') {
      return InvalidArgument("IDEMPOTENCY_KEY_INVALID",
                             "'idempotency-key' must be one key: a comma joins several (as a "
                             "proxy folding repeated headers does)",
                             {{field, "contains a comma"}});
    }
  }
  return std::string(key);
}

std::string RequestFingerprint(absl::string_view method, const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  // SHA-256 over method, a 0 byte, then the bytes (the one-shot call: OpenSSL 3 deprecates the
  // SHA256_CTX functions).
  std::string input(method);
  input.push_back('\0');
  input += bytes;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

std::string ShortHash(absl::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 6));
}

absl::Status KeyReusedError() {
  return ErrorWithReason(
      absl::StatusCode::kFailedPrecondition, kKeyReusedReason,
      "this idempotency-key was already used for a different request; use a new key");
}

absl::Status KeyInUseError() {
  // About the time a request holding a key needs to finish.
  return WithRetryDelay(ErrorWithReason(absl::StatusCode::kAborted, kKeyInUseReason,
                                        "a request with this idempotency-key is still running; "
                                        "retry with the same key"),
                        absl::Milliseconds(250));
}

absl::StatusOr<std::string> ReplayOrRefuse(absl::string_view stored_fingerprint,
                                           absl::string_view fingerprint,
                                           std::string stored_response) {
  if (stored_fingerprint != fingerprint) return KeyReusedError();
  return stored_response;
}

absl::Status KeyInUseIfLocked(absl::Status status) {
  if (pg::SqlStateOf(status) == pg::sql_state::kLockNotAvailable) return KeyInUseError();
  return status;
}

}  // namespace common

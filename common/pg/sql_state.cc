#include "common/pg/sql_state.h"

#include "absl/strings/match.h"

namespace pg {

bool BreaksConnectionForWrites(absl::string_view state) {
  using namespace sql_state;  // NOLINT: the names are the point
  return absl::StartsWith(state, kConnectionExceptionClass) || state == kAdminShutdown ||
         state == kCrashShutdown || state == kCannotConnectNow || state == kIdleSessionTimeout ||
         state == kReadOnlySqlTransaction;
}

absl::StatusCode CodeForSqlState(absl::string_view state) {
  using namespace sql_state;  // NOLINT
  if (BreaksConnectionForWrites(state)) return absl::StatusCode::kUnavailable;
  if (state == kSerializationFailure || state == kDeadlockDetected || state == kLockNotAvailable) {
    return absl::StatusCode::kAborted;
  }
  if (state == kQueryCanceled) return absl::StatusCode::kDeadlineExceeded;
  if (state == kUniqueViolation) return absl::StatusCode::kAlreadyExists;
  if (absl::StartsWith(state, kIntegrityConstraintViolationClass)) {
    return absl::StatusCode::kFailedPrecondition;
  }
  if (absl::StartsWith(state, kInsufficientResourcesClass)) {
    return absl::StatusCode::kResourceExhausted;
  }
  if (absl::StartsWith(state, kDataExceptionClass)) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kInternal;
}

std::string SqlStateOf(const absl::Status& status) {
  auto payload = status.GetPayload(kSqlStateUrl);
  return payload ? std::string(*payload) : "";
}

}  // namespace pg

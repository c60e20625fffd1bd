#include "common/pg/timeouts.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pg/connection.h"

namespace pg {

namespace {

constexpr Query kSetLocalTimeouts{"pg_set_local_timeouts", R"sql(
SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true))sql"};

}  // namespace

namespace {

absl::Duration LockWait(absl::Time deadline) {
  return std::clamp(deadline - absl::Now() - kLockTimeoutMargin, absl::Milliseconds(1),
                    absl::Seconds(30));
}

std::string Millis(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d), "ms"); }

}  // namespace

std::string DeadlineTimeout(absl::Time deadline) { return Millis(LockWait(deadline)); }

std::string StatementTimeout(absl::Time deadline) {
  return Millis(LockWait(deadline) + kLockTimeoutMargin);
}

absl::Status SetLocalTimeouts(Connection& conn, absl::Time deadline) {
  const absl::Duration lock = LockWait(deadline);
  return conn.Exec(kSetLocalTimeouts, {Millis(lock + kLockTimeoutMargin), Millis(lock)}).status();
}

}  // namespace pg

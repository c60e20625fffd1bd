#include "common/pg/timeouts.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pg/connection.h"

namespace pg {

namespace {

constexpr Query kSetLocalTimeouts{"pg_set_local_timeouts", R"sql(
SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $1, true))sql"};

}  // namespace

std::string DeadlineTimeout(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now() - absl::Milliseconds(50);
  left = std::clamp(left, absl::Milliseconds(1), absl::Seconds(30));
  return absl::StrCat(absl::ToInt64Milliseconds(left), "ms");
}

absl::Status SetLocalTimeouts(Connection& conn, absl::Time deadline) {
  return conn.Exec(kSetLocalTimeouts, {DeadlineTimeout(deadline)}).status();
}

}  // namespace pg

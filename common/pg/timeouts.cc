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

// The lock wait and the margin after it, from one reading of the clock.
struct Waits {
  absl::Duration lock;
  absl::Duration margin;
};

Waits LockWait(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  const absl::Duration margin = LockTimeoutMargin(left);
  return {std::clamp(left - margin, absl::Milliseconds(1), kMaxWait), margin};
}

std::string Millis(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d), "ms"); }

}  // namespace

absl::Duration LockTimeoutMargin(absl::Duration time_left) {
  return std::clamp(time_left / 4, kMinLockTimeoutMargin, kMaxLockTimeoutMargin);
}

std::string DeadlineTimeout(absl::Time deadline) { return Millis(LockWait(deadline).lock); }

std::string StatementTimeout(absl::Time deadline) {
  const Waits waits = LockWait(deadline);
  return Millis(waits.lock + waits.margin);
}

absl::Time WaitDeadline(absl::Time deadline) {
  const absl::Time now = absl::Now();
  return std::min(deadline - LockTimeoutMargin(deadline - now), now + kMaxWait);
}

absl::Time BackgroundDeadline() { return absl::Now() + kBackgroundWait; }

absl::StatusOr<std::unique_ptr<DeadlineTransaction>> DeadlineTransaction::Begin(
    Pool& pool, absl::Time deadline) {
  if (deadline <= absl::Now()) {
    return absl::DeadlineExceededError("the deadline passed before the database was reached");
  }
  absl::StatusOr<Pool::Lease> lease = pool.Acquire(WaitDeadline(deadline));
  if (!lease.ok()) return lease.status();
  auto tx = std::unique_ptr<DeadlineTransaction>(new DeadlineTransaction(*std::move(lease)));
  if (absl::Status s = tx->tx_.Begin(); !s.ok()) return s;
  if (absl::Status s = SetLocalTimeouts(tx->conn(), deadline); !s.ok()) return s;
  return tx;
}

absl::Status SetLocalTimeouts(Connection& conn, absl::Time deadline) {
  const Waits waits = LockWait(deadline);
  return conn.Exec(kSetLocalTimeouts, {Millis(waits.lock + waits.margin), Millis(waits.lock)})
      .status();
}

}  // namespace pg

// Deadlines all the way down: the caller's remaining time bounds each statement, set per
// transaction (set_config(..., true), i.e. SET LOCAL) and never per session, so a pooler that
// hands this server connection to another client (pgbouncer, transaction pooling) never carries
// our timeout over (see deploy/OPERATIONS.md, the pooler notes).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace pg {

class Connection;

// A lock wait ends this long before the caller's deadline, with time left to answer.
inline constexpr absl::Duration kLockTimeoutMargin = absl::Milliseconds(50);

// The lock_timeout text ("123ms") for a caller whose deadline is `deadline`: the time left less
// kLockTimeoutMargin, at least 1 ms and at most 30 s (a caller without a deadline still never
// holds a lock for longer).
std::string DeadlineTimeout(absl::Time deadline);

// The statement_timeout text for the same caller: DeadlineTimeout + kLockTimeoutMargin, i.e. the
// deadline itself (the caller has gone then), and always later than the lock wait's end, so a
// statement stuck behind a lock ends as lock_not_available (55P03, which callers turn into a
// precise answer such as IDEMPOTENCY_KEY_IN_USE), never as a statement timeout, even when the
// deadline is (nearly) past and both are at their minimum.
std::string StatementTimeout(absl::Time deadline);

// Inside an open transaction on `conn`, for the rest of that transaction: statement_timeout =
// StatementTimeout(deadline), lock_timeout = DeadlineTimeout(deadline).
// A statement past them fails with SQLSTATE 57014 (query_canceled, DEADLINE_EXCEEDED) or 55P03
// (lock_not_available) and the transaction rolls back. Errors: the connection's (UNAVAILABLE
// when it broke).
absl::Status SetLocalTimeouts(Connection& conn, absl::Time deadline);

}  // namespace pg

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

// The timeout text ("123ms") for a caller whose deadline is `deadline`: the time left less a
// margin to answer in (so the statement ends before the caller gives up, not after), at least
// 1 ms and at most 30 s (a caller without a deadline still never holds a lock for longer).
std::string DeadlineTimeout(absl::Time deadline);

// Inside an open transaction on `conn`: statement_timeout and lock_timeout = DeadlineTimeout
// (deadline) for the rest of that transaction. A statement past it fails with SQLSTATE 57014
// (query_canceled) or 55P03 (lock_not_available) and the transaction rolls back. Errors: the
// connection's (UNAVAILABLE when it broke).
absl::Status SetLocalTimeouts(Connection& conn, absl::Time deadline);

}  // namespace pg

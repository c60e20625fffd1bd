// Deadlines all the way down: the caller's remaining time bounds each statement, set per
// transaction (set_config(..., true), i.e. SET LOCAL) and never per session, so a pooler that
// hands this server connection to another client (pgbouncer, transaction pooling) never carries
// our timeout over (see deploy/OPERATIONS.md, the pooler notes).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/pool.h"

namespace pg {

// The longest any wait lasts (for a pooled connection, a lock, a statement), even for a caller
// without a deadline (absl::InfiniteFuture()): one bound for every request path.
inline constexpr absl::Duration kMaxWait = absl::Seconds(30);

// Background work (outbox relay, reaper, analytics projector, reconciler) has no caller and so
// no deadline: each of its pool waits ends this long after it starts.
inline constexpr absl::Duration kBackgroundWait = absl::Seconds(5);

// A lock or pool wait ends before the caller's deadline, with time left to answer: a quarter of
// the time left, at least kMinLockTimeoutMargin and at most kMaxLockTimeoutMargin.
// Why a quarter and not a fixed margin: on a saturated machine an answer takes tens of
// milliseconds to reach its caller (the overload bench measures 12 ms at the median), and a
// PostgreSQL backend descheduled between the start of a statement and the start of its lock wait
// for longer than the margin ends by statement_timeout (57014, DEADLINE_EXCEEDED) instead of
// lock_timeout (55P03, IDEMPOTENCY_KEY_IN_USE): a fixed 50 ms was eaten in CI. Callers with short
// deadlines (< 200 ms) keep the minimum.
inline constexpr absl::Duration kMinLockTimeoutMargin = absl::Milliseconds(50);
inline constexpr absl::Duration kMaxLockTimeoutMargin = absl::Seconds(1);

// The margin for a caller with `time_left` until its deadline (see above).
absl::Duration LockTimeoutMargin(absl::Duration time_left);

// The lock_timeout text ("123ms") for a caller whose deadline is `deadline`: the time left less
// LockTimeoutMargin, at least 1 ms and at most kMaxWait (a caller without a deadline still never
// holds a lock for longer).
std::string DeadlineTimeout(absl::Time deadline);

// The statement_timeout text for the same caller: DeadlineTimeout + LockTimeoutMargin, i.e. the
// deadline itself (the caller has gone then), and always later than the lock wait's end, so a
// statement stuck behind a lock ends as lock_not_available (55P03, which callers turn into a
// precise answer such as IDEMPOTENCY_KEY_IN_USE), never as a statement timeout, even when the
// deadline is (nearly) past and both are at their minimum.
std::string StatementTimeout(absl::Time deadline);

// What a pool wait for a caller with `deadline` is bounded by: LockTimeoutMargin before
// `deadline` (like a lock wait, so the answer, RESOURCE_EXHAUSTED from Pool::Acquire, still
// reaches the caller in time), but at most kMaxWait from now (absl::InfiniteFuture(), no
// deadline, waits kMaxWait).
absl::Time WaitDeadline(absl::Time deadline);

// The deadline of one background pool wait: now + kBackgroundWait.
absl::Time BackgroundDeadline();

// Inside an open transaction on `conn`, for the rest of that transaction: statement_timeout =
// StatementTimeout(deadline), lock_timeout = DeadlineTimeout(deadline).
// A statement past them fails with SQLSTATE 57014 (query_canceled, DEADLINE_EXCEEDED) or 55P03
// (lock_not_available) and the transaction rolls back. Errors: the connection's (UNAVAILABLE
// when it broke).
absl::Status SetLocalTimeouts(Connection& conn, absl::Time deadline);

// One transaction of a request path, bounded by the caller's deadline: a connection leased from
// `pool` (the wait ends at WaitDeadline(deadline)), BEGIN, then SetLocalTimeouts(deadline). Rolls
// back unless committed; the connection goes back to the pool when this is destroyed.
class DeadlineTransaction {
 public:
  // Errors: DEADLINE_EXCEEDED when `deadline` has passed; RESOURCE_EXHAUSTED (Pool::Acquire) when
  // no connection was free by WaitDeadline(deadline); the connection's otherwise
  // (UNAVAILABLE when it could not be opened or broke).
  static absl::StatusOr<std::unique_ptr<DeadlineTransaction>> Begin(Pool& pool,
                                                                    absl::Time deadline);
  Connection& conn() { return *lease_; }
  // A failed COMMIT whose connection broke has an unknown outcome (Transaction::Commit).
  absl::Status Commit() { return tx_.Commit(); }

 private:
  explicit DeadlineTransaction(Pool::Lease lease) : lease_(std::move(lease)), tx_(*lease_) {}
  Pool::Lease lease_;  // declared first: the transaction ends before the lease returns
  Transaction tx_;
};

}  // namespace pg

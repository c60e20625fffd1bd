// Queue-like tables (the outbox, the analytics projector's order_events) are read as "the oldest
// N rows of a partial index": WHERE <still to do> ORDER BY id LIMIT N. The rows leave the index
// as they are done, and until VACUUM comes (autovacuum_naptime, a minute by default) each leaves
// a dead index entry behind. Only an ordered index scan then stays cheap: it stops after N live
// rows, and it marks the dead entries it meets so that later scans skip them (kill_prior_tuple).
// A bitmap scan re-reads every entry, live and dead, and sorts them, on every call.
//
// The planner picks the bitmap scan whenever its statistics say the index is small, which is what
// they say after any burst (a table never analyzed, or analyzed while the queue was empty).
// Measured (bench/overload_phase.sh, payments slowed): after a storm the outbox claim read
// 18,000 buffers and took 137 ms per call, the analytics batch 5,500 buffers, and the order rate
// fell to 0.55-0.75 of the peak; a claim over 20,000 dead and 20,000 live entries took 40 ms by
// bitmap scan, 14 ms by index scan the first time and 3 ms after.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/pg/connection.h"

namespace pg {

// Runs `query` in a transaction of its own on `conn`, planned with bitmap and sequential scans
// off (SET LOCAL: the setting ends with the transaction, so a pooler never carries it to another
// client), then commits. The query must read its queue through a partial index whose order is
// its ORDER BY. Errors: the connection's (a statement's SQLSTATE, UNAVAILABLE when it broke); a
// failed COMMIT whose connection broke has an unknown outcome, as for any transaction.
absl::StatusOr<Result> ExecQueueScan(Connection& conn, const Query& query,
                                     const std::vector<Param>& params);

}  // namespace pg

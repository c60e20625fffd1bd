// PostgreSQL error codes (SQLSTATE, PostgreSQL manual appendix A) by their standard names, and the
// one rule that turns a SQLSTATE into a status code. Everything that looks at a SQLSTATE compares
// against these names, so a decision about one code is made here and nowhere else.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pg {
namespace sql_state {

// Class 08: connection exception (the link to the server failed or was refused).
inline constexpr absl::string_view kConnectionExceptionClass = "08";
// Class 22: data exception.
inline constexpr absl::string_view kDataExceptionClass = "22";
inline constexpr absl::string_view kCharacterNotInRepertoire = "22021";
// Class 23: integrity constraint violation.
inline constexpr absl::string_view kIntegrityConstraintViolationClass = "23";
inline constexpr absl::string_view kUniqueViolation = "23505";
// Class 25: invalid transaction state. A write in a read-only transaction: the server is a hot
// standby, or default_transaction_read_only is on (a primary being demoted or fenced).
inline constexpr absl::string_view kReadOnlySqlTransaction = "25006";
// Class 40: transaction rollback; the whole transaction may be retried.
inline constexpr absl::string_view kSerializationFailure = "40001";
inline constexpr absl::string_view kDeadlockDetected = "40P01";
// Class 53: insufficient resources.
inline constexpr absl::string_view kInsufficientResourcesClass = "53";
// Class 55: object not in prerequisite state. lock_timeout ran out (or NOWAIT found a lock).
inline constexpr absl::string_view kLockNotAvailable = "55P03";
// Class 57: operator intervention.
inline constexpr absl::string_view kQueryCanceled = "57014";       // statement_timeout, cancel
inline constexpr absl::string_view kAdminShutdown = "57P01";       // smart/fast shutdown, terminate
inline constexpr absl::string_view kCrashShutdown = "57P02";       // another backend crashed
inline constexpr absl::string_view kCannotConnectNow = "57P03";    // starting up, shutting down
inline constexpr absl::string_view kIdleSessionTimeout = "57P05";  // the server closed the session

}  // namespace sql_state

// Whether a statement that failed with `state` leaves its connection unfit for writes, so the
// pool must discard it and open a new one through the connection string (where
// target_session_attrs=read-write finds the current primary): connection exceptions (class 08),
// the server shutting down, crashed or not yet accepting (57P01-57P03), a session the server
// closed for idling (57P05), and a read-only
// transaction (25006: the connection is on a standby, or the primary was made read-only).
// Retrying on the same connection would fail the same way until a restart.
bool BreaksConnectionForWrites(absl::string_view state);

// The status code a statement's failure with `state` gets, which callers up to the gRPC answer
// keep (domain -> common::ToGrpcStatus):
//   every state BreaksConnectionForWrites accepts -> UNAVAILABLE (the same request, same
//     idempotency key, succeeds once a writable server answers; never INTERNAL);
//   40001, 40P01, 55P03 -> ABORTED (retry the transaction); 57014 -> DEADLINE_EXCEEDED;
//   23505 -> ALREADY_EXISTS; other class 23 -> FAILED_PRECONDITION;
//   class 53 -> RESOURCE_EXHAUSTED; class 22 -> INVALID_ARGUMENT; anything else -> INTERNAL.
absl::StatusCode CodeForSqlState(absl::string_view state);

// The absl::Status payload (type URL) in which this layer's errors carry their SQLSTATE.
inline constexpr char kSqlStateUrl[] = "pg.sqlstate";

// SQLSTATE of a status produced by this layer (pg::Connection), or empty. Reads the payload only
// (no libpq), so the domain's rules can ask too (common::KeyInUseIfLocked).
std::string SqlStateOf(const absl::Status& status);

}  // namespace pg

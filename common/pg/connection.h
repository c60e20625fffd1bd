// A thin, parameter-only layer over libpq. No SQL is ever built from input: statements are named
// constants, prepared once per connection (or sent unnamed with each execution, for transaction
// poolers), and every value travels as a parameter.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pg/sql_state.h"  // SqlStateOf

struct pg_conn;
struct pg_result;

namespace pg {

// A named statement; the name must be unique per SQL text within the process.
struct Query {
  const char* name;
  const char* sql;
};

class Param {
 public:
  Param(absl::string_view text) : value_(std::string(text)) {}  // NOLINT: implicit on purpose
  Param(const char* text) : value_(std::string(text)) {}        // NOLINT
  Param(const std::string& text) : value_(text) {}              // NOLINT
  Param(int64_t n) : value_(std::to_string(n)) {}               // NOLINT
  Param(int n) : value_(std::to_string(n)) {}                   // NOLINT
  Param(bool b) : value_(b ? "true" : "false") {}               // NOLINT
  static Param Null() { return Param(); }
  // Raw bytes for a bytea parameter (sent in binary format).
  static Param Bytes(absl::string_view bytes) {
    Param p(bytes);
    p.binary_ = true;
    return p;
  }

  const std::optional<std::string>& value() const { return value_; }
  bool binary() const { return binary_; }

 private:
  Param() = default;
  std::optional<std::string> value_;
  bool binary_ = false;
};

class Result {
 public:
  Result() = default;
  explicit Result(pg_result* res);

  int rows() const;
  // Rows touched by INSERT/UPDATE/DELETE.
  int64_t affected() const;
  bool IsNull(int row, int col) const;
  absl::string_view Text(int row, int col) const;
  int64_t Int(int row, int col) const;
  bool Bool(int row, int col) const;
  // A bytea column (text format), decoded.
  std::string Bytes(int row, int col) const;

 private:
  std::shared_ptr<pg_result> res_;
};

// An array literal ('{"a","b"}') for a text[] or bigint[] parameter: lets one statement insert
// many rows through unnest($n::text[]). Values are escaped; they still travel as a parameter.
std::string ArrayLiteral(const std::vector<std::string>& values);
std::string ArrayLiteral(const std::vector<int64_t>& values);

struct ConnectOptions {
  // true: each statement is prepared once per connection under its Query name (PQprepare, then
  // PQexecPrepared). false: every execution sends the SQL as an unnamed statement (PQexecParams,
  // one extended-protocol round trip), which is what a transaction-mode pooler such as PgBouncer
  // before 1.21 can carry: there a named statement prepared on one server connection is missing
  // ("does not exist") or already there ("already exists") on the next.
  bool prepared_statements = true;
};

class Connection {
 public:
  // UNAVAILABLE when the server cannot be reached or refuses the connection (libpq's message).
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& conninfo,
                                                          const ConnectOptions& options = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a statement, preparing it on first use on this connection (prepared_statements) or
  // unnamed. Errors carry the SQLSTATE (SqlStateOf) and the code pg::CodeForSqlState gives it
  // (sql_state.h); a failure that BreaksConnectionForWrites also marks the connection broken.
  // A text (non-binary)
  // parameter holding a NUL byte is never sent: libpq would cut it at the NUL and the statement
  // would act on another value. It fails with INVALID_ARGUMENT, SQLSTATE 22021 (what PostgreSQL
  // answers for U+0000 in text), and nothing runs.
  absl::StatusOr<Result> Exec(const Query& query, std::initializer_list<Param> params = {});
  absl::StatusOr<Result> Exec(const Query& query, const std::vector<Param>& params);
  // Runs a fixed, parameter-free script (migrations, BEGIN/COMMIT). Never pass input here.
  absl::Status ExecScript(const char* sql);

  // True once the connection is unusable or unfit for writes: the link failed, a statement failed
  // with a SQLSTATE that BreaksConnectionForWrites, the server reports in_hot_standby (PostgreSQL
  // 14+ sends it on connect and on promotion), or Discard() was called. The pool then drops it.
  bool broken() const;
  // Marks the connection broken (e.g. a check found the server in recovery).
  void Discard() { discarded_ = true; }
  // Whether a transaction is open (libpq's view).
  bool in_transaction() const;
  // Socket of the connection, for LISTEN wake-ups.
  int socket() const;
  // Reads pending NOTIFY messages; returns how many arrived.
  int ConsumeNotifications();

 private:
  Connection(pg_conn* conn, const ConnectOptions& options) : conn_(conn), options_(options) {}
  absl::Status StatusOf(pg_result* res);

  pg_conn* conn_;
  const ConnectOptions options_;
  bool discarded_ = false;
  absl::flat_hash_set<std::string> prepared_;
};

// BEGIN on construction via Begin(), ROLLBACK on destruction unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& conn) : conn_(conn) {}
  ~Transaction();
  absl::Status Begin();
  // A failed COMMIT whose connection broke has an unknown outcome: callers must be idempotent.
  absl::Status Commit();

 private:
  Connection& conn_;
  bool open_ = false;
};

}  // namespace pg

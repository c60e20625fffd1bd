#include "common/pg/connection.h"

#include <libpq-fe.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/pg/sql_state.h"

namespace pg {

Result::Result(pg_result* res) : res_(res, PQclear) {}
int Result::rows() const { return res_ ? PQntuples(res_.get()) : 0; }
int64_t Result::affected() const {
  int64_t n = 0;
  if (res_) (void)absl::SimpleAtoi(PQcmdTuples(res_.get()), &n);
  return n;
}
bool Result::IsNull(int row, int col) const { return PQgetisnull(res_.get(), row, col); }
absl::string_view Result::Text(int row, int col) const {
  return absl::string_view(PQgetvalue(res_.get(), row, col), PQgetlength(res_.get(), row, col));
}
int64_t Result::Int(int row, int col) const {
  int64_t n = 0;
  (void)absl::SimpleAtoi(Text(row, col), &n);
  return n;
}
bool Result::Bool(int row, int col) const { return Text(row, col) == "t"; }
std::string Result::Bytes(int row, int col) const {
  size_t len = 0;
  unsigned char* raw = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(res_.get(), row, col)), &len);
  if (raw == nullptr) return "";
  std::string out(reinterpret_cast<char*>(raw), len);
  PQfreemem(raw);
  return out;
}

std::string ArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string ArrayLiteral(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo,
                                                             const ConnectOptions& options) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL: ", PQerrorMessage(conn)));
    PQfinish(conn);
    return status;
  }
  // NOTICEs (e.g. "already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn, options));
}

Connection::~Connection() { PQfinish(conn_); }

absl::Status Connection::StatusOf(PGresult* res) {
  const ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return absl::OkStatus();
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = res ? PQresultErrorMessage(res) : PQerrorMessage(conn_);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  absl::StatusCode code = absl::StatusCode::kUnavailable;  // no SQLSTATE: the link failed
  if (state != nullptr) code = CodeForSqlState(state);
  if (state != nullptr && BreaksConnectionForWrites(state)) discarded_ = true;
  if (PQstatus(conn_) != CONNECTION_OK) code = absl::StatusCode::kUnavailable;
  absl::Status status(code, absl::StrCat("postgres: ", message));
  if (state != nullptr) status.SetPayload(kSqlStateUrl, absl::Cord(state));
  return status;
}

absl::StatusOr<Result> Connection::Exec(const Query& query, std::initializer_list<Param> params) {
  return Exec(query, std::vector<Param>(params));
}

absl::StatusOr<Result> Connection::Exec(const Query& query, const std::vector<Param>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& v = params[i].value();
    // libpq sends a text parameter as a C string, so a NUL would cut the value short and the
    // statement would store or match another value than the caller's. Text cannot hold U+0000
    // anyway (SQLSTATE 22021): refuse the statement. Request validation
    // (common::CheckStorableText) refuses such input earlier; this is the last line.
    if (v && !params[i].binary() && v->find('\0') != std::string::npos) {
      absl::Status status = absl::InvalidArgumentError(
          absl::StrCat("postgres: parameter $", i + 1, " of ", query.name,
                       " holds a NUL byte, which text cannot store"));
      status.SetPayload(kSqlStateUrl, absl::Cord(sql_state::kCharacterNotInRepertoire));
      return status;
    }
  }
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  std::vector<int> formats(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& v = params[i].value();
    values[i] = v ? v->data() : nullptr;
    lengths[i] = v ? static_cast<int>(v->size()) : 0;
    formats[i] = params[i].binary() ? 1 : 0;
  }
  if (!options_.prepared_statements) {
    PGresult* res = PQexecParams(conn_, query.sql, static_cast<int>(params.size()), nullptr,
                                 values.data(), lengths.data(), formats.data(), 0);
    absl::Status status = StatusOf(res);
    if (!status.ok()) {
      PQclear(res);
      return status;
    }
    return Result(res);
  }
  if (!prepared_.contains(query.name)) {
    PGresult* prep = PQprepare(conn_, query.name, query.sql, 0, nullptr);
    absl::Status status = StatusOf(prep);
    PQclear(prep);
    if (!status.ok()) return status;
    prepared_.insert(query.name);
  }
  PGresult* res = PQexecPrepared(conn_, query.name, static_cast<int>(params.size()), values.data(),
                                 lengths.data(), formats.data(), 0);
  absl::Status status = StatusOf(res);
  if (!status.ok()) {
    PQclear(res);
    return status;
  }
  return Result(res);
}

absl::Status Connection::ExecScript(const char* sql) {
  PGresult* res = PQexec(conn_, sql);
  absl::Status status = StatusOf(res);
  PQclear(res);
  return status;
}

bool Connection::broken() const {
  if (discarded_ || PQstatus(conn_) != CONNECTION_OK) return true;
  const char* standby = PQparameterStatus(conn_, "in_hot_standby");
  return standby != nullptr && absl::string_view(standby) == "on";
}
bool Connection::in_transaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }
int Connection::socket() const { return PQsocket(conn_); }

int Connection::ConsumeNotifications() {
  if (!PQconsumeInput(conn_)) return 0;
  int n = 0;
  while (PGnotify* notify = PQnotifies(conn_)) {
    PQfreemem(notify);
    ++n;
  }
  return n;
}

Transaction::~Transaction() {
  if (open_ && !conn_.broken()) (void)conn_.ExecScript("ROLLBACK");
}

absl::Status Transaction::Begin() {
  absl::Status status = conn_.ExecScript("BEGIN");
  open_ = status.ok();
  return status;
}

absl::Status Transaction::Commit() {
  absl::Status status = conn_.ExecScript("COMMIT");
  open_ = false;
  return status;
}

}  // namespace pg

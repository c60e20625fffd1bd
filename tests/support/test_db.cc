#include "tests/support/test_db.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pg/connection.h"
#include "gtest/gtest.h"

namespace testing_support {

std::string ClusterConninfo() {
  const char* env = std::getenv("TEST_PG_CONNINFO");
  return env ? env : "";
}

std::string PgBouncerConninfo() {
  const char* env = std::getenv("TEST_PGBOUNCER_CONNINFO");
  return env ? env : "";
}

absl::StatusOr<std::string> CreateTestDatabase(const std::string& prefix,
                                               const std::string& cluster_arg) {
  const std::string cluster = cluster_arg.empty() ? ClusterConninfo() : cluster_arg;
  if (cluster.empty()) {
    return absl::FailedPreconditionError(
        "TEST_PG_CONNINFO is not set: run the tests through tests/run.sh");
  }
  static std::atomic<int> counter{0};
  const std::string name = absl::StrCat(prefix, "_", getpid(), "_", counter++, "_",
                                        absl::ToUnixMicros(absl::Now()) % 1000000);
  auto conn = pg::Connection::Open(cluster + " dbname=postgres");
  if (!conn.ok()) return conn.status();
  // CREATE DATABASE takes no parameters; the name is built from digits and a fixed prefix only.
  const std::string sql = absl::StrCat("CREATE DATABASE \"", name, "\"");
  if (absl::Status s = (*conn)->ExecScript(sql.c_str()); !s.ok()) return s;
  return absl::StrCat(cluster, " dbname=", name);
}

absl::StatusOr<std::string> QueryScalar(const std::string& conninfo, const char* sql) {
  return QueryScalar(conninfo, sql, std::vector<std::string>());
}

absl::StatusOr<std::string> QueryScalar(const std::string& conninfo, const char* sql,
                                        const std::vector<std::string>& params) {
  auto conn = pg::Connection::Open(conninfo, {.prepared_statements = false});
  if (!conn.ok()) return conn.status();
  auto result = (*conn)->Exec(pg::Query{"test_scalar", sql},
                              std::vector<pg::Param>(params.begin(), params.end()));
  if (!result.ok()) return result.status();
  if (result->rows() == 0 || result->IsNull(0, 0)) return std::string();
  return std::string(result->Text(0, 0));
}

std::string ScalarOrError(const std::string& conninfo, const char* sql) {
  auto value = QueryScalar(conninfo, sql);
  return value.ok() ? *value : value.status().ToString();
}

absl::StatusOr<ServiceDatabases> CreateServiceDatabases(const std::string& cluster) {
  ServiceDatabases dbs;
  auto order = CreateTestDatabase("orders", cluster);
  if (!order.ok()) return order.status();
  auto payment = CreateTestDatabase("payments", cluster);
  if (!payment.ok()) return payment.status();
  return ServiceDatabases{*std::move(order), *std::move(payment)};
}

namespace {

std::string ParamScalarOrError(const std::string& conninfo, const char* sql,
                               const std::vector<std::string>& params) {
  auto value = QueryScalar(conninfo, sql, params);
  return value.ok() ? *value : value.status().ToString();
}

}  // namespace

std::string CountOutboxEvents(const std::string& order_db, const std::string& kind) {
  return ParamScalarOrError(order_db, "SELECT count(*) FROM outbox_events WHERE kind = $1", {kind});
}

std::string CountUnfinishedOutboxEvents(const std::string& order_db) {
  return ScalarOrError(order_db, "SELECT count(*) FROM outbox_events WHERE status <> 'DONE'");
}

std::string CountIdempotencyKeys(const std::string& db, const std::string& key) {
  return ParamScalarOrError(db, "SELECT count(*) FROM idempotency_keys WHERE key = $1", {key});
}

int64_t ScalarInt(const std::string& conninfo, const char* sql) {
  auto value = QueryScalar(conninfo, sql);
  EXPECT_TRUE(value.ok()) << value.status();
  return value.ok() && !value->empty() ? std::stoll(*value) : -1;
}

}  // namespace testing_support

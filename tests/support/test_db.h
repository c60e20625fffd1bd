// A fresh database per test on the private cluster that tests/run.sh starts.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace testing_support {

// Connection string of the cluster (TEST_PG_CONNINFO); empty when unset.
std::string ClusterConninfo();

// Connection string of PgBouncer (transaction mode) in front of that cluster
// (TEST_PGBOUNCER_CONNINFO); empty when unset.
std::string PgBouncerConninfo();

// Creates a database with a unique name and returns its connection string (on `cluster`, default
// ClusterConninfo()).
absl::StatusOr<std::string> CreateTestDatabase(const std::string& prefix,
                                               const std::string& cluster = "");

// The two databases of a service pair ("orders..." and "payments...") on `cluster` (default
// ClusterConninfo()), as connection strings.
struct ServiceDatabases {
  std::string order;
  std::string payment;
};
absl::StatusOr<ServiceDatabases> CreateServiceDatabases(const std::string& cluster = "");

// Runs one fixed SQL query against `conninfo` and returns the first column of the first row
// (empty when no row). For assertions on final database state. An unnamed statement, so it also
// runs through a transaction-mode pooler.
absl::StatusOr<std::string> QueryScalar(const std::string& conninfo, const char* sql);

// QueryScalar for assertions: the value, or the error's text (which then fails the comparison
// and shows why).
std::string ScalarOrError(const std::string& conninfo, const char* sql);

// QueryScalar of a count or another integer: its value; -1 (and a failed expectation naming the
// error) when the query fails, and -1 when it returns no row (no count equals that).
int64_t ScalarInt(const std::string& conninfo, const char* sql);

}  // namespace testing_support

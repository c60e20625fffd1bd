// A fresh database per test on the private cluster that tests/run.sh starts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// QueryScalar with $1, $2, ... bound to `params` (as text), for probes that name a key or an id.
absl::StatusOr<std::string> QueryScalar(const std::string& conninfo, const char* sql,
                                        const std::vector<std::string>& params);

// Named probes of the final state, for assertions (ScalarOrError's text on failure):
// outbox events of `kind` ("CHARGE", "REFUND") in an order_service database,
std::string CountOutboxEvents(const std::string& order_db, const std::string& kind);
// outbox events not DONE yet,
std::string CountUnfinishedOutboxEvents(const std::string& order_db);
// stored idempotency keys spelled `key` (any tenant and method; either service's database).
std::string CountIdempotencyKeys(const std::string& db, const std::string& key);

// QueryScalar for assertions: the value, or the error's text (which then fails the comparison
// and shows why).
std::string ScalarOrError(const std::string& conninfo, const char* sql);

// QueryScalar of a count or another integer: its value; -1 (and a failed expectation naming the
// error) when the query fails, and -1 when it returns no row (no count equals that).
int64_t ScalarInt(const std::string& conninfo, const char* sql);

}  // namespace testing_support

// order_service's schema on a test database: one place for "a pool on a migrated orders
// database" (header-only: only the order-area tests link order_lib).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "gtest/gtest.h"
#include "order_service/schema.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"

namespace testing_support {

// Applies every order_service migration (order_service/schema.cc) to `pool`'s database through
// one of its connections (at most 10 s to get it). Errors: the pool's or the migration's status.
inline absl::Status MigrateOrders(pg::Pool& pool) {
  auto conn = pool.Acquire(absl::Now() + absl::Seconds(10));
  if (!conn.ok()) return conn.status();
  return pg::Migrate(**conn, "orders", orders::OrderMigrations());
}

// Fixture base for tests on PostgresOrderRepository and its neighbours: a fresh migrated orders
// database (`db_`), a pool on it (`pool_`), and Scalar() for assertions on its final state.
class OrdersDbTest : public ::testing::Test {
 protected:
  // Call from SetUp (wrapped in ASSERT_NO_FATAL_FAILURE when more set-up follows). `session`
  // is appended to the pool's connection string (e.g. " application_name=x").
  void SetUpOrdersDb(const std::string& prefix, int pool_size, const std::string& session = "") {
    ASSERT_OK_AND_ASSIGN(db_, CreateTestDatabase(prefix));
    pool_ = std::make_unique<pg::Pool>(db_ + session, pool_size);
    ASSERT_THAT(MigrateOrders(*pool_), IsOk());
  }
  // The first column of the first row of `sql` on db_, or the error's text.
  std::string Scalar(const std::string& sql) { return ScalarOrError(db_, sql.c_str()); }

  std::string db_;
  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace testing_support

// order_service's schema on a test database: one place for "a pool on a migrated orders
// database" (header-only: only the order-area tests link order_lib).
#pragma once

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "order_service/schema.h"

namespace testing_support {

// Applies every order_service migration (order_service/schema.cc) to `pool`'s database through
// one of its connections (at most 10 s to get it). Errors: the pool's or the migration's status.
inline absl::Status MigrateOrders(pg::Pool& pool) {
  auto conn = pool.Acquire(absl::Now() + absl::Seconds(10));
  if (!conn.ok()) return conn.status();
  return pg::Migrate(**conn, "orders", orders::OrderMigrations());
}

}  // namespace testing_support

// Schema migrations applied at start-up, each in its own transaction under a transaction-scoped
// advisory lock, so several replicas starting at once apply each migration exactly once, also
// through a transaction-mode pooler.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/pg/connection.h"

namespace pg {

struct Migration {
  int version;
  const char* sql;  // a fixed script; runs in one transaction
};

// Applies the migrations of `component` not yet recorded in schema_migrations, in order. The
// first failure is returned (a migration's own error carries "migration <component>/<version>");
// UNAVAILABLE while the database cannot be reached, so start-up may wait and try again.
absl::Status Migrate(Connection& conn, absl::string_view component,
                     const std::vector<Migration>& migrations);

}  // namespace pg

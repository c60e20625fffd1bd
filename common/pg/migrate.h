// Schema migrations applied at start-up under an advisory lock, so several replicas starting at
// once apply each migration exactly once.
#pragma once

#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "common/pg/connection.h"

namespace pg {

struct Migration {
  int version;
  const char* sql;  // a fixed script; runs in one transaction
};

absl::Status Migrate(Connection& conn, absl::string_view component,
                     const std::vector<Migration>& migrations);

}  // namespace pg

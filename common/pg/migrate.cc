#include "common/pg/migrate.h"

#include "absl/strings/str_cat.h"

namespace pg {
namespace {

constexpr Query kLock{"migrate_lock", "SELECT pg_advisory_lock(hashtext($1))"};
constexpr Query kUnlock{"migrate_unlock", "SELECT pg_advisory_unlock(hashtext($1))"};
constexpr Query kApplied{"migrate_applied",
                         "SELECT 1 FROM schema_migrations WHERE component = $1 AND version = $2"};
constexpr Query kRecord{"migrate_record",
                        "INSERT INTO schema_migrations (component, version) VALUES ($1, $2)"};

}  // namespace

absl::Status Migrate(Connection& conn, absl::string_view component,
                     const std::vector<Migration>& migrations) {
  if (auto r = conn.Exec(kLock, {component}); !r.ok()) return r.status();
  absl::Status result = [&]() -> absl::Status {
    if (absl::Status s = conn.ExecScript(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component text NOT NULL, version int NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (component, version))");
        !s.ok()) {
      return s;
    }
    for (const Migration& m : migrations) {
      auto applied = conn.Exec(kApplied, {component, m.version});
      if (!applied.ok()) return applied.status();
      if (applied->rows() > 0) continue;
      Transaction tx(conn);
      if (absl::Status s = tx.Begin(); !s.ok()) return s;
      if (absl::Status s = conn.ExecScript(m.sql); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("migration ", component, "/", m.version,
                                                   ": ", s.message()));
      }
      if (auto r = conn.Exec(kRecord, {component, m.version}); !r.ok()) return r.status();
      if (absl::Status s = tx.Commit(); !s.ok()) return s;
    }
    return absl::OkStatus();
  }();
  (void)conn.Exec(kUnlock, {component});
  return result;
}

}  // namespace pg

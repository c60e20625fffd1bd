#include "common/pg/migrate.h"

#include "absl/strings/str_cat.h"

namespace pg {
namespace {

// A transaction-scoped lock, taken first in every migration transaction: it is released by the
// COMMIT or ROLLBACK on the same server connection, so it also holds behind a transaction-mode
// pooler (a session lock there stays on whichever server connection took it, for ever).
constexpr Query kLock{"migrate_lock", "SELECT pg_advisory_xact_lock(hashtext($1))"};
constexpr Query kApplied{"migrate_applied",
                         "SELECT 1 FROM schema_migrations WHERE component = $1 AND version = $2"};
constexpr Query kRecord{"migrate_record",
                        "INSERT INTO schema_migrations (component, version) VALUES ($1, $2)"};

// Runs `body` in one transaction that holds the component's migration lock.
template <typename Body>
absl::Status Locked(Connection& conn, absl::string_view component, Body body) {
  Transaction tx(conn);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  if (auto r = conn.Exec(kLock, {component}); !r.ok()) return r.status();
  if (absl::Status s = body(); !s.ok()) return s;
  return tx.Commit();
}

}  // namespace

absl::Status Migrate(Connection& conn, absl::string_view component,
                     const std::vector<Migration>& migrations) {
  if (absl::Status s = Locked(conn, component,
                              [&] {
                                return conn.ExecScript(
                                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                    " component text NOT NULL, version int NOT NULL,"
                                    " applied_at timestamptz NOT NULL DEFAULT now(),"
                                    " PRIMARY KEY (component, version))");
                              });
      !s.ok()) {
    return s;
  }
  for (const Migration& m : migrations) {
    absl::Status s = Locked(conn, component, [&]() -> absl::Status {
      auto applied = conn.Exec(kApplied, {component, m.version});
      if (!applied.ok()) return applied.status();
      if (applied->rows() > 0) return absl::OkStatus();
      if (absl::Status s = conn.ExecScript(m.sql); !s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("migration ", component, "/", m.version, ": ", s.message()));
      }
      if (auto r = conn.Exec(kRecord, {component, m.version}); !r.ok()) return r.status();
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace pg

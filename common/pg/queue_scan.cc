#include "common/pg/queue_scan.h"

namespace pg {

namespace {

constexpr Query kIndexOrderOnly{"pg_queue_scan_settings", R"sql(
SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true))sql"};

}  // namespace

absl::StatusOr<Result> ExecQueueScan(Connection& conn, const Query& query,
                                     const std::vector<Param>& params) {
  Transaction tx(conn);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  if (absl::StatusOr<Result> set = conn.Exec(kIndexOrderOnly); !set.ok()) return set.status();
  absl::StatusOr<Result> rows = conn.Exec(query, params);
  if (!rows.ok()) return rows.status();
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  return rows;
}

}  // namespace pg

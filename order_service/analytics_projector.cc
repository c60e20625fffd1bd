#include "order_service/analytics_projector.h"

#include <cstdio>

#include "absl/time/clock.h"
#include "common/pg/queue_scan.h"
#include "common/pg/timeouts.h"
#include "order_service/order_sql.h"

namespace orders {
void AnalyticsProjector::Start() {
  thread_ = std::thread([this] {
    while (!stopping_) {
      auto n = RunOnce();
      if (!n.ok()) std::fprintf(stderr, "analytics: %s\n", n.status().ToString().c_str());
      if (n.ok() && *n == batch_) continue;  // more is waiting
      for (absl::Time until = absl::Now() + poll_; absl::Now() < until && !stopping_;) {
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
  });
}

void AnalyticsProjector::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int64_t> AnalyticsProjector::RunOnce() {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = pg::ExecQueueScan(**conn, sql::kProjectAnalytics, {batch_});
  if (!rows.ok()) return rows.status();
  return rows->Int(0, 0);
}

}  // namespace orders

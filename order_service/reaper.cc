#include "order_service/reaper.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pg/timeouts.h"
#include "order_service/order_sql.h"

namespace orders {
void Reaper::Start() {
  thread_ = std::thread([this] {
    while (!stopping_) {
      if (auto n = RunOnce(); !n.ok()) {
        std::fprintf(stderr, "reaper: %s\n", n.status().ToString().c_str());
      }
      for (absl::Time until = absl::Now() + options_.period; absl::Now() < until && !stopping_;) {
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  });
}

void Reaper::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int64_t> Reaper::RunOnce() {
  int64_t total = 0;
  for (const auto& [query, keep] : {std::pair{sql::kReapEvents, options_.done_events},
                                    std::pair{sql::kReapOrderEvents, options_.done_events},
                                    std::pair{sql::kReapInbox, options_.done_events},
                                    std::pair{sql::kReapKeys, options_.idempotency_keys}}) {
    while (true) {
      auto conn = pool_.Acquire(pg::BackgroundDeadline());
      if (!conn.ok()) return conn.status();
      auto rows = (*conn)->Exec(query, {absl::StrCat(absl::ToDoubleSeconds(keep)), options_.batch});
      if (!rows.ok()) return rows.status();
      total += rows->affected();
      if (rows->affected() < options_.batch || stopping_) break;
    }
  }
  return total;
}

}  // namespace orders

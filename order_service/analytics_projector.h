// The eventually consistent side (seed 000, 結果整合性): a consumer of order events that keeps
// per-customer analytics. Each batch is one statement: claim unprojected events (SKIP LOCKED),
// record their ids in analytics_inbox, apply increments only for ids the inbox had not seen,
// mark the batch projected. A redelivered event finds its id in the inbox and changes nothing.
// Money is kept per (customer, currency) in minor units (customer_analytics_money), never summed
// across currencies; paid amounts are gross (a later cancellation or refund subtracts nothing).
#pragma once

#include <atomic>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/pool.h"

namespace orders {

class AnalyticsProjector {
 public:
  AnalyticsProjector(pg::Pool& pool, absl::Duration poll = absl::Milliseconds(200), int batch = 500)
      : pool_(pool), poll_(poll), batch_(batch) {}
  ~AnalyticsProjector() { Stop(); }

  void Start();
  void Stop();
  // Projects one batch; returns how many events it consumed (applied or recognised as seen).
  absl::StatusOr<int64_t> RunOnce();

 private:
  pg::Pool& pool_;
  const absl::Duration poll_;
  const int batch_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace orders

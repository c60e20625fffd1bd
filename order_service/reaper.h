// Retention: deletes finished outbox events and expired idempotency records in small batches,
// so neither table grows without bound and no long transaction holds locks.
#pragma once

#include <atomic>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/pool.h"

namespace orders {

struct RetentionOptions {
  absl::Duration done_events = absl::Hours(1);        // DONE outbox events kept this long
  absl::Duration idempotency_keys = absl::Hours(24);  // then the key is new again
  absl::Duration period = absl::Seconds(10);
  int batch = 1000;
};

class Reaper {
 public:
  Reaper(pg::Pool& pool, RetentionOptions options) : pool_(pool), options_(options) {}
  ~Reaper() { Stop(); }

  void Start();
  void Stop();
  // One full pass (every batch until nothing is left); returns rows deleted.
  absl::StatusOr<int64_t> RunOnce();

 private:
  pg::Pool& pool_;
  const RetentionOptions options_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace orders

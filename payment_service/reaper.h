// Retention: a background thread deletes Refund idempotency records older than the retention
// period, in batches (short statements, no long locks). Charges are the ledger and stay, and with
// them their keys: a late retry of a charge is answered from the ledger however late it comes.
#pragma once

#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "payment_service/ledger.h"

namespace payment_service {

struct RetentionConfig {
  absl::Duration retention = absl::Hours(24);
  absl::Duration interval = absl::Minutes(1);
  int batch = 1000;
};

class Reaper {
 public:
  Reaper(Ledger& ledger, const RetentionConfig& config) : ledger_(ledger), config_(config) {}
  ~Reaper() { Stop(); }

  // One pass: deletes every expired record, batch by batch; returns how many.
  absl::StatusOr<int64_t> RunOnce();
  void Start();
  void Stop();

 private:
  Ledger& ledger_;
  const RetentionConfig config_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace payment_service

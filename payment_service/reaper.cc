#include "payment_service/reaper.h"

#include <cstdio>
#include <string>

#include "absl/time/clock.h"

namespace payment_service {

absl::StatusOr<int64_t> Reaper::RunOnce() {
  int64_t total = 0;
  while (true) {
    absl::StatusOr<int64_t> reaped = ledger_.ReapRefundRecords(config_.retention, config_.batch);
    if (!reaped.ok()) return reaped.status();
    total += *reaped;
    if (*reaped < config_.batch) return total;
  }
}

void Reaper::Start() {
  thread_ = std::thread([this] {
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), config_.interval)) {
      mu_.Unlock();
      absl::StatusOr<int64_t> reaped = RunOnce();
      if (!reaped.ok()) {
        std::fprintf(stderr, "reaper: %s\n", std::string(reaped.status().message()).c_str());
      }
      mu_.Lock();
    }
  });
}

void Reaper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace payment_service

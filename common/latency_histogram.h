// A log-linear latency histogram (16 linear steps per power of two, ~6% resolution), lock-free
// to record. Used by the relay (commit -> charge latency) and the load generator.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace common {

class LatencyHistogram {
 public:
  void Record(absl::Duration latency);
  int64_t count() const { return count_.load(std::memory_order_relaxed); }
  absl::Duration max() const { return absl::Microseconds(max_us_.load(std::memory_order_relaxed)); }
  // The smallest recorded bucket bound below which a fraction `q` (0..1) of samples fall.
  absl::Duration Percentile(double q) const;
  void Merge(const LatencyHistogram& other);

 private:
  static constexpr int kSubBuckets = 16;
  static constexpr int kBuckets = 44 * kSubBuckets;
  static int BucketOf(int64_t micros);
  static int64_t UpperBoundOf(int bucket);

  std::array<std::atomic<int64_t>, kBuckets> buckets_{};
  std::atomic<int64_t> count_{0};
  std::atomic<int64_t> max_us_{0};
};

}  // namespace common

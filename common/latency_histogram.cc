#include "common/latency_histogram.h"

#include <algorithm>
#include <bit>

namespace common {

int LatencyHistogram::BucketOf(int64_t micros) {
  if (micros < kSubBuckets) return static_cast<int>(std::max<int64_t>(micros, 0));
  const int power = 63 - std::countl_zero(static_cast<uint64_t>(micros));  // >= 4
  const int shift = power - 4;
  const int sub = static_cast<int>((micros >> shift) - kSubBuckets);  // 0..15
  return std::min(kBuckets - 1, (shift + 1) * kSubBuckets + sub);
}

int64_t LatencyHistogram::UpperBoundOf(int bucket) {
  if (bucket < kSubBuckets) return bucket;
  const int shift = bucket / kSubBuckets - 1;
  const int sub = bucket % kSubBuckets;
  return ((static_cast<int64_t>(kSubBuckets + sub) + 1) << shift) - 1;
}

void LatencyHistogram::Record(absl::Duration latency) {
  const int64_t us = std::max<int64_t>(0, absl::ToInt64Microseconds(latency));
  buckets_[BucketOf(us)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  int64_t prev = max_us_.load(std::memory_order_relaxed);
  while (us > prev && !max_us_.compare_exchange_weak(prev, us, std::memory_order_relaxed)) {
  }
}

absl::Duration LatencyHistogram::Percentile(double q) const {
  const int64_t total = count();
  if (total == 0) return absl::ZeroDuration();
  const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(q * total + 0.5));
  int64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets_[b].load(std::memory_order_relaxed);
    if (seen >= rank) return absl::Microseconds(std::min(UpperBoundOf(b), max_us_.load()));
  }
  return max();
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int b = 0; b < kBuckets; ++b) {
    buckets_[b].fetch_add(other.buckets_[b].load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  }
  count_.fetch_add(other.count(), std::memory_order_relaxed);
  int64_t other_max = other.max_us_.load();
  int64_t prev = max_us_.load();
  while (other_max > prev && !max_us_.compare_exchange_weak(prev, other_max)) {
  }
}

}  // namespace common

// How our own clients slow down: exponential backoff with full jitter (AWS architecture blog:
// sleep = uniform(0, min(cap, base*2^n))) between retries of one call, and an AIMD limit on how
// much a client sends at once.
#pragma once

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"

namespace common {

struct BackoffPolicy {
  absl::Duration initial = absl::Milliseconds(50);
  absl::Duration max = absl::Seconds(5);
  double multiplier = 2.0;
};

// The ceiling for a given attempt (1-based): initial * multiplier^(attempt-1), capped at max.
absl::Duration BackoffCeiling(const BackoffPolicy& policy, int attempt);

// A delay drawn uniformly from [0, BackoffCeiling(policy, attempt)].
absl::Duration FullJitterBackoff(const BackoffPolicy& policy, int attempt, absl::BitGenRef gen);

// Additive increase, multiplicative decrease (TCP's congestion window; Netflix concurrency-limits'
// AIMDLimit): how many calls a client sends at once, between 1 and `max`. A server's pushback
// (RESOURCE_EXHAUSTED with a retry delay) halves it, so the client's next burst fits what the
// server admits instead of meeting the same refusal; each round answered without one adds 1.
// Not thread-safe: the owner guards it.
class AimdLimit {
 public:
  explicit AimdLimit(int max) : max_(max < 1 ? 1 : max), limit_(max_) {}
  int limit() const { return limit_; }
  void OnPushback() { limit_ = limit_ / 2 < 1 ? 1 : limit_ / 2; }
  void OnAnswered() { limit_ = limit_ + 1 > max_ ? max_ : limit_ + 1; }

 private:
  const int max_;
  int limit_;
};

}  // namespace common

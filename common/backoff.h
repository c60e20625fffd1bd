// Exponential backoff with full jitter (AWS architecture blog): sleep = uniform(0, min(cap,
// base*2^n)).
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

}  // namespace common

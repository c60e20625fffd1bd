#include "common/backoff.h"

#include <algorithm>
#include <cmath>

#include "absl/random/distributions.h"

namespace common {

absl::Duration BackoffCeiling(const BackoffPolicy& policy, int attempt) {
  const int exponent = std::clamp(attempt - 1, 0, 62);
  const double factor = std::pow(policy.multiplier, exponent);
  const double ceiling_s = absl::ToDoubleSeconds(policy.initial) * factor;
  return std::min(policy.max, absl::Seconds(std::min(ceiling_s, 1e9)));
}

absl::Duration FullJitterBackoff(const BackoffPolicy& policy, int attempt, absl::BitGenRef gen) {
  const double ceiling_s = absl::ToDoubleSeconds(BackoffCeiling(policy, attempt));
  return absl::Seconds(absl::Uniform(absl::IntervalClosed, gen, 0.0, ceiling_s));
}

}  // namespace common

#include "order_service/chaos.h"

#include "absl/strings/str_split.h"

namespace orders {

ChaosDice::ChaosDice(double failure_rate, const std::string& methods_csv, uint64_t seed)
    : failure_rate_(failure_rate), gen_(seed) {
  for (absl::string_view m : absl::StrSplit(methods_csv, ',', absl::SkipWhitespace())) {
    methods_.insert(std::string(m));
  }
}

ChaosPoint ChaosDice::Roll(const std::string& method) {
  if (failure_rate_ <= 0) return ChaosPoint::kNone;
  if (!methods_.empty() && !methods_.contains(method)) return ChaosPoint::kNone;
  absl::MutexLock lock(&mu_);
  std::uniform_real_distribution<double> unit(0, 1);
  if (unit(gen_) >= failure_rate_) return ChaosPoint::kNone;
  return unit(gen_) < 0.5 ? ChaosPoint::kBefore : ChaosPoint::kAfter;
}

}  // namespace orders

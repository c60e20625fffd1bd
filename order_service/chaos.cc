#include "order_service/chaos.h"

#include <iterator>
#include <set>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config_check.h"

namespace orders {

ChaosDice::ChaosDice(double failure_rate, const std::string& methods_csv, uint64_t seed)
    : failure_rate_(failure_rate), gen_(seed) {
  for (absl::string_view m : common::ListEntries(methods_csv)) methods_.insert(std::string(m));
}

absl::Status ValidateChaosMethods(absl::string_view csv) {
  std::set<absl::string_view> named;
  int n = 0;
  for (absl::string_view m : common::ListEntries(csv)) {
    ++n;
    if (absl::c_find(kChaosMethods, m) == std::end(kChaosMethods)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "entry ", n, " (", m, "): chaos can fail only ", absl::StrJoin(kChaosMethods, ", ")));
    }
    if (!named.insert(m).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", n, " (", m, ") names a method an earlier entry names"));
    }
  }
  return absl::OkStatus();
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

// Injected failures at the API edge, for demonstrations and tests of client retry strategies
// (off unless --chaos_failure_rate > 0). A failing call answers UNAVAILABLE either before doing
// anything or after doing its work ("response lost"), half and half, from a seeded generator.
#pragma once

#include <random>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace orders {

enum class ChaosPoint { kNone, kBefore, kAfter };

class ChaosDice {
 public:
  ChaosDice(double failure_rate, const std::string& methods_csv, uint64_t seed);
  ChaosPoint Roll(const std::string& method);

 private:
  const double failure_rate_;
  std::set<std::string> methods_;  // empty: every mutating method
  absl::Mutex mu_;
  std::mt19937_64 gen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orders

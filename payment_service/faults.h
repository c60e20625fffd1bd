// Injected faults, seeded and reproducible: the dice are a std::mt19937_64 under a mutex, so one
// seed and one sequence of calls give one sequence of faults. Set by flags at start and by the
// PaymentFaultAdmin RPC at run time; counters say what was injected.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace payment_service {

struct FaultConfig {
  double fail_before_charge = 0;  // probability of UNAVAILABLE before charging
  double fail_after_charge = 0;   // probability of charging, then UNAVAILABLE ("reply lost")
  int latency_ms = 0;             // added latency, uniform in [latency - jitter, latency + jitter]
  int latency_jitter_ms = 0;
  uint64_t seed = 0;       // 0 keeps the current generator
  int flaky_failures = 2;  // UNAVAILABLE answers of pm_card_flaky per key before success
};

struct FaultCounters {
  int64_t fail_before_charge = 0;
  int64_t fail_after_charge = 0;
  int64_t latency = 0;
  int64_t flaky = 0;
};

inline constexpr uint64_t kDefaultFaultSeed = 1;

class FaultInjector {
 public:
  explicit FaultInjector(const FaultConfig& config = {});

  // INVALID_ARGUMENT unless probabilities are in [0, 1] and the rest is not negative.
  static absl::Status Validate(const FaultConfig& config);
  // Replaces the configuration (a seed of 0 keeps the generator where it is).
  absl::Status Set(const FaultConfig& config);
  FaultConfig config() const;
  FaultCounters counters() const;

  // Draws the latency to add to one Charge/Refund (zero when none is configured).
  absl::Duration NextLatency();
  bool NextFailBefore();
  bool NextFailAfter();
  // True while the key has failed fewer than flaky_failures times; then forgets the key.
  bool FlakyAttemptFails(absl::string_view caller, absl::string_view key);

 private:
  bool Roll(double probability) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  FaultConfig config_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 dice_ ABSL_GUARDED_BY(mu_);
  FaultCounters counters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> flaky_attempts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace payment_service

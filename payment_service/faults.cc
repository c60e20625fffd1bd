#include "payment_service/faults.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace payment_service {

FaultInjector::FaultInjector(const FaultConfig& config)
    : config_(config), dice_(config.seed != 0 ? config.seed : kDefaultFaultSeed) {}

absl::Status FaultInjector::Validate(const FaultConfig& c) {
  std::vector<common::FieldViolation> violations;
  auto probability = [&](double p, const char* field) {
    if (!(p >= 0 && p <= 1)) violations.push_back({field, "must be a probability in [0, 1]"});
  };
  probability(c.fail_before_charge, "fail_before_charge");
  probability(c.fail_after_charge, "fail_after_charge");
  if (c.latency_ms < 0) violations.push_back({"latency_ms", "must not be negative"});
  if (c.latency_jitter_ms < 0) violations.push_back({"latency_jitter_ms", "must not be negative"});
  if (c.flaky_failures < 0) violations.push_back({"flaky_failures", "must not be negative"});
  if (violations.empty()) return absl::OkStatus();
  return common::InvalidArgument("FAULT_CONFIG_INVALID", "invalid fault configuration", violations);
}

absl::Status FaultInjector::Set(const FaultConfig& config) {
  if (absl::Status s = Validate(config); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  const uint64_t seed = config.seed != 0 ? config.seed : config_.seed;
  if (config.seed != 0) dice_.seed(config.seed);
  config_ = config;
  config_.seed = seed;
  return absl::OkStatus();
}

FaultConfig FaultInjector::config() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

FaultCounters FaultInjector::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

bool FaultInjector::Roll(double probability) {
  if (probability <= 0) return false;  // no dice drawn: other knobs keep their sequence
  if (probability >= 1) return true;
  return std::uniform_real_distribution<double>(0.0, 1.0)(dice_) < probability;
}

absl::Duration FaultInjector::NextLatency() {
  absl::MutexLock lock(&mu_);
  if (config_.latency_ms <= 0 && config_.latency_jitter_ms <= 0) return absl::ZeroDuration();
  // In 64 bits: latency and jitter are each up to INT_MAX, so their sum overflows an int.
  int64_t ms = config_.latency_ms;
  if (config_.latency_jitter_ms > 0) {
    ms += std::uniform_int_distribution<int>(-config_.latency_jitter_ms,
                                             config_.latency_jitter_ms)(dice_);
  }
  ms = std::max<int64_t>(ms, 0);
  if (ms > 0) ++counters_.latency;
  return absl::Milliseconds(ms);
}

bool FaultInjector::NextFailBefore() {
  absl::MutexLock lock(&mu_);
  const bool fail = Roll(config_.fail_before_charge);
  if (fail) ++counters_.fail_before_charge;
  return fail;
}

bool FaultInjector::NextFailAfter() {
  absl::MutexLock lock(&mu_);
  const bool fail = Roll(config_.fail_after_charge);
  if (fail) ++counters_.fail_after_charge;
  return fail;
}

bool FaultInjector::FlakyAttemptFails(absl::string_view caller, absl::string_view key) {
  absl::MutexLock lock(&mu_);
  // Length-prefixed, so ("a", "bc") and ("ab", "c") never share a counter.
  const std::string id = absl::StrCat(caller.size(), ":", caller, key);
  int& attempts = flaky_attempts_[id];
  if (attempts < config_.flaky_failures) {
    ++attempts;
    ++counters_.flaky;
    return true;
  }
  flaky_attempts_.erase(id);
  return false;
}

}  // namespace payment_service

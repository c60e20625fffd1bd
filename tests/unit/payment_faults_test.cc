// Fault injection is seeded and reproducible, bounded by its configuration, and counted.
#include <limits>
#include <string>
#include <vector>

#include "common/errors.h"
#include "gtest/gtest.h"
#include "payment_service/faults.h"

namespace payment_service {
namespace {

std::string Sequence(FaultInjector& faults, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += faults.NextFailBefore() ? 'B' : '.';
    out += faults.NextFailAfter() ? 'A' : '.';
  }
  return out;
}

TEST(PaymentFaultsTest, SameSeedSameFaults) {
  const FaultConfig config{.fail_before_charge = 0.3, .fail_after_charge = 0.3, .seed = 42};
  FaultInjector a(config), b(config);
  const std::string first = Sequence(a, 500);
  EXPECT_EQ(first, Sequence(b, 500));
  // Reseeding through Set restarts the same sequence.
  ASSERT_TRUE(a.Set(config).ok());
  EXPECT_EQ(Sequence(a, 500), first);
  FaultInjector other({.fail_before_charge = 0.3, .fail_after_charge = 0.3, .seed = 43});
  EXPECT_NE(Sequence(other, 500), first);
}

// Found by fuzz_payment_requests (corpus/fuzz_payment_requests/set_faults_huge_latency): latency
// plus jitter overflowed an int (undefined behaviour; in practice a negative sum clamped to no
// latency at all).
TEST(PaymentFaultsTest, LargestLatencyPlusJitterDoesNotOverflow) {
  constexpr int kMax = std::numeric_limits<int>::max();
  FaultInjector faults({.latency_ms = kMax, .latency_jitter_ms = 1000, .seed = 5});
  for (int i = 0; i < 50; ++i) {
    const absl::Duration latency = faults.NextLatency();
    EXPECT_GE(latency, absl::Milliseconds(int64_t{kMax} - 1000));
    EXPECT_LE(latency, absl::Milliseconds(int64_t{kMax} + 1000));
  }
}

TEST(PaymentFaultsTest, ProbabilitiesAreHonouredAndCounted) {
  FaultInjector faults({.fail_before_charge = 0.25, .seed = 7});
  int hits = 0;
  for (int i = 0; i < 4000; ++i) hits += faults.NextFailBefore() ? 1 : 0;
  EXPECT_GT(hits, 850);
  EXPECT_LT(hits, 1150);
  EXPECT_EQ(faults.counters().fail_before_charge, hits);
  std::printf("[figures] fail_before_charge=0.25 over 4000 draws (seed 7): %d faults\n", hits);

  FaultInjector never(FaultConfig{}), always({.fail_after_charge = 1.0});
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(never.NextFailBefore());
    EXPECT_FALSE(never.NextFailAfter());
    EXPECT_TRUE(always.NextFailAfter());
  }
  EXPECT_EQ(always.counters().fail_after_charge, 100);
}

TEST(PaymentFaultsTest, LatencyStaysWithinJitter) {
  FaultInjector faults({.latency_ms = 20, .latency_jitter_ms = 5, .seed = 3});
  absl::Duration low = absl::InfiniteDuration(), high = absl::ZeroDuration();
  for (int i = 0; i < 1000; ++i) {
    const absl::Duration d = faults.NextLatency();
    low = std::min(low, d);
    high = std::max(high, d);
  }
  EXPECT_GE(low, absl::Milliseconds(15));
  EXPECT_LE(high, absl::Milliseconds(25));
  EXPECT_LT(low, high);
  EXPECT_EQ(faults.counters().latency, 1000);
  FaultInjector none(FaultConfig{});
  EXPECT_EQ(none.NextLatency(), absl::ZeroDuration());
  EXPECT_EQ(none.counters().latency, 0);
}

TEST(PaymentFaultsTest, FlakyFailsPerKeyThenSucceeds) {
  FaultInjector faults({.flaky_failures = 2});
  EXPECT_TRUE(faults.FlakyAttemptFails("alice", "k1"));
  EXPECT_TRUE(faults.FlakyAttemptFails("alice", "k1"));
  EXPECT_TRUE(faults.FlakyAttemptFails("bob", "k1"));  // another caller, another counter
  EXPECT_FALSE(faults.FlakyAttemptFails("alice", "k1"));
  EXPECT_TRUE(faults.FlakyAttemptFails("alice", "k2"));
  EXPECT_EQ(faults.counters().flaky, 4);
  ASSERT_TRUE(faults.Set({.flaky_failures = 0}).ok());
  EXPECT_FALSE(faults.FlakyAttemptFails("carol", "k1"));
}

TEST(PaymentFaultsTest, BadConfigurationIsRejectedAndNotApplied) {
  FaultInjector faults({.fail_before_charge = 0.1, .seed = 5});
  for (const FaultConfig& bad : std::vector<FaultConfig>{{.fail_before_charge = -0.1},
                                                         {.fail_after_charge = 1.5},
                                                         {.latency_ms = -1},
                                                         {.latency_jitter_ms = -1},
                                                         {.flaky_failures = -1}}) {
    const absl::Status s = faults.Set(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(common::ErrorReason(s).value_or(""), "FAULT_CONFIG_INVALID");
  }
  EXPECT_DOUBLE_EQ(faults.config().fail_before_charge, 0.1);
  // Seed 0 keeps the current seed.
  ASSERT_TRUE(faults.Set({.fail_after_charge = 0.5}).ok());
  EXPECT_EQ(faults.config().seed, 5u);
  EXPECT_DOUBLE_EQ(faults.config().fail_before_charge, 0);
}

}  // namespace
}  // namespace payment_service

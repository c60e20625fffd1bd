#include <random>
#include <string>
#include <vector>

#include "common/auth.h"
#include "common/backoff.h"
#include "common/failpoint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

TEST(BackoffTest, CeilingGrowsExponentiallyAndIsCapped) {
  common::BackoffPolicy policy{absl::Milliseconds(100), absl::Seconds(2), 2.0};
  EXPECT_EQ(common::BackoffCeiling(policy, 1), absl::Milliseconds(100));
  EXPECT_EQ(common::BackoffCeiling(policy, 2), absl::Milliseconds(200));
  EXPECT_EQ(common::BackoffCeiling(policy, 4), absl::Milliseconds(800));
  EXPECT_EQ(common::BackoffCeiling(policy, 10), absl::Seconds(2));
  EXPECT_EQ(common::BackoffCeiling(policy, 1000), absl::Seconds(2));
}

TEST(BackoffTest, FullJitterStaysWithinCeilingAndSpreads) {
  common::BackoffPolicy policy{absl::Milliseconds(100), absl::Seconds(2), 2.0};
  std::mt19937_64 gen(7);
  absl::Duration lo = absl::InfiniteDuration(), hi = absl::ZeroDuration();
  for (int i = 0; i < 1000; ++i) {
    absl::Duration d = common::FullJitterBackoff(policy, 3, gen);
    ASSERT_GE(d, absl::ZeroDuration());
    ASSERT_LE(d, absl::Milliseconds(400));
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, absl::Milliseconds(40));
  EXPECT_GT(hi, absl::Milliseconds(360));
}

TEST(AimdLimitTest, PushbackHalvesAndAnswersAddOneUpToTheMax) {
  common::AimdLimit limit(16);
  EXPECT_EQ(limit.limit(), 16);
  limit.OnAnswered();
  EXPECT_EQ(limit.limit(), 16);  // never above the max
  limit.OnPushback();
  EXPECT_EQ(limit.limit(), 8);
  limit.OnPushback();
  limit.OnPushback();
  limit.OnPushback();
  limit.OnPushback();
  EXPECT_EQ(limit.limit(), 1);  // never below 1: the client still probes
  for (int i = 0; i < 5; ++i) limit.OnAnswered();
  EXPECT_EQ(limit.limit(), 6);
  EXPECT_EQ(common::AimdLimit(0).limit(), 1);
}

TEST(TokenAuthenticatorTest, MapsTokensAndRefusesOthers) {
  auto open = common::TokenAuthenticator::Parse("");
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(*open->Identify(""), "default");
  auto auth = common::TokenAuthenticator::Parse("t1=acme,t2=globex");
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(*auth->Identify("t2"), "globex");
  EXPECT_EQ(auth->Identify("nope").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->Identify("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(common::TokenAuthenticator::Parse("novalue").ok());
}

// A token spec is a secret-bearing configuration: anything it could mean two ways is refused at
// start, naming the entry by position and never echoing a token (common/auth.h).
TEST(TokenAuthenticatorTest, RefusesAmbiguousOrMalformedSpecsNamingTheEntryNotTheToken) {
  struct Case {
    const char* spec;
    const char* error;  // a substring of the message
  };
  for (const Case& c : std::vector<Case>{
           {"s3cret=b=c", "entry 1: the token is not an RFC 6750 bearer token"},
           {"t1=acme,s3cret=acme,s3cret=globex", "entry 3 repeats the token of entry 2"},
           {"t1=acme,s3cret", "entry 2 has no '='"},
           {"s3cret=", "entry 1: the identity must be 1-64"},
           {"=acme", "entry 1: the token is not"},
           {"s3 cret=acme", "entry 1: the token is not"},
           {"s3cret=ac me", "entry 1: the identity"},
           {"s3cret=ac\nme", "entry 1: the identity"},  // a control character inside
           {"==acme", "entry 1: the token is not"},     // padding alone is no token
           {"s3=cret==acme", "entry 1: the token is not"},
       }) {
    SCOPED_TRACE(c.spec);
    absl::StatusOr<common::TokenAuthenticator> auth = common::TokenAuthenticator::Parse(c.spec);
    ASSERT_FALSE(auth.ok());
    EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(auth.status().message()), testing::HasSubstr(c.error));
    EXPECT_THAT(std::string(auth.status().message()), testing::Not(testing::HasSubstr("s3")));
  }
  const std::string longest(common::kMaxIdentityLength, 'a');
  EXPECT_TRUE(common::TokenAuthenticator::Parse("t=" + longest).ok());
  EXPECT_FALSE(common::TokenAuthenticator::Parse("t=" + longest + "a").ok());
}

TEST(TokenAuthenticatorTest, PaddedTokensAndSpacesAroundEntriesAreRead) {
  absl::StatusOr<common::TokenAuthenticator> auth =
      common::TokenAuthenticator::Parse(" abc+/===acme ,, t-1.x_y~z=tenant:eu@1 ,");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->Identify("abc+/==").value_or(""), "acme");
  EXPECT_EQ(auth->Identify("t-1.x_y~z").value_or(""), "tenant:eu@1");
  EXPECT_FALSE(auth->Identify("abc+/").ok()) << "the padding is part of the token";
}

// A failpoint spec arms exactly what it says, or the process refuses to start: a typo must not
// leave a crash test running without its crash (common/failpoint.h).
TEST(FailpointSpecTest, ParsesNamesAndCountsAndRefusesWhatWouldArmNothingOrTwoThings) {
  constexpr absl::string_view kKnown[] = {"a_commit", "b_send"};
  absl::StatusOr<common::FailpointSpec> spec =
      common::ParseFailpoints(" a_commit@3 ,, b_send", kKnown);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(*spec, (common::FailpointSpec{{"a_commit", 3}, {"b_send", 1}}));
  EXPECT_TRUE(common::ParseFailpoints("", kKnown)->empty());
  struct Case {
    const char* spec;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {"a_comit", "entry 1 (a_comit): no such failpoint; this process has a_commit, b_send"},
           {"b_send,a_commit@x", "entry 2 (a_commit@x): the count after '@' must be a positive"},
           {"a_commit@0", "entry 1 (a_commit@0): the count"},
           {"a_commit@-1", "entry 1 (a_commit@-1): the count"},
           {"a_commit@2@3", "entry 1 (a_commit@2@3): the count"},
           {"a_commit@", "entry 1 (a_commit@): the count"},
           {"a_commit@+3", "entry 1 (a_commit@+3): the count"},
           {"a_commit@ 3", "entry 1 (a_commit@ 3): the count"},
           {"a_commit@99999999999999999999", "entry 1 (a_commit@99999999999999999999): the count"},
           {"@2", "entry 1 (@2): no such failpoint"},
           {"a_commit,a_commit@2", "entry 2 (a_commit@2) arms a failpoint an earlier entry arms"},
       }) {
    SCOPED_TRACE(c.spec);
    absl::StatusOr<common::FailpointSpec> bad = common::ParseFailpoints(c.spec, kKnown);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(bad.status().message()), testing::HasSubstr(c.error));
  }
}

TEST(FailpointSpecTest, AnotherProcesssNamesAreCheckedThenSkipped) {
  constexpr absl::string_view kOurs[] = {"a_commit"};
  constexpr absl::string_view kTheirs[] = {"z_send"};
  absl::StatusOr<common::FailpointSpec> spec =
      common::ParseFailpoints("z_send@4,a_commit@2", kOurs, kTheirs);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(*spec, (common::FailpointSpec{{"a_commit", 2}}));
  EXPECT_FALSE(common::ParseFailpoints("z_send@x", kOurs, kTheirs).ok());
  EXPECT_FALSE(common::ParseFailpoints("z_send,z_send@2", kOurs, kTheirs).ok());
  EXPECT_FALSE(common::ParseFailpoints("z_send", kOurs).ok()) << "not skipped without the list";
}

TEST(FailpointDeathTest, ArmedFailpointKillsOnTheNthHit) {
  common::Failpoint("never_armed");  // returns at once
  EXPECT_EXIT(
      {
        common::ArmFailpoints({{"boom", 2}});
        common::Failpoint("boom");
        common::Failpoint("other");
        common::Failpoint("boom");
        std::exit(0);
      },
      testing::KilledBySignal(SIGKILL), "failpoint boom");
}

}  // namespace

#include "common/latency_histogram.h"

namespace {

TEST(LatencyHistogramTest, PercentilesWithinResolution) {
  common::LatencyHistogram h;
  for (int i = 1; i <= 1000; ++i) h.Record(absl::Microseconds(i * 100));  // 0.1 .. 100 ms
  EXPECT_EQ(h.count(), 1000);
  const double p50 = absl::ToDoubleMilliseconds(h.Percentile(0.5));
  const double p99 = absl::ToDoubleMilliseconds(h.Percentile(0.99));
  EXPECT_NEAR(p50, 50, 50 * 0.07);
  EXPECT_NEAR(p99, 99, 99 * 0.07);
  EXPECT_EQ(h.max(), absl::Milliseconds(100));
  common::LatencyHistogram other;
  other.Record(absl::Seconds(2));
  h.Merge(other);
  EXPECT_EQ(h.count(), 1001);
  EXPECT_EQ(h.max(), absl::Seconds(2));
  EXPECT_EQ(common::LatencyHistogram().Percentile(0.5), absl::ZeroDuration());
}

}  // namespace

// The retrying client's pure parts: status classification, the retry loop over a scripted call
// with a fake clock (backoff, budget, RetryInfo, attempt numbering), plans, and call results.
#include "tests/network/retrying_client.h"

#include <deque>
#include <random>
#include <set>

#include "common/backoff.h"
#include "common/errors.h"
#include "common/status_mapper.h"
#include "gtest/gtest.h"

namespace network_test {
namespace {

using grpc::StatusCode;

TEST(ClassifyStatusTest, RetriesOnlyWhatMaySucceedLater) {
  EXPECT_EQ(ClassifyStatus(StatusCode::OK, ""), RetryDecision::kDone);
  for (StatusCode code : {StatusCode::UNAVAILABLE, StatusCode::DEADLINE_EXCEEDED,
                          StatusCode::ABORTED, StatusCode::RESOURCE_EXHAUSTED}) {
    EXPECT_EQ(ClassifyStatus(code, "anything"), RetryDecision::kRetry) << code;
  }
  for (StatusCode code :
       {StatusCode::INVALID_ARGUMENT, StatusCode::FAILED_PRECONDITION, StatusCode::NOT_FOUND,
        StatusCode::ALREADY_EXISTS, StatusCode::PERMISSION_DENIED, StatusCode::UNAUTHENTICATED,
        StatusCode::OUT_OF_RANGE, StatusCode::UNIMPLEMENTED, StatusCode::DATA_LOSS}) {
    EXPECT_EQ(ClassifyStatus(code, "Socket closed"), RetryDecision::kFailDefinitely) << code;
  }
}

TEST(ClassifyStatusTest, ConnectionFailuresUnderOtherCodesAreRetried) {
  EXPECT_EQ(ClassifyStatus(StatusCode::UNKNOWN, "Stream removed"), RetryDecision::kRetry);
  EXPECT_EQ(ClassifyStatus(StatusCode::INTERNAL, "Received RST_STREAM with error code 2"),
            RetryDecision::kRetry);
  EXPECT_EQ(ClassifyStatus(StatusCode::CANCELLED, "Channel shutdown invoked"),
            RetryDecision::kRetry);
  EXPECT_EQ(ClassifyStatus(StatusCode::UNKNOWN, "Connection reset by peer"), RetryDecision::kRetry);
  // The server's own errors under these codes are not retried.
  EXPECT_EQ(ClassifyStatus(StatusCode::UNKNOWN, "handler threw"), RetryDecision::kFailDefinitely);
  EXPECT_EQ(ClassifyStatus(StatusCode::INTERNAL, "invariant broken"),
            RetryDecision::kFailDefinitely);
  EXPECT_TRUE(IsConnectionFailureMessage("failed to connect to all addresses"));
  EXPECT_FALSE(IsConnectionFailureMessage("IDEMPOTENCY_KEY_REUSED"));
}

// A clock that only moves when the loop sleeps or a call takes time.
struct FakeClock {
  absl::Time t = absl::UnixEpoch();
  std::vector<absl::Duration> sleeps;
  Clock clock() {
    return Clock{[this] { return t; },
                 [this](absl::Duration d) {
                   sleeps.push_back(d);
                   t += d;
                 }};
  }
};

AttemptResult Code(StatusCode code, const std::string& message = "") {
  AttemptResult r;
  r.code = code;
  r.message = message;
  return r;
}
AttemptResult Ok(int64_t id) {
  AttemptResult r;
  r.order_id = id;
  r.order_status = OrderState::kCreated;
  return r;
}

// Plays a script of results; a DEADLINE_EXCEEDED attempt uses up its whole timeout.
struct Script {
  Script(std::deque<AttemptResult> script, FakeClock* fake_clock)
      : results(std::move(script)), clock(fake_clock) {}
  std::deque<AttemptResult> results;
  FakeClock* clock;
  std::vector<int> attempts_seen;
  std::vector<absl::Duration> timeouts;
  std::function<AttemptResult(int, absl::Duration)> fn() {
    return [this](int attempt, absl::Duration timeout) {
      attempts_seen.push_back(attempt);
      timeouts.push_back(timeout);
      AttemptResult r = results.empty() ? Code(StatusCode::UNAVAILABLE) : results.front();
      if (!results.empty() && results.size() > 1) results.pop_front();
      clock->t += r.code == StatusCode::DEADLINE_EXCEEDED ? timeout : absl::Milliseconds(1);
      return r;
    };
  }
  // RunWithRetries over this script on the fake clock, its jitter seeded with `seed`; the
  // attempts are recorded in `records`.
  KeyOutcome Run(const RetryPolicy& policy, Operation op = Operation::kCreate, uint64_t seed = 1,
                 const std::string& key = "k", int first_attempt = 1) {
    std::mt19937_64 gen(seed);
    return RunWithRetries(policy, key, op, fn(), gen, clock->clock(), &records, first_attempt);
  }
  std::vector<AttemptRecord> records;
};

TEST(RunWithRetriesTest, RetriesTransientErrorsWithTheSameKeyUntilAcknowledged) {
  FakeClock fc;
  Script script{{Code(StatusCode::UNAVAILABLE, "Socket closed"),
                 Code(StatusCode::DEADLINE_EXCEEDED), Code(StatusCode::ABORTED), Ok(7)},
                &fc};
  RetryPolicy policy;
  KeyOutcome out = script.Run(policy, Operation::kCreate, 1, "key-1");
  EXPECT_EQ(out.outcome, Outcome::kAcknowledged);
  EXPECT_EQ(out.order_id, 7);
  EXPECT_EQ(out.attempts, 4);
  EXPECT_EQ(out.failed_attempts, 3);
  ASSERT_EQ(script.records.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(script.records[i].key, "key-1");
    EXPECT_EQ(script.records[i].attempt, i + 1);
    EXPECT_EQ(script.records[i].op, Operation::kCreate);
  }
  EXPECT_EQ(script.records[0].code, StatusCode::UNAVAILABLE);
  EXPECT_EQ(script.records[3].order_id, 7);
  EXPECT_EQ(script.timeouts[0], policy.attempt_timeout);
  EXPECT_EQ(fc.sleeps.size(), 3u);
}

TEST(RunWithRetriesTest, NeverRetriesDeterministicErrors) {
  for (StatusCode code : {StatusCode::INVALID_ARGUMENT, StatusCode::FAILED_PRECONDITION,
                          StatusCode::NOT_FOUND, StatusCode::PERMISSION_DENIED}) {
    FakeClock fc;
    Script script{{Code(StatusCode::UNAVAILABLE), Code(code), Ok(1)}, &fc};
    KeyOutcome out = script.Run(RetryPolicy());
    EXPECT_EQ(out.outcome, Outcome::kFailedDefinitely) << code;
    EXPECT_EQ(out.attempts, 2);
    EXPECT_EQ(out.final_code, code);
    EXPECT_EQ(script.records.size(), 2u);
  }
}

TEST(RunWithRetriesTest, BudgetExhaustedIsUnknownAndNeverOverruns) {
  FakeClock fc;
  Script script{{Code(StatusCode::DEADLINE_EXCEEDED)}, &fc};
  RetryPolicy policy;
  policy.attempt_timeout = absl::Milliseconds(300);
  policy.budget = absl::Seconds(2);
  policy.backoff = common::BackoffPolicy{absl::Milliseconds(50), absl::Milliseconds(400), 2.0};
  const absl::Time start = fc.t;
  KeyOutcome out = script.Run(policy, Operation::kCreate, 3);
  EXPECT_EQ(out.outcome, Outcome::kUnknown);
  EXPECT_GT(out.attempts, 2);
  EXPECT_EQ(out.failed_attempts, out.attempts);
  EXPECT_LE(fc.t - start, policy.budget);
  for (absl::Duration timeout : script.timeouts) EXPECT_LE(timeout, policy.attempt_timeout);
  // The last attempt's deadline was cut to what was left of the budget.
  EXPECT_LE(script.records.back().end, start + policy.budget);
}

TEST(RunWithRetriesTest, MaxAttemptsBoundsTheLoop) {
  FakeClock fc;
  Script script{{Code(StatusCode::UNAVAILABLE)}, &fc};
  RetryPolicy policy;
  policy.max_attempts = 5;
  policy.budget = absl::Hours(1);
  KeyOutcome out = script.Run(policy);
  EXPECT_EQ(out.outcome, Outcome::kUnknown);
  EXPECT_EQ(out.attempts, 5);
  EXPECT_EQ(fc.sleeps.size(), 4u);
}

TEST(RunWithRetriesTest, SleepsFullJitterBackoffReproduciblyPerSeed) {
  RetryPolicy policy;
  policy.max_attempts = 12;
  policy.budget = absl::Hours(1);
  policy.backoff = common::BackoffPolicy{absl::Milliseconds(10), absl::Milliseconds(200), 2.0};
  std::vector<std::vector<absl::Duration>> runs;
  for (int run = 0; run < 2; ++run) {
    FakeClock fc;
    Script script{{Code(StatusCode::UNAVAILABLE)}, &fc};
    script.Run(policy, Operation::kCreate, 99);
    ASSERT_EQ(fc.sleeps.size(), 11u);
    for (size_t i = 0; i < fc.sleeps.size(); ++i) {
      // Sleep n follows attempt n: uniform in [0, min(max, initial * 2^(n-1))].
      EXPECT_GE(fc.sleeps[i], absl::ZeroDuration());
      EXPECT_LE(fc.sleeps[i], common::BackoffCeiling(policy.backoff, static_cast<int>(i) + 1));
    }
    runs.push_back(fc.sleeps);
  }
  EXPECT_EQ(runs[0], runs[1]);
  // Jitter: not all sleeps are at the ceiling.
  std::set<int64_t> distinct;
  for (absl::Duration d : runs[0]) distinct.insert(absl::ToInt64Microseconds(d));
  EXPECT_GT(distinct.size(), 5u);
}

TEST(RunWithRetriesTest, HonoursRetryInfo) {
  FakeClock fc;
  AttemptResult in_use = Code(StatusCode::ABORTED);
  in_use.reason = "IDEMPOTENCY_KEY_IN_USE";
  in_use.retry_delay = absl::Milliseconds(750);
  Script script{{in_use, Ok(3)}, &fc};
  RetryPolicy policy;
  policy.backoff = common::BackoffPolicy{absl::Milliseconds(10), absl::Milliseconds(20), 2.0};
  KeyOutcome out = script.Run(policy);
  EXPECT_EQ(out.outcome, Outcome::kAcknowledged);
  ASSERT_EQ(fc.sleeps.size(), 1u);
  EXPECT_GE(fc.sleeps[0], absl::Milliseconds(750));
  EXPECT_EQ(script.records[0].reason, "IDEMPOTENCY_KEY_IN_USE");
}

TEST(RunWithRetriesTest, AttemptNumbersContinueAcrossRuns) {
  FakeClock fc;
  Script script{{Ok(5)}, &fc};
  KeyOutcome out = script.Run(RetryPolicy(), Operation::kCancel, 1, "k", /*first_attempt=*/4);
  EXPECT_EQ(out.op, Operation::kCancel);
  ASSERT_EQ(script.records.size(), 1u);
  EXPECT_EQ(script.records[0].attempt, 4);
  EXPECT_EQ(script.attempts_seen, std::vector<int>{4});
}

TEST(RunWithRetriesTest, NoBudgetMeansNoAttemptAndUnknown) {
  FakeClock fc;
  Script script{{Ok(1)}, &fc};
  RetryPolicy policy;
  policy.budget = absl::ZeroDuration();
  KeyOutcome out = script.Run(policy);
  EXPECT_EQ(out.outcome, Outcome::kUnknown);
  EXPECT_EQ(out.attempts, 0);
  EXPECT_TRUE(script.records.empty());
}

TEST(ResultFromCallTest, ReadsReasonAndRetryInfo) {
  absl::Status in_use = common::WithRetryDelay(
      common::ErrorWithReason(absl::StatusCode::kAborted, "IDEMPOTENCY_KEY_IN_USE", "busy"),
      absl::Milliseconds(250));
  grpc::Status wire = common::ToGrpcStatus(in_use, "orders.example");
  grpc::ClientContext context;
  AttemptResult r = ResultFromCall(wire, context);
  EXPECT_EQ(r.code, StatusCode::ABORTED);
  EXPECT_EQ(r.reason, "IDEMPOTENCY_KEY_IN_USE");
  ASSERT_TRUE(r.retry_delay.has_value());
  EXPECT_EQ(*r.retry_delay, absl::Milliseconds(250));
  EXPECT_EQ(ClassifyStatus(r.code, r.message), RetryDecision::kRetry);

  grpc::Status plain(grpc::StatusCode::UNAVAILABLE, "Socket closed");
  AttemptResult p = ResultFromCall(plain, context);
  EXPECT_EQ(p.reason, "");
  EXPECT_FALSE(p.retry_delay.has_value());
}

TEST(MakePlanTest, SeededUniqueKeysAndCustomers) {
  PlanOptions options;
  options.declined_fraction = 0.25;
  options.cancel_fraction = 0.1;
  auto a = MakePlan(400, 17, options);
  auto b = MakePlan(400, 17, options);
  auto c = MakePlan(400, 18, options);
  ASSERT_EQ(a.size(), 400u);
  std::set<std::string> keys, customers;
  int declined = 0, cancels = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    keys.insert(a[i].key);
    customers.insert(a[i].customer_id);
    EXPECT_EQ(a[i].customer_id, "c-" + a[i].key);
    EXPECT_EQ(a[i].key, b[i].key);
    EXPECT_EQ(a[i].amount_cents(), b[i].amount_cents());
    EXPECT_EQ(a[i].payment_method, b[i].payment_method);
    EXPECT_GT(a[i].amount_cents(), 0);
    EXPECT_FALSE(a[i].items.empty());
    declined += a[i].payment_method == "pm_card_declined";
    cancels += a[i].cancel;
    EXPECT_NE(a[i].key, c[i].key);  // the seed is part of the key: runs never collide
  }
  EXPECT_EQ(keys.size(), 400u);
  EXPECT_EQ(customers.size(), 400u);
  EXPECT_GT(declined, 60);
  EXPECT_LT(declined, 140);
  EXPECT_GT(cancels, 15);
  EXPECT_LT(cancels, 70);
  PlannedOrder one;
  one.items = {{"a", 2, 150}, {"b", 1, 99}};
  EXPECT_EQ(one.amount_cents(), 399);
}

}  // namespace
}  // namespace network_test

// The rule every request path uses to bound its waits by the caller's deadline
// (common/pg/timeouts.h): the lock or pool wait ends a margin before the deadline, the statement
// at the deadline itself.
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/pg/timeouts.h"
#include "gtest/gtest.h"

namespace {

int64_t Millis(absl::string_view text) {
  int64_t n = -1;
  EXPECT_TRUE(absl::ConsumeSuffix(&text, "ms")) << text;
  EXPECT_TRUE(absl::SimpleAtoi(text, &n)) << text;
  return n;
}

TEST(TimeoutsTest, TheMarginIsAQuarterOfTheTimeLeftWithinItsBounds) {
  EXPECT_EQ(pg::LockTimeoutMargin(absl::Milliseconds(100)), pg::kMinLockTimeoutMargin);
  EXPECT_EQ(pg::LockTimeoutMargin(absl::Milliseconds(200)), absl::Milliseconds(50));
  EXPECT_EQ(pg::LockTimeoutMargin(absl::Milliseconds(400)), absl::Milliseconds(100));
  EXPECT_EQ(pg::LockTimeoutMargin(absl::Seconds(2)), absl::Milliseconds(500));
  EXPECT_EQ(pg::LockTimeoutMargin(absl::Seconds(10)), pg::kMaxLockTimeoutMargin);
  EXPECT_EQ(pg::LockTimeoutMargin(absl::InfiniteDuration()), pg::kMaxLockTimeoutMargin);
  EXPECT_EQ(pg::LockTimeoutMargin(-absl::Seconds(1)), pg::kMinLockTimeoutMargin);
}

TEST(TimeoutsTest, TheLockWaitEndsBeforeTheStatementWhichEndsAtTheDeadline) {
  for (absl::Duration left : {absl::Milliseconds(120), absl::Seconds(1), absl::Seconds(8)}) {
    const absl::Time deadline = absl::Now() + left;
    const int64_t lock = Millis(pg::DeadlineTimeout(deadline));
    const int64_t statement = Millis(pg::StatementTimeout(deadline));
    const int64_t margin = absl::ToInt64Milliseconds(pg::LockTimeoutMargin(left));
    EXPECT_LE(statement, absl::ToInt64Milliseconds(left)) << left;
    EXPECT_GE(statement, absl::ToInt64Milliseconds(left) - 20) << left;
    EXPECT_NEAR(statement - lock, margin, 1) << left;
    EXPECT_GE(deadline - pg::WaitDeadline(deadline),
              pg::LockTimeoutMargin(left) - absl::Milliseconds(1));
  }
}

TEST(TimeoutsTest, ACallerWithoutADeadlineWaitsAtMostTheLongestWait) {
  EXPECT_EQ(Millis(pg::DeadlineTimeout(absl::InfiniteFuture())),
            absl::ToInt64Milliseconds(pg::kMaxWait));
  EXPECT_EQ(Millis(pg::StatementTimeout(absl::InfiniteFuture())),
            absl::ToInt64Milliseconds(pg::kMaxWait + pg::kMaxLockTimeoutMargin));
  EXPECT_LE(pg::WaitDeadline(absl::InfiniteFuture()), absl::Now() + pg::kMaxWait);
  // A deadline already past still gives PostgreSQL a positive timeout (0 would mean none).
  EXPECT_EQ(Millis(pg::DeadlineTimeout(absl::Now() - absl::Seconds(1))), 1);
}

}  // namespace

#include "common/pg/sql_state.h"
#include "common/status_mapper.h"
#include "gtest/gtest.h"

namespace {

using pg::BreaksConnectionForWrites;
using pg::CodeForSqlState;

TEST(SqlStateTest, ConnectionLevelStatesBreakTheConnectionForWrites) {
  for (const char* state :
       {"25006", "08000", "08003", "08006", "08001", "08P01", "57P01", "57P02", "57P03", "57P05"}) {
    EXPECT_TRUE(BreaksConnectionForWrites(state)) << state;
  }
  for (const char* state : {"23505", "40001", "40P01", "55P03", "57014", "22021", "42P01", "25001",
                            "57P04", "53300", ""}) {
    EXPECT_FALSE(BreaksConnectionForWrites(state)) << state;
  }
}

TEST(SqlStateTest, EveryStateThatBreaksTheConnectionIsUnavailableAndRetryable) {
  // A read-only primary (25006) used to answer INTERNAL, which no client retries.
  for (const char* state : {"25006", "08006", "57P01", "57P02", "57P03"}) {
    EXPECT_EQ(CodeForSqlState(state), absl::StatusCode::kUnavailable) << state;
    EXPECT_TRUE(common::IsTransient(CodeForSqlState(state))) << state;
  }
}

TEST(SqlStateTest, OtherStatesKeepTheirCodes) {
  EXPECT_EQ(CodeForSqlState(pg::sql_state::kSerializationFailure), absl::StatusCode::kAborted);
  EXPECT_EQ(CodeForSqlState(pg::sql_state::kDeadlockDetected), absl::StatusCode::kAborted);
  EXPECT_EQ(CodeForSqlState(pg::sql_state::kLockNotAvailable), absl::StatusCode::kAborted);
  EXPECT_EQ(CodeForSqlState(pg::sql_state::kQueryCanceled), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(CodeForSqlState(pg::sql_state::kUniqueViolation), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(CodeForSqlState("23503"), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CodeForSqlState("53300"), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(CodeForSqlState(pg::sql_state::kCharacterNotInRepertoire),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeForSqlState("42P01"), absl::StatusCode::kInternal);
  EXPECT_EQ(CodeForSqlState("25001"), absl::StatusCode::kInternal);
}

}  // namespace

// gMock matchers for statuses, absl and gRPC alike (a grpc::Status is read through
// common::FromGrpcStatus, details included), so a test says what it expects in one line:
//   EXPECT_THAT(status, IsOk());
//   EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, "TEXT_NOT_STORABLE"));
//   EXPECT_THAT(status, ViolatesField("items[0].sku"));
// A failure prints the code, the message and the ErrorInfo reason.
#pragma once

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/errors.h"
#include "common/status_mapper.h"
#include "gmock/gmock.h"
#include "grpcpp/support/status.h"

// In a void function (a test body, SetUp): evaluates `expr` (an absl::StatusOr), fails the test
// with its status unless it is OK, else moves the value into `lhs` (which may declare, e.g.
// `auto db`). The usual ASSIGN_OR_RETURN idiom for gtest.
#define TESTING_SUPPORT_CONCAT_INNER(a, b) a##b
#define TESTING_SUPPORT_CONCAT(a, b) TESTING_SUPPORT_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(TESTING_SUPPORT_CONCAT(status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  ASSERT_TRUE(tmp.ok()) << tmp.status();          \
  lhs = std::move(*tmp)

namespace testing_support {

inline absl::Status AsStatus(const absl::Status& s) { return s; }
inline absl::Status AsStatus(const grpc::Status& s) { return common::FromGrpcStatus(s); }
template <typename T>
absl::Status AsStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

inline std::string Describe(const absl::Status& s) {
  return absl::StrCat(s.ToString(absl::StatusToStringMode::kWithNoExtraData),
                      " reason=", common::ErrorReason(s).value_or("(none)"));
}

MATCHER(IsOk, "is OK") {
  const absl::Status s = AsStatus(arg);
  *result_listener << Describe(s);
  return s.ok();
}

// The code and, when given, the ErrorInfo reason.
MATCHER_P2(StatusIs, code, reason,
           absl::StrCat("has code ", absl::StatusCodeToString(code), " and reason ",
                        std::string(reason))) {
  const absl::Status s = AsStatus(arg);
  *result_listener << Describe(s);
  return s.code() == code && common::ErrorReason(s).value_or("") == std::string(reason);
}

MATCHER_P(HasCode, code, absl::StrCat("has code ", absl::StatusCodeToString(code))) {
  const absl::Status s = AsStatus(arg);
  *result_listener << Describe(s);
  return s.code() == code;
}

// A BadRequest field violation names `field`.
MATCHER_P(ViolatesField, field, absl::StrCat("names the field ", std::string(field))) {
  const absl::Status s = AsStatus(arg);
  *result_listener << Describe(s);
  for (const std::string& f : common::ViolatedFields(s)) {
    if (f == field) return true;
  }
  return false;
}

// Not a code the client library, orderctl or service_config.json retry.
MATCHER(IsDeterministicRefusal, "is a refusal no client retries") {
  const absl::Status s = AsStatus(arg);
  *result_listener << Describe(s);
  return !s.ok() && !common::IsTransient(s);
}

}  // namespace testing_support

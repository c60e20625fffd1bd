// Helpers shared by the libFuzzer targets of tests/fuzz/ (a test-only header).
//
// A target states an invariant with FUZZ_CHECK: when it does not hold, the target prints what
// broke and aborts, which libFuzzer reports as a crash and saves the input (tests/fuzz/run.sh
// then fails). The refusal rules come from the project's standards: bad input is a clear,
// deterministic refusal (INVALID_ARGUMENT and the like, with an ErrorInfo reason), never a
// retryable code (common::IsTransient: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED,
// RESOURCE_EXHAUSTED) and never INTERNAL or UNKNOWN (a bug, not an answer).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "common/errors.h"
#include "common/status_mapper.h"
#include "grpcpp/support/status.h"

#define FUZZ_CHECK(cond, ...)                                                           \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "  " __VA_ARGS__);                                           \
      std::fprintf(stderr, "\n");                                                       \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace fuzz {

// The codes a deterministic refusal of a request may carry.
inline bool IsDeterministicRefusal(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return true;
    default:
      return false;
  }
}

// A domain refusal: a deterministic code with an ErrorInfo reason; INVALID_ARGUMENT also names
// at least one field (BadRequest) unless it is about metadata (the idempotency key, text rule
// findings always name fields).
inline void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(!status.ok(), "expected a refusal");
  FUZZ_CHECK(IsDeterministicRefusal(status.code()) && !common::IsTransient(status),
             "refusal with code %s: %s", absl::StatusCodeToString(status.code()).c_str(),
             std::string(status.message()).c_str());
  FUZZ_CHECK(common::ErrorReason(status).has_value(), "refusal without an ErrorInfo reason: %s",
             status.ToString().c_str());
}

// The same rule on the wire: what a client would decode from the adapter's answer.
inline void CheckRefusal(const grpc::Status& status) {
  CheckRefusal(common::FromGrpcStatus(status));
}

}  // namespace fuzz

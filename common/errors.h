// Builders for domain errors in the Google error model, carried inside absl::Status payloads so the
// domain layer stays free of gRPC. status_mapper turns them into google.rpc.Status details.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace google::protobuf {
class EnumDescriptor;
}

namespace common {

inline constexpr char kErrorInfoUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";
inline constexpr char kBadRequestUrl[] = "type.googleapis.com/google.rpc.BadRequest";
inline constexpr char kRetryInfoUrl[] = "type.googleapis.com/google.rpc.RetryInfo";

struct FieldViolation {
  std::string field;
  std::string description;
};

// A status with one ErrorInfo (reason in UPPER_SNAKE; the domain is filled in by the mapper).
absl::Status ErrorWithReason(absl::StatusCode code, absl::string_view reason,
                             absl::string_view message,
                             const std::map<std::string, std::string>& metadata = {});

// INVALID_ARGUMENT with ErrorInfo and BadRequest field violations.
absl::Status InvalidArgument(absl::string_view reason, absl::string_view message,
                             const std::vector<FieldViolation>& violations);

// Adds RetryInfo: the caller should retry after `delay`.
absl::Status WithRetryDelay(absl::Status status, absl::Duration delay);

// OK when `value` is a number `descriptor` defines; else INVALID_ARGUMENT `reason` with a
// BadRequest violation on `field`. An unknown enum number (proto3 keeps it) is never read as
// "no filter" or as some other value (AIP-126: unknown values are an error for the server).
absl::Status CheckEnumValue(const google::protobuf::EnumDescriptor* descriptor, int value,
                            absl::string_view field, absl::string_view reason);

// The ErrorInfo reason of a status, if it has one.
std::optional<std::string> ErrorReason(const absl::Status& status);

// The field names of a status's BadRequest violations.
std::vector<std::string> ViolatedFields(const absl::Status& status);

// The RetryInfo delay of a status, or zero (client side: FromGrpcStatus keeps RetryInfo).
absl::Duration RetryDelayOf(const absl::Status& status);

// True for codes where the same call may succeed later (DESIGN: UNAVAILABLE, DEADLINE_EXCEEDED,
// ABORTED, RESOURCE_EXHAUSTED).
bool IsTransient(absl::StatusCode code);

// gRPC's own refusal of a message over a size limit ("Received message larger than max",
// "Sent message larger than max"): RESOURCE_EXHAUSTED without an ErrorInfo (the services' own
// RESOURCE_EXHAUSTED, a full connection pool, always carries one). The same message is refused
// every time.
bool IsMessageTooLarge(const absl::Status& status);

// Whether this answer may change if the same call is made again: a transient code, except a
// message over a size limit.
bool IsTransient(const absl::Status& status);

}  // namespace common

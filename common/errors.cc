#include "common/errors.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/rpc/error_details.pb.h"

namespace common {

absl::Status ErrorWithReason(absl::StatusCode code, absl::string_view reason,
                             absl::string_view message,
                             const std::map<std::string, std::string>& metadata) {
  absl::Status status(code, message);
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  for (const auto& [k, v] : metadata) (*info.mutable_metadata())[k] = v;
  status.SetPayload(kErrorInfoUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

absl::Status InvalidArgument(absl::string_view reason, absl::string_view message,
                             const std::vector<FieldViolation>& violations) {
  absl::Status status = ErrorWithReason(absl::StatusCode::kInvalidArgument, reason, message);
  google::rpc::BadRequest bad;
  for (const auto& v : violations) {
    auto* fv = bad.add_field_violations();
    fv->set_field(v.field);
    fv->set_description(v.description);
  }
  status.SetPayload(kBadRequestUrl, absl::Cord(bad.SerializeAsString()));
  return status;
}

absl::Status WithRetryDelay(absl::Status status, absl::Duration delay) {
  google::rpc::RetryInfo retry;
  const int64_t nanos = absl::ToInt64Nanoseconds(delay);
  retry.mutable_retry_delay()->set_seconds(nanos / 1000000000);
  retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  status.SetPayload(kRetryInfoUrl, absl::Cord(retry.SerializeAsString()));
  return status;
}

std::optional<std::string> ErrorReason(const absl::Status& status) {
  auto payload = status.GetPayload(kErrorInfoUrl);
  if (!payload) return std::nullopt;
  google::rpc::ErrorInfo info;
  if (!info.ParseFromString(std::string(*payload))) return std::nullopt;
  return info.reason();
}

std::vector<std::string> ViolatedFields(const absl::Status& status) {
  std::vector<std::string> fields;
  auto payload = status.GetPayload(kBadRequestUrl);
  if (!payload) return fields;
  google::rpc::BadRequest bad;
  if (!bad.ParseFromString(std::string(*payload))) return fields;
  for (const auto& v : bad.field_violations()) fields.push_back(v.field());
  return fields;
}

absl::Status CheckEnumValue(const google::protobuf::EnumDescriptor* descriptor, int value,
                            absl::string_view field, absl::string_view reason) {
  if (descriptor->FindValueByNumber(value) != nullptr) return absl::OkStatus();
  return InvalidArgument(reason, absl::StrCat(field, " ", value, " is not a ", descriptor->name()),
                         {{std::string(field), absl::StrCat("unknown value ", value)}});
}

absl::Duration RetryDelayOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryInfoUrl);
  if (!payload) return absl::ZeroDuration();
  google::rpc::RetryInfo info;
  if (!info.ParseFromString(std::string(*payload)) || !info.has_retry_delay()) {
    return absl::ZeroDuration();
  }
  return absl::Seconds(info.retry_delay().seconds()) +
         absl::Nanoseconds(info.retry_delay().nanos());
}

bool IsTransient(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

bool IsMessageTooLarge(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         !status.GetPayload(kErrorInfoUrl).has_value() &&
         absl::StrContains(status.message(), "larger than max");
}

bool IsTransient(const absl::Status& status) {
  return IsTransient(status.code()) && !IsMessageTooLarge(status);
}

}  // namespace common

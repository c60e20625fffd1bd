#include "common/status_mapper.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/server_context.h"

namespace common {
namespace {

std::string CodeName(absl::StatusCode code) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(code));
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status, absl::string_view error_domain) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status rpc;
  rpc.set_code(static_cast<int>(status.code()));
  rpc.set_message(std::string(status.message()));

  google::rpc::ErrorInfo info;
  if (auto payload = status.GetPayload(kErrorInfoUrl)) {
    info.ParseFromString(std::string(*payload));
  } else {
    // Errors that did not come from a domain rule still carry a reason a client can switch on.
    std::string reason = CodeName(status.code());
    for (char& c : reason)
      if (c == ' ') c = '_';
    info.set_reason(reason);
  }
  if (info.domain().empty()) info.set_domain(std::string(error_domain));
  rpc.add_details()->PackFrom(info);
  if (auto payload = status.GetPayload(kBadRequestUrl)) {
    google::rpc::BadRequest bad;
    if (bad.ParseFromString(std::string(*payload))) rpc.add_details()->PackFrom(bad);
  }
  if (auto payload = status.GetPayload(kRetryInfoUrl)) {
    google::rpc::RetryInfo retry;
    if (retry.ParseFromString(std::string(*payload))) rpc.add_details()->PackFrom(retry);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), rpc.message(),
                      rpc.SerializeAsString());
}

std::string RetryPushbackMillis(const absl::Status& status) {
  const absl::Duration delay = RetryDelayOf(status);
  if (delay <= absl::ZeroDuration()) return "";
  return absl::StrCat(absl::ToInt64Milliseconds(delay));
}

void AddRetryPushback(grpc::ServerContextBase& context, const absl::Status& status) {
  const std::string millis = RetryPushbackMillis(status);
  if (!millis.empty()) context.AddTrailingMetadata(kRetryPushbackHeader, millis);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status rpc;
  if (status.error_details().empty() || !rpc.ParseFromString(status.error_details())) return out;
  for (const auto& any : rpc.details()) {
    const std::string url = any.type_url();
    if (url == kErrorInfoUrl || url == kBadRequestUrl || url == kRetryInfoUrl) {
      out.SetPayload(url, absl::Cord(any.value()));
    }
  }
  return out;
}

}  // namespace common

#include "common/grpc_metadata.h"

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "common/idempotency.h"
#include "grpcpp/server_context.h"

namespace common {

std::vector<absl::string_view> MetadataValues(const grpc::ServerContextBase& context,
                                              absl::string_view key) {
  std::vector<absl::string_view> values;
  const auto& metadata = context.client_metadata();
  auto [begin, end] = metadata.equal_range(grpc::string_ref(key.data(), key.size()));
  for (auto it = begin; it != end; ++it) values.emplace_back(it->second.data(), it->second.size());
  return values;
}

absl::StatusOr<std::string> IdempotencyKeyOf(const grpc::ServerContextBase& context) {
  return ValidateIdempotencyKey(MetadataValues(context, kIdempotencyKeyHeader));
}

std::string BearerTokenOf(const grpc::ServerContextBase& context) {
  auto values = MetadataValues(context, "authorization");
  if (values.size() != 1) return "";
  absl::string_view value = values.front();
  constexpr absl::string_view kPrefix = "Bearer ";
  if (!absl::StartsWithIgnoreCase(value, kPrefix)) return "";
  return std::string(value.substr(kPrefix.size()));
}

absl::Time DeadlineOf(const grpc::ServerContextBase& context) {
  return absl::FromChrono(context.deadline());
}

void MarkReplayed(grpc::ServerContextBase& context) {
  context.AddInitialMetadata(kReplayedHeader, "true");
}

}  // namespace common

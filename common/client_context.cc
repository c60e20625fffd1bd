#include "common/client_context.h"

#include <string>

#include "absl/time/clock.h"
#include "common/idempotency.h"

namespace common {

std::unique_ptr<grpc::ClientContext> NewClientContext(const CallOptions& options) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  if (!options.idempotency_key.empty()) {
    context->AddMetadata(kIdempotencyKeyHeader, std::string(options.idempotency_key));
  }
  if (!options.bearer_token.empty()) {
    context->AddMetadata("authorization", "Bearer " + std::string(options.bearer_token));
  }
  return context;
}

}  // namespace common

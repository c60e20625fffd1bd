// The one factory for outgoing calls: every call gets a deadline.
#pragma once

#include <memory>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"

namespace common {

struct CallOptions {
  absl::Duration timeout = absl::Seconds(5);
  absl::string_view idempotency_key;  // sent as `idempotency-key` when not empty
  absl::string_view bearer_token;     // sent as `authorization: Bearer ...` when not empty
};

std::unique_ptr<grpc::ClientContext> NewClientContext(const CallOptions& options);

}  // namespace common

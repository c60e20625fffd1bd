// Every answer that carries a google.rpc.RetryInfo delay (admission refusals, an exhausted
// database pool, IDEMPOTENCY_KEY_IN_USE, an import chunk in use) also carries it as
// `grpc-retry-pushback-ms` trailing metadata (gRFC A6), so gRPC's own retry policy and clients
// that read only metadata wait as long as the ones that read the details. Installed on every
// server by common::GrpcServer, after the interceptor that answers unparseable requests; the
// header is added only when the handler did not send it already (common::AddRetryPushback).
#pragma once

#include <memory>

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}

namespace common {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRetryPushbackFactory();

}  // namespace common

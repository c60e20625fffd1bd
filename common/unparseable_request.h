// Requests whose bytes do not parse as the method's request message (not protobuf at all, or a
// proto3 string field holding invalid UTF-8, which protobuf refuses to parse) would otherwise be
// answered by gRPC itself with INTERNAL "Failed to parse request": a code that says "our bug",
// that some clients retry, and that carries no details. This interceptor, installed on every
// server by common::GrpcServer, answers them INVALID_ARGUMENT with an ErrorInfo (reason
// REQUEST_NOT_PARSEABLE, the service's error domain) instead -- the Google error model's answer to
// bad input (AIP-193), deterministic and never retried. Nothing reaches the handler, so nothing
// is written. A call with no message at all is refused the same way, unless its caller has
// already gone (deadline, cancel, reset stream: common under overload, when calls wait in the
// transport): that call is recorded as CANCELLED, since nobody sent bad input.
#pragma once

#include <memory>
#include <string>

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}

namespace common {

inline constexpr char kRequestNotParseable[] = "REQUEST_NOT_PARSEABLE";

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewUnparseableRequestFactory(
    std::string error_domain);

}  // namespace common

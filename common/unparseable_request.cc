#include "common/unparseable_request.h"

#include "common/errors.h"
#include "common/status_mapper.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_interceptor.h"

namespace common {
namespace {

using grpc::experimental::InterceptionHookPoints;

class UnparseableRequest : public grpc::experimental::Interceptor {
 public:
  UnparseableRequest(const std::string* domain, grpc::experimental::ServerRpcInfo* info)
      : domain_(domain), info_(info), method_(info->method() ? info->method() : "") {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // A request that failed to deserialize reaches POST_RECV_MESSAGE as a null message.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparseable_ = true;
    }
    // gRPC answers such a request itself: INTERNAL "Failed to parse request" in a synchronous
    // method, UNIMPLEMENTED with no message in a callback one (no handler ran).
    const auto answered_by_grpc = [](const grpc::Status& s) {
      return s.error_code() == grpc::StatusCode::INTERNAL ||
             (s.error_code() == grpc::StatusCode::UNIMPLEMENTED && s.error_message().empty());
    };
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        unparseable_ && answered_by_grpc(methods->GetSendStatus())) {
      // No message also arrives when the caller went away (its deadline, a cancel, a reset
      // stream) before its request did: that is not bad input, and logging or counting it as
      // INVALID_ARGUMENT would blame callers for the server's own lateness under load. Nobody
      // receives this status; it is what the RPC log and the metrics record.
      const grpc::ServerContextBase* context = info_->server_context();
      if (context != nullptr && context->IsCancelled()) {
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::CANCELLED,
                         "the caller went away before its request message arrived"));
      } else {
        methods->ModifySendStatus(ToGrpcStatus(
            ErrorWithReason(absl::StatusCode::kInvalidArgument, kRequestNotParseable,
                            "the request is not a valid " + method_ +
                                " request: no message, not a protobuf message of its type, or "
                                "a string field that is not valid UTF-8"),
            *domain_));
      }
    }
    methods->Proceed();
  }

 private:
  const std::string* domain_;
  grpc::experimental::ServerRpcInfo* info_;
  const std::string method_;
  bool unparseable_ = false;
};

class Factory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(std::string domain) : domain_(std::move(domain)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new UnparseableRequest(&domain_, info);
  }

 private:
  const std::string domain_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewUnparseableRequestFactory(
    std::string error_domain) {
  return std::make_unique<Factory>(std::move(error_domain));
}

}  // namespace common

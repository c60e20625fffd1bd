#include "common/retry_pushback.h"

#include "common/status_mapper.h"
#include "grpcpp/support/server_interceptor.h"

namespace common {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RetryPushback : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (!status.ok() && !status.error_details().empty()) {
        const std::string millis = RetryPushbackMillis(FromGrpcStatus(status));
        std::multimap<std::string, std::string>* trailers = methods->GetSendTrailingMetadata();
        if (!millis.empty() && trailers != nullptr &&
            trailers->find(kRetryPushbackHeader) == trailers->end()) {
          trailers->emplace(kRetryPushbackHeader, millis);
        }
      }
    }
    methods->Proceed();
  }
};

class Factory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new RetryPushback();
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRetryPushbackFactory() {
  return std::make_unique<Factory>();
}

}  // namespace common

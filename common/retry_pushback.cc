#include "common/retry_pushback.h"

#include "absl/strings/str_cat.h"
#include "common/errors.h"
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
        const absl::Duration delay = RetryDelayOf(FromGrpcStatus(status));
        std::multimap<std::string, std::string>* trailers = methods->GetSendTrailingMetadata();
        if (delay > absl::ZeroDuration() && trailers != nullptr &&
            trailers->find(kRetryPushbackHeader) == trailers->end()) {
          trailers->emplace(kRetryPushbackHeader, absl::StrCat(absl::ToInt64Milliseconds(delay)));
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

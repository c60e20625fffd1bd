#include "order_service/grpc_payment_gateway.h"

#include "common/client_context.h"
#include "common/status_mapper.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "payments/v1/payments.grpc.pb.h"

namespace orders {
namespace {

// Reconnect quickly after the provider comes back: gRPC's default reconnect backoff grows to
// two minutes, which would leave the outbox waiting long after payments is up again. gRPC also
// takes the *minimum* backoff as the connect timeout, so that one stays long enough for a
// handshake to a slow or distant provider (at 100 ms, a 150 ms link never connected).
std::shared_ptr<grpc::Channel> PaymentChannel(const PaymentClientConfig& config) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (config.credentials && !config.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(config.tls_server_name);
  }
  return grpc::CreateCustomChannel(
      config.target, config.credentials ? config.credentials : grpc::InsecureChannelCredentials(),
      args);
}

class GrpcPaymentGateway : public PaymentGateway {
 public:
  explicit GrpcPaymentGateway(const PaymentClientConfig& config)
      : config_(config), stub_(payments::v1::PaymentService::NewStub(PaymentChannel(config))) {}

  absl::StatusOr<payments::v1::Charge> GetChargeByKey(const std::string& charge_key) override {
    auto context =
        common::NewClientContext({.timeout = config_.timeout, .bearer_token = config_.token});
    payments::v1::GetChargeRequest request;
    request.set_charge_key(charge_key);
    payments::v1::Charge charge;
    grpc::Status status = stub_->GetCharge(context.get(), request, &charge);
    if (!status.ok()) return common::FromGrpcStatus(status);
    return charge;
  }

  absl::StatusOr<std::vector<payments::v1::Charge>> ListAllCharges() override {
    std::vector<payments::v1::Charge> all;
    payments::v1::ListChargesRequest request;
    request.set_page_size(500);
    do {
      auto context =
          common::NewClientContext({.timeout = config_.timeout, .bearer_token = config_.token});
      payments::v1::ListChargesResponse page;
      grpc::Status status = stub_->ListCharges(context.get(), request, &page);
      if (!status.ok()) return common::FromGrpcStatus(status);
      for (auto& c : *page.mutable_charges()) all.push_back(std::move(c));
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    return all;
  }

  void StartCharge(const payments::v1::ChargeRequest& request, const std::string& key,
                   ChargeDone done) override {
    auto* call = new Call<payments::v1::ChargeRequest, payments::v1::Charge>(
        NewContext(key), request, std::move(done));
    stub_->async()->Charge(call->context.get(), &call->request, &call->response,
                           [call](grpc::Status status) { call->Finish(status); });
  }

  void StartRefund(const payments::v1::RefundRequest& request, const std::string& key,
                   RefundDone done) override {
    auto* call = new Call<payments::v1::RefundRequest, payments::v1::Refund>(
        NewContext(key), request, std::move(done));
    stub_->async()->Refund(call->context.get(), &call->request, &call->response,
                           [call](grpc::Status status) { call->Finish(status); });
  }

 private:
  // One call in flight; it owns what gRPC reads and writes until the callback, then deletes
  // itself.
  template <typename Request, typename Response>
  struct Call {
    Call(std::unique_ptr<grpc::ClientContext> c, const Request& r,
         std::function<void(absl::StatusOr<Response>)> d)
        : context(std::move(c)), request(r), done(std::move(d)) {}
    void Finish(const grpc::Status& status) {
      if (status.ok()) {
        done(std::move(response));
      } else {
        done(common::FromGrpcStatus(status));
      }
      delete this;
    }
    std::unique_ptr<grpc::ClientContext> context;
    Request request;
    Response response;
    std::function<void(absl::StatusOr<Response>)> done;
  };

  std::unique_ptr<grpc::ClientContext> NewContext(const std::string& key) {
    return common::NewClientContext(
        {.timeout = config_.timeout, .idempotency_key = key, .bearer_token = config_.token});
  }

  PaymentClientConfig config_;
  std::unique_ptr<payments::v1::PaymentService::Stub> stub_;
};

}  // namespace

std::unique_ptr<PaymentGateway> NewGrpcPaymentGateway(const PaymentClientConfig& config) {
  return std::make_unique<GrpcPaymentGateway>(config);
}

}  // namespace orders

// PaymentGateway over gRPC to payments.v1.PaymentService, a deadline on every call.
#pragma once

#include <memory>

#include "absl/time/time.h"
#include "order_service/payment_gateway.h"

namespace grpc {
class ChannelCredentials;
}

namespace orders {

struct PaymentClientConfig {
  std::string target = "127.0.0.1:50052";
  std::string token;  // sent as a bearer token when set
  absl::Duration timeout = absl::Seconds(5);
  // TLS (or mTLS) to payments when set, from common::MakeChannelCredentials; null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string tls_server_name;  // name to verify in payments' certificate instead of the host
};

std::unique_ptr<PaymentGateway> NewGrpcPaymentGateway(const PaymentClientConfig& config);

}  // namespace orders

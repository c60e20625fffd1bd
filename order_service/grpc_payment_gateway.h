// PaymentGateway over gRPC to payments.v1.PaymentService, a deadline on every call.
#pragma once

#include <memory>

#include "absl/time/time.h"
#include "order_service/payment_gateway.h"

namespace orders {

struct PaymentClientConfig {
  std::string target = "127.0.0.1:50052";
  std::string token;  // sent as a bearer token when set
  absl::Duration timeout = absl::Seconds(5);
};

std::unique_ptr<PaymentGateway> NewGrpcPaymentGateway(const PaymentClientConfig& config);

}  // namespace orders

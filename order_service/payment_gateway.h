// What the relay needs from the payment provider.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "payments/v1/payments.pb.h"

namespace orders {

class PaymentGateway {
 public:
  virtual ~PaymentGateway() = default;
  // Charges under `key`; the provider deduplicates on it, so a retry is always safe.
  virtual absl::StatusOr<payments::v1::Charge> Charge(const payments::v1::ChargeRequest& request,
                                                      const std::string& key) = 0;
  // Refunds the charge made under request.charge_key(); deduplicated on `key`.
  virtual absl::StatusOr<payments::v1::Refund> Refund(const payments::v1::RefundRequest& request,
                                                      const std::string& key) = 0;
};

}  // namespace orders

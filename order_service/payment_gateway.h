// What the relay needs from the payment provider.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "payments/v1/payments.pb.h"

namespace orders {

class PaymentGateway {
 public:
  using ChargeDone = std::function<void(absl::StatusOr<payments::v1::Charge>)>;
  using RefundDone = std::function<void(absl::StatusOr<payments::v1::Refund>)>;

  virtual ~PaymentGateway() = default;

  // Charges under `key` without blocking, so that the relay keeps a whole batch in flight; the
  // provider deduplicates on `key`, so a retry is always safe. `done` runs exactly once, on some
  // thread, with the charge or the provider's error (common::FromGrpcStatus's mapping).
  virtual void StartCharge(const payments::v1::ChargeRequest& request, const std::string& key,
                           ChargeDone done) = 0;
  // Refunds the charge made under request.charge_key(), deduplicated on `key`; like StartCharge.
  virtual void StartRefund(const payments::v1::RefundRequest& request, const std::string& key,
                           RefundDone done) = 0;

  // What payments holds under `charge_key` (GetCharge by key): a charge, a Refund's tombstone,
  // or NOT_FOUND CHARGE_NOT_FOUND (nothing was taken). No side effect, so the relay asks before
  // it gives up on an event whose outcome it does not know. The default (test doubles that
  // cannot answer): UNIMPLEMENTED.
  virtual absl::StatusOr<payments::v1::Charge> GetChargeByKey(const std::string& /*charge_key*/) {
    return absl::UnimplementedError("this gateway cannot look charges up");
  }

  // Every charge the caller holds at payments (ListCharges to the end), for reconciliation.
  // Default: UNIMPLEMENTED.
  virtual absl::StatusOr<std::vector<payments::v1::Charge>> ListAllCharges() {
    return absl::UnimplementedError("this gateway cannot list charges");
  }
};

}  // namespace orders

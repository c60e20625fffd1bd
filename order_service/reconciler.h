// Reconciliation: every order against the payment ledger by derived charge key, as payment teams
// close the day. The network suite's exactly-once checker, as a product feature
// (OutboxAdmin.Reconcile, `orderctl reconcile`, a periodic job with metrics).
//
// Mismatch kinds (a settled order: no outbox event still PENDING):
//   ORDER_NOT_PAID_CHARGE_SUCCEEDED  order CREATED or PAYMENT_FAILED, its charge SUCCEEDED
//                                    (repair: CREATED -> PAID)
//   CANCELLED_ORDER_HOLDS_MONEY      order CANCELLED, its charge still SUCCEEDED
//                                    (repair: its REFUND (re)queued)
//   PAID_ORDER_WITHOUT_CHARGE        order PAID, no SUCCEEDED charge under its key
//   AMOUNT_OR_CURRENCY_MISMATCH      the charge took another amount or currency than the order's
//   CHARGE_WITHOUT_ORDER             a charge that took money under this deployment's key for an
//                                    order that does not exist
// Only the first two are repaired; the others need a person and are reported.
#pragma once

#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "order_service/payment_gateway.h"
#include "order_service/reconcile_store.h"
#include "orders/v1/orders.pb.h"

namespace orders {

class Reconciler {
 public:
  Reconciler(ReconcileStore& store, PaymentGateway& payments)
      : store_(store), payments_(payments) {}
  ~Reconciler() { Stop(); }

  // The periodic job: a pass every `every` (the first one `every` after the start), repairing
  // when `repair`. Failures are logged and counted; the next pass comes anyway.
  void Start(absl::Duration every, bool repair);
  void Stop();
  int64_t failed_runs() const;

  // One pass. Reads the ledger first, then the orders (an order always exists before its
  // charge, so a charge listed first never looks orphaned because its order came later).
  // Errors: the store's or the gateway's (UNAVAILABLE while payments cannot be read).
  absl::StatusOr<orders::v1::ReconcileReport> Run(bool repair);

  // The last successful pass, for metrics; nullopt before the first.
  std::optional<orders::v1::ReconcileReport> last() const;

 private:
  ReconcileStore& store_;
  PaymentGateway& payments_;
  mutable absl::Mutex mu_;
  std::optional<orders::v1::ReconcileReport> last_ ABSL_GUARDED_BY(mu_);
  int64_t failed_runs_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace orders

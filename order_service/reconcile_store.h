// The orders side of reconciliation: each order with the key its charge was sent under, and
// the two repairs that are safe to make without a person.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orders/v1/orders.pb.h"

namespace orders {

struct OrderLedgerRow {
  int64_t id = 0;
  orders::v1::OrderStatus status = orders::v1::ORDER_STATUS_UNSPECIFIED;
  int64_t amount_minor = 0;  // in the currency's minor units
  std::string currency;
  std::string charge_key;  // the key its CHARGE event was sent (or will be sent) under
  bool in_flight = false;  // an outbox event of the order is still PENDING
};

class ReconcileStore {
 public:
  virtual ~ReconcileStore() = default;
  // This database's deployment identity (schema.cc, migration 4).
  virtual absl::StatusOr<std::string> DeploymentIdentity() = 0;
  // Orders with id > after_id, by id, at most `limit`.
  virtual absl::StatusOr<std::vector<OrderLedgerRow>> OrdersAfter(int64_t after_id, int limit) = 0;
  // Repair: a CREATED order whose charge SUCCEEDED becomes PAID with `charge_id` (with its
  // ORDER_PAID event; its CHARGE event DONE). false when the order was no longer CREATED.
  virtual absl::StatusOr<bool> MarkPaid(int64_t order_id, int64_t charge_id) = 0;
  // Repair: a CANCELLED order's money still held: its DEAD REFUND event is requeued, or one is
  // written when it has none. false when a REFUND is already PENDING or the order is not
  // CANCELLED.
  virtual absl::StatusOr<bool> QueueRefund(int64_t order_id) = 0;
};

}  // namespace orders

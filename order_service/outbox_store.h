// The outbox as the relay sees it. Every write is one short statement (its own transaction) and
// every finishing write is fenced on (id, lease owner, attempts), so a relay whose lease expired
// can never overwrite the work of the relay that took over.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "orders/v1/orders.pb.h"

namespace orders {

struct OutboxEvent {
  int64_t id = 0;
  int64_t aggregate_id = 0;  // the order
  std::string kind;          // CHARGE, REFUND
  std::string payment_key;
  std::string payload;  // JSON of the payment request
  int attempts = 0;     // including this claim
  // Claims that ended with a transient answer (payments unreachable, a deadline): not counted
  // against the attempt budget, which is for poison events.
  int transient_failures = 0;
  // now - its commit (created_at), by the database's clock, at the claim: with the relay's own
  // time since the claim it gives commit_to_sent without comparing two machines' clocks.
  absl::Duration since_commit;
  // now - the start of its retry window (its creation, or its last requeue), by the database's
  // clock, at the claim.
  absl::Duration age;
};

// What finishing an event does to its order. UNSPECIFIED leaves the order as it is.
struct EventOutcome {
  orders::v1::OrderStatus order_status = orders::v1::ORDER_STATUS_UNSPECIFIED;
  int64_t charge_id = 0;
  std::string decline_reason;
};

// One answered event to finish, for CompleteAll.
struct Completion {
  const OutboxEvent* event = nullptr;
  EventOutcome outcome;
};

struct OutboxCounts {
  int64_t pending = 0;
  int64_t dead = 0;
  absl::Duration oldest_pending_age;
  int64_t open_attempts = 0;
};

struct OutboxListQuery {
  orders::v1::OutboxEventStatus status = orders::v1::OUTBOX_EVENT_STATUS_UNSPECIFIED;
  absl::Duration min_age;
  int page_size = 50;
  int64_t after_id = 0;
};

class OutboxStore {
 public:
  virtual ~OutboxStore() = default;

  // Leases up to `limit` claimable events to `owner` for `lease`, counting an attempt on each.
  // Claimable: PENDING, due, not leased, and no earlier PENDING event of its order (a DEAD one
  // does not hold the next back: a REFUND behind a DEAD CHARGE runs).
  virtual absl::StatusOr<std::vector<OutboxEvent>> Claim(const std::string& owner, int limit,
                                                         absl::Duration lease) = 0;
  // Extends the leases `owner` still holds on `ids` to now + `lease` (the relay's heartbeat while
  // its calls are in flight). Returns how many it still held.
  virtual absl::StatusOr<int64_t> ExtendLeases(const std::vector<int64_t>& ids,
                                               const std::string& owner, absl::Duration lease) = 0;
  // Marks each event DONE and applies its outcome to its order, in one round trip, each fenced
  // on its own lease; element i answers completions[i] (false: that lease was lost). An error
  // leaves every event of the call leased (each is retried after its lease).
  virtual absl::StatusOr<std::vector<bool>> CompleteAll(const std::vector<Completion>& completions,
                                                        const std::string& owner) = 0;
  // CompleteAll for one event (one implementation of the fenced finish, not two).
  absl::StatusOr<bool> Complete(const OutboxEvent& event, const std::string& owner,
                                const EventOutcome& outcome) {
    absl::StatusOr<std::vector<bool>> done = CompleteAll({{&event, outcome}}, owner);
    if (!done.ok()) return done.status();
    return done->at(0);
  }
  // Releases the lease after a transient answer (counted in transient_failures); the event is
  // due again after `delay`. false: the lease was lost.
  virtual absl::StatusOr<bool> Reschedule(const OutboxEvent& event, const std::string& owner,
                                          absl::Duration delay, const std::string& error) = 0;
  // Marks the event DEAD with its last error. false: the lease was lost.
  virtual absl::StatusOr<bool> Bury(const OutboxEvent& event, const std::string& owner,
                                    const std::string& error) = 0;

  // For operators (OutboxAdmin).
  virtual absl::StatusOr<std::vector<orders::v1::OutboxEvent>> List(const OutboxListQuery& q) = 0;
  // DEAD -> PENDING with attempts reset; empty `ids` means every DEAD event.
  virtual absl::StatusOr<int64_t> Requeue(const std::vector<int64_t>& ids) = 0;
  virtual absl::StatusOr<OutboxCounts> Counts() = 0;
};

}  // namespace orders

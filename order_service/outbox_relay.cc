#include "order_service/outbox_relay.h"

#include <cstdio>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/failpoint.h"
#include "common/status_mapper.h"
#include "google/protobuf/util/json_util.h"

namespace orders {

OutboxRelay::OutboxRelay(OutboxStore& store, PaymentGateway& gateway, RelayOptions options)
    : store_(store), gateway_(gateway), options_(std::move(options)) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() {
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this, i] { Work(i); });
}

void OutboxRelay::Stop() {
  stopping_ = true;
  Notify();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void OutboxRelay::Notify() {
  absl::MutexLock lock(&mu_);
  ++wakeups_;
}

RelayStats OutboxRelay::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void OutboxRelay::WaitForWork(uint64_t seen, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto woken = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wakeups_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&woken), timeout);
}

void OutboxRelay::Work(int index) {
  const std::string owner = absl::StrCat(options_.owner, "/", index);
  absl::Duration idle_wait = options_.busy_poll;
  int failures = 0;
  absl::BitGen gen;
  while (!stopping_) {
    uint64_t seen;
    {
      absl::MutexLock lock(&mu_);
      seen = wakeups_;
    }
    absl::StatusOr<std::vector<OutboxEvent>> events =
        store_.Claim(owner, options_.batch, options_.lease);
    if (!events.ok()) {
      std::fprintf(stderr, "relay %s: claim failed: %s\n", owner.c_str(),
                   events.status().ToString().c_str());
      WaitForWork(seen, common::FullJitterBackoff(options_.backoff, ++failures, gen));
      continue;
    }
    failures = 0;
    if (events->empty()) {
      WaitForWork(seen, idle_wait);
      idle_wait = std::min(idle_wait * 2, options_.idle_poll);
      continue;
    }
    idle_wait = options_.busy_poll;
    {
      absl::MutexLock lock(&mu_);
      stats_.claimed += events->size();
    }
    for (const OutboxEvent& event : *events) Dispatch(event, owner);
  }
}

absl::StatusOr<EventOutcome> OutboxRelay::Call(const OutboxEvent& event) {
  EventOutcome outcome;
  if (event.kind == "CHARGE") {
    payments::v1::ChargeRequest request;
    if (!google::protobuf::util::JsonStringToMessage(event.payload, &request).ok()) {
      return absl::InvalidArgumentError("unreadable CHARGE payload");
    }
    common::Failpoint("relay_before_dispatch");
    absl::StatusOr<payments::v1::Charge> charge = gateway_.Charge(request, event.payment_key);
    common::Failpoint("relay_after_payment");
    if (!charge.ok()) return charge.status();
    outcome.charge_id = charge->id();
    switch (charge->status()) {
      case payments::v1::CHARGE_STATUS_SUCCEEDED:
        outcome.order_status = orders::v1::ORDER_STATUS_PAID;
        break;
      case payments::v1::CHARGE_STATUS_DECLINED:
        outcome.order_status = orders::v1::ORDER_STATUS_PAYMENT_FAILED;
        outcome.decline_reason = charge->decline_reason();
        break;
      default:  // VOIDED or REFUNDED: the order was cancelled meanwhile; leave it as it is
        break;
    }
    return outcome;
  }
  if (event.kind == "REFUND") {
    payments::v1::RefundRequest request;
    if (!google::protobuf::util::JsonStringToMessage(event.payload, &request).ok()) {
      return absl::InvalidArgumentError("unreadable REFUND payload");
    }
    common::Failpoint("relay_before_dispatch");
    absl::StatusOr<payments::v1::Refund> refund = gateway_.Refund(request, event.payment_key);
    common::Failpoint("relay_after_payment");
    if (!refund.ok()) return refund.status();
    return outcome;  // the order is already CANCELLED
  }
  return absl::UnimplementedError(absl::StrCat("unknown event kind ", event.kind));
}

void OutboxRelay::Dispatch(const OutboxEvent& event, const std::string& owner) {
  if (event.attempts > options_.max_attempts) {
    Finish(event, owner,
           absl::ResourceExhaustedError(absl::StrCat("gave up after ", options_.max_attempts,
                                                     " attempts")));
    return;
  }
  absl::StatusOr<EventOutcome> outcome = Call(event);
  if (!outcome.ok()) {
    Finish(event, owner, outcome.status());
    return;
  }
  absl::StatusOr<bool> done = store_.Complete(event, owner, *outcome);
  if (done.ok() && *done) commit_to_sent_.Record(absl::Now() - event.created_at);
  absl::MutexLock lock(&mu_);
  if (done.ok() && *done) {
    ++stats_.completed;
  } else if (done.ok()) {
    ++stats_.lease_lost;
  }
  // A failed Complete leaves the lease to expire; the retry is deduplicated by payments.
}

void OutboxRelay::Finish(const OutboxEvent& event, const std::string& owner,
                         const absl::Status& status) {
  const std::string error = status.ToString();
  const bool retry = common::IsTransient(status.code()) && event.attempts < options_.max_attempts;
  absl::StatusOr<bool> finished;
  if (retry) {
    absl::BitGen gen;
    finished = store_.Reschedule(event, owner,
                                 common::FullJitterBackoff(options_.backoff, event.attempts, gen),
                                 error);
  } else {
    std::fprintf(stderr, "relay: event %lld (order %lld) is DEAD: %s\n",
                 static_cast<long long>(event.id), static_cast<long long>(event.aggregate_id),
                 error.c_str());
    finished = store_.Bury(event, owner, error);
  }
  absl::MutexLock lock(&mu_);
  if (finished.ok() && !*finished) ++stats_.lease_lost;
  if (finished.ok() && *finished) ++(retry ? stats_.rescheduled : stats_.buried);
}

}  // namespace orders

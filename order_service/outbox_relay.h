// The outbox relay: worker threads that claim committed events in batches, call payments for the
// whole batch at once (outside any transaction, each with its event's derived key), and finish
// the batch in one statement, each event fenced on its lease.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "common/latency_histogram.h"
#include "order_service/outbox_store.h"
#include "order_service/payment_gateway.h"

namespace orders {

struct RelayOptions {
  int workers = 4;
  int batch = 16;  // events claimed, in flight and completed together per worker
  absl::Duration lease = absl::Seconds(30);  // longer than a payment call's deadline
  // A poison event's budget: claims that ended without a transient answer (a crash mid-call, a
  // lost lease, ...), then DEAD. Transient answers (payments down, a deadline) are not counted:
  // an outage of any length must not bury events that payments will answer once it is back.
  int max_attempts = 20;
  // A CHARGE's transient answers are retried for this long after its first attempt (by the
  // database's clock), then the relay asks payments what happened (see GiveUp). REFUNDs retry
  // for ever: a refund cannot take money twice. Keep it well below payments' idempotency-key
  // retention (24 h by default): a resend after the key expired could charge twice.
  absl::Duration retry_window = absl::Hours(12);
  common::BackoffPolicy backoff{absl::Milliseconds(50), absl::Seconds(5), 2.0};
  absl::Duration busy_poll = absl::Milliseconds(5);  // first idle wait; doubles up to idle_poll
  absl::Duration idle_poll = absl::Seconds(1);
  std::string owner = "relay";  // unique per process (host:pid by default in main)
  // Set when this process also serves the API (--role=all with admission control): whether its
  // admission control is shedding callers now (common::AdmissionController::Shedding). While it
  // is, the relay yields: each claim halves the batch (AIMD, down to one event) and the worker
  // then waits yield_pause, so callers with deadlines get the CPU and the database, and the
  // backlog is charged once the storm is over (SRE book, "Handling Overload": background work
  // is shed first; the outbox exists so that charging can lag accepting). It never stops: one
  // event per worker per pause still goes out, and the backlog shows in orders_outbox_pending.
  // Flag --relay_yield_pause (0: neither callers_shed nor callers_busy is set: the relay never
  // yields and is never paced).
  std::function<bool()> callers_shed;
  absl::Duration yield_pause = absl::Milliseconds(100);
  // Set with callers_shed: whether this process's API is busy (common::AdmissionController::
  // Busy). While it is, the relay charges at most busy_pace events per event the API writes
  // (counted by Notify): it keeps pace with the orders coming in and drains a backlog left by a
  // storm with the remainder, instead of taking the CPU the callers need right after it. When the
  // API is not busy, the relay is not paced. Flag --relay_busy_pace (>= 1). 1.1 and not 1.25:
  // the peak rate in the 5 s after a storm (bench/overload_phase.sh, 5 alternating runs each)
  // was 0.64-1.09 of the peak before it (median 0.92) at 1.1, against 0.54-0.90 (median 0.86) at
  // 1.25; the backlog then drains with a tenth of the write rate while the API stays busy, and at
  // full speed once it is not.
  std::function<bool()> callers_busy;
  double busy_pace = 1.1;
};

struct RelayStats {
  int64_t claimed = 0;
  int64_t completed = 0;
  int64_t rescheduled = 0;
  int64_t buried = 0;
  int64_t lease_lost = 0;
  int64_t lease_extensions = 0;  // heartbeats that extended the leases of calls in flight
  int64_t key_conflicts = 0;
  int64_t asked_payments = 0;  // events given up on whose outcome was asked of payments  // events
                               // DEAD because payments holds their key for another request
  // Batches after which payments asked the relay to wait (RESOURCE_EXHAUSTED with RetryInfo, its
  // admission control shedding): every worker pauses claiming for that long.
  int64_t pushbacks = 0;
  // Events a worker claims at once now: --relay_batch, halved by each pushback and grown by one
  // by each batch answered without one (AIMD).
  int claim_limit = 0;
  // Claims made while this process's API was shedding callers (each halved the batch and was
  // followed by RelayOptions::yield_pause).
  int64_t yields = 0;
  // Claims paced (made smaller, or put off) because this process's API was busy.
  int64_t paced = 0;
  // Claims that found nothing claimable: the worker then waits for Notify() or its idle poll.
  int64_t empty_claims = 0;
};

class OutboxRelay {
 public:
  OutboxRelay(OutboxStore& store, PaymentGateway& gateway, RelayOptions options);
  ~OutboxRelay();

  void Start();
  void Stop();
  // Wakes idle workers at once (called after an order commits).
  void Notify();
  RelayStats Stats() const;
  // Commit of the event -> its outcome recorded, for events this relay completed.
  const common::LatencyHistogram& commit_to_sent() const { return commit_to_sent_; }

  // Processes claimed events: calls payments for all of them at once, then finishes them.
  // Public for tests.
  void Dispatch(const std::vector<OutboxEvent>& events, const std::string& owner);
  void Dispatch(const OutboxEvent& event, const std::string& owner) {
    Dispatch(std::vector<OutboxEvent>{event}, owner);
  }

 private:
  void Work(int index);
  // Sleeps until `until`, waking every 20 ms to see whether Stop() was called.
  void SleepUnlessStopping(absl::Time until);
  // The claim limit while this process's API may be busy (RelayOptions::callers_busy): at most
  // the pace earned by the events it wrote since the worker's wakeup count `seen`. nullopt: the
  // API wrote more meanwhile, look again.
  std::optional<int> PacedClaimLimit(uint64_t seen, int claim_limit);
  // Waits until Notify() moves past `seen` or `timeout` passes.
  void WaitForWork(uint64_t seen, absl::Duration timeout);
  // Starts the payment call for an event, outside any transaction; `done` gets its outcome.
  void StartCall(const OutboxEvent& event, std::function<void(absl::StatusOr<EventOutcome>)> done);
  void Finish(const OutboxEvent& event, const std::string& owner, const absl::Status& status);
  // An event whose outcome is unknown (poison, or past the retry window): asks payments what it
  // holds under the event's charge key and completes it with that outcome, buries it when
  // payments holds nothing (or, for a REFUND, still holds the money: an alarm), or reschedules it
  // while payments cannot be asked.
  void GiveUp(const OutboxEvent& event, const std::string& owner, absl::string_view why);
  // A CHARGE past --relay_retry_window (measured from its first attempt or last requeue).
  bool PastRetryWindow(const OutboxEvent& event) const;

  OutboxStore& store_;
  PaymentGateway& gateway_;
  const RelayOptions options_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  common::LatencyHistogram commit_to_sent_;

  mutable absl::Mutex mu_;
  uint64_t wakeups_ ABSL_GUARDED_BY(mu_) = 0;
  // The pace while the API is busy (RelayOptions::callers_busy): events the relay may claim, and
  // the wakeups (events written) already turned into them.
  double pace_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t paced_wakeups_ ABSL_GUARDED_BY(mu_) = 0;
  RelayStats stats_ ABSL_GUARDED_BY(mu_);
  // No worker claims (and so sends) before this: payments' pushback, shared by all workers since
  // they all call the same payments.
  absl::Time paused_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  common::AimdLimit claim_limit_ ABSL_GUARDED_BY(mu_);  // see RelayStats::claim_limit
};

}  // namespace orders

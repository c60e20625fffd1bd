#include "order_service/outbox_relay.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/failpoint.h"
#include "common/failpoint_names.h"
#include "common/idempotency.h"
#include "google/protobuf/util/json_util.h"

namespace orders {

OutboxRelay::OutboxRelay(OutboxStore& store, PaymentGateway& gateway, RelayOptions options)
    : store_(store), gateway_(gateway), options_(std::move(options)), claim_limit_(options_.batch) {
  stats_.claim_limit = claim_limit_.limit();
}

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

void OutboxRelay::SleepUnlessStopping(absl::Time until) {
  while (!stopping_ && absl::Now() < until) {
    absl::SleepFor(std::min(absl::Milliseconds(20), until - absl::Now()));
  }
}

std::optional<int> OutboxRelay::PacedClaimLimit(uint64_t seen, int claim_limit) {
  const bool busy = options_.callers_busy();
  {
    absl::MutexLock lock(&mu_);
    const double full_round = static_cast<double>(options_.batch) * options_.workers;
    // Each event the API wrote since the last look adds busy_pace to the claimable; an API that
    // is not busy leaves the relay a full round (unpaced).
    pace_tokens_ = busy
                       ? std::min(full_round,
                                  pace_tokens_ + options_.busy_pace *
                                                     static_cast<double>(wakeups_ - paced_wakeups_))
                       : full_round;
    paced_wakeups_ = wakeups_;
    if (!busy) return claim_limit;
    if (pace_tokens_ >= 1) {
      if (pace_tokens_ < claim_limit) {
        ++stats_.paced;
        claim_limit = static_cast<int>(pace_tokens_);
      }
      pace_tokens_ -= claim_limit;
      return claim_limit;
    }
    ++stats_.paced;
  }
  // Nothing to claim yet: until the API writes another event (which adds to the pace) ...
  WaitForWork(seen, options_.busy_poll);
  absl::MutexLock lock(&mu_);
  if (wakeups_ != seen) return std::nullopt;
  // ... or, busy with work that writes nothing (reads, lists), one event: the relay never stops.
  return 1;
}

void OutboxRelay::Work(int index) {
  const std::string owner = absl::StrCat(options_.owner, "/", index);
  absl::Duration idle_wait = options_.busy_poll;
  int failures = 0;
  absl::BitGen gen;
  while (!stopping_) {
    uint64_t seen;
    absl::Time paused_until;
    int claim_limit;
    {
      absl::MutexLock lock(&mu_);
      seen = wakeups_;
      paused_until = paused_until_;
      claim_limit = claim_limit_.limit();
    }
    // Payments pushed back: wait it out (new orders do not wake us; they wait in the outbox).
    if (absl::Now() < paused_until) {
      SleepUnlessStopping(paused_until);
      continue;
    }
    // This process's API is shedding callers: yield to them (see RelayOptions::callers_shed).
    const bool yield = options_.callers_shed && options_.callers_shed();
    if (yield) {
      absl::MutexLock lock(&mu_);
      claim_limit_.OnPushback();
      claim_limit = claim_limit_.limit();
      stats_.claim_limit = claim_limit;
    }
    // This process's API is busy: keep pace with it, no more (see RelayOptions::callers_busy).
    if (!yield && options_.callers_busy) {
      const std::optional<int> paced = PacedClaimLimit(seen, claim_limit);
      if (!paced.has_value()) continue;
      claim_limit = *paced;
    }
    absl::StatusOr<std::vector<OutboxEvent>> events =
        store_.Claim(owner, claim_limit, options_.lease);
    if (!events.ok()) {
      std::fprintf(stderr, "relay %s: claim failed: %s\n", owner.c_str(),
                   events.status().ToString().c_str());
      WaitForWork(seen, common::FullJitterBackoff(options_.backoff, ++failures, gen));
      continue;
    }
    failures = 0;
    if (events->empty()) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.empty_claims;
      }
      WaitForWork(seen, idle_wait);
      idle_wait = std::min(idle_wait * 2, options_.idle_poll);
      continue;
    }
    idle_wait = options_.busy_poll;
    {
      absl::MutexLock lock(&mu_);
      stats_.claimed += events->size();
    }
    Dispatch(*events, owner);
    if (yield) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.yields;
      }
      SleepUnlessStopping(absl::Now() + options_.yield_pause);
    }
  }
}

namespace {

EventOutcome OutcomeOfCharge(const payments::v1::Charge& charge) {
  EventOutcome outcome;
  outcome.charge_id = charge.id();
  switch (charge.status()) {
    case payments::v1::CHARGE_STATUS_SUCCEEDED:
      outcome.order_status = orders::v1::ORDER_STATUS_PAID;
      break;
    case payments::v1::CHARGE_STATUS_DECLINED:
      outcome.order_status = orders::v1::ORDER_STATUS_PAYMENT_FAILED;
      outcome.decline_reason = charge.decline_reason();
      break;
    default:  // VOIDED or REFUNDED: the order was cancelled meanwhile; leave it as it is
      break;
  }
  return outcome;
}

// A relay-side decision to stop sending an event whose outcome it does not know. Carried as a
// status with this payload so Finish tells it from a payments answer.
constexpr char kGiveUpPayload[] = "orders.example/relay-give-up";

absl::Status GiveUpError(const std::string& why) {
  absl::Status s = absl::AbortedError(why);
  s.SetPayload(kGiveUpPayload, absl::Cord("1"));
  return s;
}

bool IsGiveUp(const absl::Status& s) { return s.GetPayload(kGiveUpPayload).has_value(); }

// The charge key an event's outcome is recorded under at payments: a CHARGE's own key, a
// REFUND's charge_key.
std::string ChargeKeyOf(const OutboxEvent& event) {
  if (event.kind != "REFUND") return event.payment_key;
  payments::v1::RefundRequest request;
  if (!google::protobuf::util::JsonStringToMessage(event.payload, &request).ok()) return "";
  return request.charge_key();
}

}  // namespace

bool OutboxRelay::PastRetryWindow(const OutboxEvent& event) const {
  // Only a CHARGE resent after payments forgot its key could take money twice. A REFUND is safe
  // to resend for ever (payments refunds a charge at most once, whatever the refund key), and
  // giving one up would leave a cancelled order's money held: it retries until it is answered.
  return event.kind == "CHARGE" && event.age >= options_.retry_window;
}

void OutboxRelay::GiveUp(const OutboxEvent& event, const std::string& owner,
                         absl::string_view why) {
  const std::string key = ChargeKeyOf(event);
  absl::StatusOr<payments::v1::Charge> held =
      key.empty() ? absl::StatusOr<payments::v1::Charge>(absl::InvalidArgumentError("no key"))
                  : gateway_.GetChargeByKey(key);
  absl::StatusOr<bool> finished;
  enum { kCompleted, kBuried, kRescheduled } result;
  if (held.ok()) {
    const payments::v1::ChargeStatus status = held->status();
    if (event.kind == "REFUND" && status == payments::v1::CHARGE_STATUS_SUCCEEDED) {
      // The refund did not happen and the money is still taken: DEAD, as an alarm for the
      // reconciler and the operator (a requeue sends the refund again).
      finished = store_.Bury(event, owner,
                             absl::StrCat(why,
                                          "; payments still holds the charge SUCCEEDED: "
                                          "money held on a cancelled order"));
      result = kBuried;
    } else {
      // Payments knows the outcome: record it as if the answer had arrived.
      finished = store_.Complete(event, owner,
                                 event.kind == "CHARGE" ? OutcomeOfCharge(*held) : EventOutcome{});
      result = kCompleted;
    }
  } else if (held.status().code() == absl::StatusCode::kNotFound) {
    finished = store_.Bury(event, owner,
                           absl::StrCat(why,
                                        "; payments holds nothing under the key: no money "
                                        "was taken"));
    result = kBuried;
  } else if (common::IsTransient(held.status().code())) {
    // Still unknown: keep the event and ask again later.
    finished = store_.Reschedule(
        event, owner, options_.backoff.max,
        absl::StrCat(why, "; outcome unknown, payments unreachable: ", held.status().ToString()));
    result = kRescheduled;
  } else {
    finished = store_.Bury(event, owner,
                           absl::StrCat(why, "; outcome unknown, payments could not be asked: ",
                                        held.status().ToString()));
    result = kBuried;
  }
  if (result == kBuried) {
    std::fprintf(stderr, "relay: event %lld (order %lld) is DEAD: %s (asked payments: %s)\n",
                 static_cast<long long>(event.id), static_cast<long long>(event.aggregate_id),
                 std::string(why).c_str(),
                 held.ok() ? payments::v1::ChargeStatus_Name(held->status()).c_str()
                           : held.status().ToString().c_str());
  }
  absl::MutexLock lock(&mu_);
  if (finished.ok() && !*finished) ++stats_.lease_lost;
  if (!finished.ok() || !*finished) return;
  ++stats_.asked_payments;
  switch (result) {
    case kCompleted:
      ++stats_.completed;
      break;
    case kBuried:
      ++stats_.buried;
      break;
    case kRescheduled:
      ++stats_.rescheduled;
      break;
  }
}

void OutboxRelay::StartCall(const OutboxEvent& event,
                            std::function<void(absl::StatusOr<EventOutcome>)> done) {
  if (event.kind == "CHARGE") {
    payments::v1::ChargeRequest request;
    if (!google::protobuf::util::JsonStringToMessage(event.payload, &request).ok()) {
      return done(absl::InvalidArgumentError("unreadable CHARGE payload"));
    }
    common::Failpoint(common::failpoints::kRelayBeforeDispatch);
    gateway_.StartCharge(request, event.payment_key,
                         [done = std::move(done)](absl::StatusOr<payments::v1::Charge> charge) {
                           if (!charge.ok()) return done(charge.status());
                           done(OutcomeOfCharge(*charge));
                         });
    return;
  }
  if (event.kind == "REFUND") {
    payments::v1::RefundRequest request;
    if (!google::protobuf::util::JsonStringToMessage(event.payload, &request).ok()) {
      return done(absl::InvalidArgumentError("unreadable REFUND payload"));
    }
    common::Failpoint(common::failpoints::kRelayBeforeDispatch);
    gateway_.StartRefund(request, event.payment_key,
                         [done = std::move(done)](absl::StatusOr<payments::v1::Refund> refund) {
                           if (!refund.ok()) return done(refund.status());
                           done(EventOutcome{});  // the order is already CANCELLED
                         });
    return;
  }
  done(absl::UnimplementedError(absl::StrCat("unknown event kind ", event.kind)));
}

void OutboxRelay::Dispatch(const std::vector<OutboxEvent>& events, const std::string& owner) {
  // Every call of the batch is in flight at once; the batch finishes when the last answers
  // (each call has its own deadline). Meanwhile the leases are extended every third of a lease:
  // a call slower than the lease is not taken over, and so not repeated, by another relay.
  // Shared with the callbacks, which may finish after the waiter has seen the last answer.
  struct Batch {
    explicit Batch(size_t n) : results(n, absl::UnknownError("not sent")), pending(n) {}
    absl::Mutex mu;
    std::vector<absl::StatusOr<EventOutcome>> results ABSL_GUARDED_BY(mu);
    size_t pending ABSL_GUARDED_BY(mu);
  };
  // The relay's own clock measures only since the claim; the database's measured up to it.
  const absl::Time claimed = absl::Now();
  auto batch = std::make_shared<Batch>(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    auto record = [batch, i](absl::StatusOr<EventOutcome> result) {
      absl::MutexLock lock(&batch->mu);
      batch->results[i] = std::move(result);
      --batch->pending;
    };
    // Poison (claimed too often without a transient answer: crashes, lost leases), or past the
    // retry window (a resend could outlive payments' key retention): not sent again; Finish
    // asks payments what happened before it gives up.
    if (events[i].attempts - events[i].transient_failures > options_.max_attempts) {
      record(GiveUpError(absl::StrCat("poison event: gave up after ", options_.max_attempts,
                                      " claims that ended without an answer")));
      continue;
    }
    if (PastRetryWindow(events[i])) {
      record(GiveUpError(absl::StrCat("past the retry window (",
                                      absl::FormatDuration(options_.retry_window), ")")));
      continue;
    }
    StartCall(events[i], record);
  }
  std::vector<int64_t> ids;
  for (const OutboxEvent& e : events) ids.push_back(e.id);
  std::vector<absl::StatusOr<EventOutcome>> results;
  {
    Batch* b = batch.get();
    absl::MutexLock lock(&b->mu);
    auto all_answered = [b]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(b->mu) { return b->pending == 0; };
    while (!b->mu.AwaitWithTimeout(absl::Condition(&all_answered), options_.lease / 3)) {
      b->mu.Unlock();
      absl::StatusOr<int64_t> held = store_.ExtendLeases(ids, owner, options_.lease);
      if (held.ok()) {
        absl::MutexLock stats_lock(&mu_);
        ++stats_.lease_extensions;
      }
      b->mu.Lock();
    }
    results = std::move(b->results);
  }

  // Payments' admission control shedding (RESOURCE_EXHAUSTED with a RetryInfo delay): every
  // worker waits that long before it claims again, instead of sending more into the overload.
  absl::Duration pushback = absl::ZeroDuration();
  for (const auto& r : results) {
    if (!r.ok() && r.status().code() == absl::StatusCode::kResourceExhausted) {
      pushback = std::max(pushback, common::RetryDelayOf(r.status()));
    }
  }
  {
    // AIMD on the batch size: a pushback halves what every worker claims, so the relay's calls
    // in flight fall below what payments admits instead of coming back at the same size; each
    // batch answered without one grows it by one event, up to --relay_batch.
    absl::MutexLock lock(&mu_);
    if (pushback > absl::ZeroDuration()) {
      paused_until_ = std::max(paused_until_, absl::Now() + pushback);
      claim_limit_.OnPushback();
      ++stats_.pushbacks;
    } else {
      claim_limit_.OnAnswered();
    }
    stats_.claim_limit = claim_limit_.limit();
  }

  std::vector<Completion> completions;
  for (size_t i = 0; i < events.size(); ++i) {
    if (!results[i].ok()) {
      Finish(events[i], owner, results[i].status());
      continue;
    }
    common::Failpoint(common::failpoints::kRelayAfterPayment);
    completions.push_back({&events[i], *results[i]});
  }
  if (completions.empty()) return;
  // A failed CompleteAll leaves the leases to expire; the retries are deduplicated by payments.
  absl::StatusOr<std::vector<bool>> done = store_.CompleteAll(completions, owner);
  if (!done.ok()) return;
  const absl::Time now = absl::Now();
  int64_t completed = 0;
  for (size_t i = 0; i < completions.size(); ++i) {
    if ((*done)[i]) {
      ++completed;
      commit_to_sent_.Record(completions[i].event->since_commit + (now - claimed));
    }
  }
  absl::MutexLock lock(&mu_);
  stats_.completed += completed;
  stats_.lease_lost += static_cast<int64_t>(completions.size()) - completed;
}

void OutboxRelay::Finish(const OutboxEvent& event, const std::string& owner,
                         const absl::Status& status) {
  // The outcome is unknown (only transient answers, or none): never buried without asking.
  if (IsGiveUp(status) || (common::IsTransient(status) && PastRetryWindow(event))) {
    return GiveUp(event, owner, status.message());
  }
  // Payments has this key with another request: another deployment (or a copy of this database
  // that kept its identity) used it. Never a silent DEAD: marked, counted and logged as an alarm.
  const bool key_conflict = common::ErrorReason(status) == common::kKeyReusedReason;
  const std::string error =
      key_conflict ? absl::StrCat("PAYMENT_KEY_CONFLICT: payments holds key ", event.payment_key,
                                  " for another request (another deployment with the same "
                                  "identity?): ",
                                  status.ToString())
                   : status.ToString();
  if (key_conflict) {
    std::fprintf(stderr, "relay: ERROR event %lld (order %lld): %s\n",
                 static_cast<long long>(event.id), static_cast<long long>(event.aggregate_id),
                 error.c_str());
  }
  // A transient answer is retried for the whole window, whatever the attempt count (past it,
  // GiveUp above). A message over gRPC's size limit is not transient: it would be refused for
  // the whole window.
  const bool retry = common::IsTransient(status);
  absl::StatusOr<bool> finished;
  if (retry) {
    absl::BitGen gen;
    // At least the wait payments asked for (RetryInfo), never sooner.
    finished =
        store_.Reschedule(event, owner,
                          std::max(common::FullJitterBackoff(options_.backoff, event.attempts, gen),
                                   common::RetryDelayOf(status)),
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
  if (finished.ok() && *finished && key_conflict) ++stats_.key_conflicts;
}

}  // namespace orders

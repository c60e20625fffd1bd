#include "common/admission.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config_check.h"
#include "common/errors.h"

namespace common {

namespace {

// Gradient2 constants (Netflix concurrency-limits, Gradient2Limit defaults): the long-term
// latency is an exponential average over ~600 samples; short-term latency may exceed it by this
// tolerance before the limit shrinks; each update moves 20 % of the way; the limit grows by about
// sqrt(limit) a window while latency stays flat ("queueSize").
constexpr double kTolerance = 1.5;
constexpr double kSmoothing = 0.2;
constexpr double kLongWindow = 600;
constexpr int kWindowSamples = 32;

// A queued call may spend at most this share of the time its caller has left waiting for a slot;
// the rest is for the work and the answer. Measured (bench/overload_phase.sh, 100 ms deadlines):
// letting callers wait out up to the whole queue made 1 admitted call in 8 answer late, and the
// late ones were committed all the same (wasted work); a caller with a long deadline (the
// relay's 5 s) still waits up to max_queue_wait.
constexpr double kQueueShare = 0.25;

// The deadline rule compares the caller's time left with the average call; the tail is longer
// than the average, so a call is only queued when the expected time fits this many times over.
constexpr double kDeadlineMargin = 1.5;

}  // namespace

absl::Status ValidateAdmissionOptions(const AdmissionOptions& o) {
  return ConfigCheck()
      .AtLeast("admission_limit", o.limit, 1)
      .AtLeast("admission_min_limit", o.min_limit, 1)
      .AtLeast("admission_max_limit", o.max_limit, o.min_limit)
      .AtLeast("admission_queue", o.queue, 0)
      .AtLeast("admission_priority_limit", o.priority_limit, 1)
      .Positive("admission_max_queue_wait", o.max_queue_wait)
      .Positive("admission_standing_queue_wait", o.standing_queue_wait)
      .Positive("admission_pushback", o.pushback)
      .Expect(o.max_pushback >= o.pushback, "admission_max_pushback",
              "must be at least --admission_pushback")
      .Expect(o.tenant_share > 0 && o.tenant_share <= 1, "admission_tenant_share",
              "must be in (0, 1]")
      .Status();
}

absl::StatusOr<LimitAlgorithm> ParseLimitAlgorithm(absl::string_view name) {
  if (name == "fixed") return LimitAlgorithm::kFixed;
  if (name == "gradient") return LimitAlgorithm::kGradient;
  return absl::InvalidArgumentError(
      absl::StrCat("--admission_algorithm: '", name, "' is not fixed or gradient"));
}

AdmissionController::AdmissionController(const AdmissionOptions& options)
    : options_(options),
      limit_(options.limit),
      pushback_ms_(absl::ToDoubleMilliseconds(options.pushback)) {}

AdmissionController::Permit& AdmissionController::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = std::exchange(other.owner_, nullptr);
    lane_ = other.lane_;
    tenant_ = std::move(other.tenant_);
    start_ = other.start_;
  }
  return *this;
}

void AdmissionController::Permit::Release(bool sample) {
  if (owner_ == nullptr) return;
  std::exchange(owner_, nullptr)->Return(lane_, tenant_, absl::Now() - start_, sample);
}

void AdmissionController::set_multi_tenant(bool on) {
  absl::MutexLock lock(&mu_);
  multi_tenant_ = on;
}

bool AdmissionController::Shedding() const {
  absl::MutexLock lock(&mu_);
  return absl::Now() - last_shed_ < kSheddingMemory;
}

bool AdmissionController::Busy() const {
  absl::MutexLock lock(&mu_);
  return !queue_.empty() || 2 * in_flight_ >= std::max(2, static_cast<int>(limit_));
}

int AdmissionController::TenantCap() const {
  if (!multi_tenant_ || options_.tenant_share >= 1.0) return INT32_MAX;
  const double room = std::floor(limit_) + options_.queue;
  return std::max(1, static_cast<int>(std::ceil(options_.tenant_share * room)));
}

absl::Status AdmissionController::Overloaded(absl::string_view reason, absl::string_view what) {
  // +-25 % jitter: refused callers that all wait the same time come back together.
  jitter_state_ ^= jitter_state_ << 13;
  jitter_state_ ^= jitter_state_ >> 7;
  jitter_state_ ^= jitter_state_ << 17;
  const double factor = 0.75 + 0.5 * static_cast<double>(jitter_state_ % 1000) / 1000.0;
  const absl::Duration pushback =
      absl::Milliseconds(std::max<int64_t>(1, static_cast<int64_t>(pushback_ms_ * factor)));
  return WithRetryDelay(ErrorWithReason(absl::StatusCode::kResourceExhausted, reason,
                                        absl::StrCat("server overloaded (", what, "); retry after ",
                                                     absl::ToInt64Milliseconds(pushback), " ms"),
                                        {{"limit", absl::StrCat(static_cast<int>(limit_))}}),
                        pushback);
}

absl::Status AdmissionController::RefuseWork(int64_t& counter, absl::string_view reason,
                                             absl::string_view what) {
  ++counter;
  last_shed_ = absl::Now();
  CountDecision(/*refused=*/true);
  return Overloaded(reason, what);
}

void AdmissionController::CountDecision(bool refused) {
  ++(refused ? window_refused_ : window_admitted_);
  if (window_refused_ + window_admitted_ < kPushbackWindow) return;
  // Refused callers come back at about (refusals / s) x (pushback) / (their wait); bring them
  // back at kRefusalsPerAdmission of the rate the lane admits: scale by refusals / (that share of
  // admissions), at most x2 or /2 a window (a window with no admission at all, e.g. a stalled
  // database, doubles it).
  const double factor =
      window_refused_ == 0 ? 0.5
                           : std::clamp(static_cast<double>(window_refused_) /
                                            (kRefusalsPerAdmission * std::max(1, window_admitted_)),
                                        0.5, 2.0);
  pushback_ms_ = std::clamp(pushback_ms_ * factor, absl::ToDoubleMilliseconds(options_.pushback),
                            absl::ToDoubleMilliseconds(options_.max_pushback));
  window_refused_ = 0;
  window_admitted_ = 0;
}

AdmissionController::Permit AdmissionController::Grant(AdmissionLane lane,
                                                       absl::string_view tenant) {
  Permit permit;
  permit.owner_ = this;
  permit.lane_ = lane;
  permit.tenant_ = std::string(tenant);
  permit.start_ = absl::Now();
  return permit;
}

absl::StatusOr<AdmissionController::Permit> AdmissionController::Admit(AdmissionLane lane,
                                                                       absl::string_view tenant,
                                                                       absl::Time deadline) {
  absl::StatusOr<std::variant<Permit, Ticket>> entered = Enter(lane, tenant, deadline);
  if (!entered.ok()) return entered.status();
  if (Permit* permit = std::get_if<Permit>(&*entered)) return std::move(*permit);
  return Await(std::move(std::get<Ticket>(*entered)));
}

AdmissionController::Ticket& AdmissionController::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Abandon();
    owner_ = std::exchange(other.owner_, nullptr);
    waiter_ = std::move(other.waiter_);
    until_ = other.until_;
    deadline_ = other.deadline_;
  }
  return *this;
}

AdmissionController::Ticket::~Ticket() { Abandon(); }

void AdmissionController::Ticket::Abandon() {
  if (owner_ == nullptr) return;
  AdmissionController* owner = std::exchange(owner_, nullptr);
  std::unique_ptr<Waiter> waiter = std::move(waiter_);
  {
    absl::MutexLock lock(&owner->mu_);
    if (!waiter->granted) {
      owner->Dequeue(std::find(owner->queue_.begin(), owner->queue_.end(), waiter.get()));
      owner->ForgetTenant(waiter->tenant);
      return;
    }
  }
  // Granted while nobody waited: the slot goes on to the next waiter (no latency sample).
  owner->Return(AdmissionLane::kWork, waiter->tenant, absl::ZeroDuration(), /*sample=*/false);
}

absl::StatusOr<std::variant<AdmissionController::Permit, AdmissionController::Ticket>>
AdmissionController::Enter(AdmissionLane lane, absl::string_view tenant, absl::Time deadline) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  if (deadline <= now) {
    ++stats_.dropped_deadline;
    if (lane == AdmissionLane::kWork) last_shed_ = now;
    return ErrorWithReason(absl::StatusCode::kDeadlineExceeded, "DEADLINE_EXPIRED",
                           "the deadline passed before the call was started");
  }
  if (lane == AdmissionLane::kPriority) {
    if (priority_in_flight_ >= options_.priority_limit) {
      ++stats_.refused_priority;
      return Overloaded("OVERLOADED", "priority lane full");
    }
    ++priority_in_flight_;
    ++stats_.admitted;
    return Grant(lane, tenant);
  }
  const int limit = static_cast<int>(limit_);
  // A deadline that cannot be met: the time a call takes here (the average of recent work-lane
  // calls), plus the wait behind the calls queued ahead of it, is more than the caller has left.
  // Refused now rather than answered late (the caller would see DEADLINE_EXCEEDED after we did
  // the work, and likely retry).
  // Only a call that would wait is judged: with a slot free the lane is not the bottleneck (and an
  // average inflated by an outage cannot lock callers out, since free slots bring new samples).
  if (service_ms_ > 0 && (in_flight_ >= limit || !queue_.empty())) {
    const int ahead = static_cast<int>(queue_.size()) + 1;
    const absl::Duration expected = absl::Milliseconds(
        kDeadlineMargin * service_ms_ * (1.0 + static_cast<double>(ahead) / std::max(1, limit)));
    if (now + expected > deadline) {
      return RefuseWork(stats_.refused_deadline, "OVERLOADED",
                        "the deadline cannot be met at the current latency");
    }
  }
  // A tenant over its share is refused only while others wait for the lane.
  auto tenant_it = per_tenant_.find(tenant);
  const int held = tenant_it == per_tenant_.end() ? 0 : tenant_it->second;
  if (held >= TenantCap() && (in_flight_ >= limit || !queue_.empty())) {
    return RefuseWork(stats_.refused_tenant, "TENANT_OVERLOADED",
                      "this tenant holds its share of the server");
  }
  if (in_flight_ < limit && queue_.empty()) {
    ++in_flight_;
    window_max_in_flight_ = std::max(window_max_in_flight_, in_flight_);
    ++per_tenant_[std::string(tenant)];
    ++stats_.admitted;
    CountDecision(/*refused=*/false);
    return Grant(lane, tenant);
  }
  if (static_cast<int>(queue_.size()) >= options_.queue) {
    return RefuseWork(stats_.refused_overloaded, "OVERLOADED", "work queue full");
  }
  // The longest this call may wait for a slot, and the wait it can expect behind the calls
  // queued ahead (a slot frees every service_ms_ / limit on average): when that is longer, it
  // is refused now rather than after waiting (a short-deadline caller meets a short queue, a
  // relay with seconds to spare may use all of it).
  absl::Duration may_wait = deadline == absl::InfiniteFuture()
                                ? options_.max_queue_wait
                                : std::min(options_.max_queue_wait, (deadline - now) * kQueueShare);
  // A standing queue is overload: a short wait, so that the calls it cannot take are refused
  // within milliseconds. Measured in the overload phase (400 callers, 100 ms deadlines): one
  // refusal in eight came after the full 25 ms wait, which set the refusals' p99 at the client.
  if (StandingQueue(now)) may_wait = std::min(may_wait, options_.standing_queue_wait);
  const double expected_wait_ms =
      service_ms_ * static_cast<double>(queue_.size() + 1) / std::max(1, limit);
  if (absl::Milliseconds(expected_wait_ms) > may_wait) {
    return RefuseWork(stats_.refused_deadline, "OVERLOADED",
                      "the queue is longer than this call may wait");
  }
  Ticket ticket;
  ticket.owner_ = this;
  ticket.waiter_ = std::make_unique<Waiter>();
  ticket.waiter_->tenant = std::string(tenant);
  ticket.until_ = now + may_wait;
  ticket.deadline_ = deadline;
  if (queue_.empty()) queue_busy_since_ = now;
  queue_.push_back(ticket.waiter_.get());
  ++per_tenant_[ticket.waiter_->tenant];
  return ticket;
}

absl::StatusOr<AdmissionController::Permit> AdmissionController::Await(Ticket ticket) {
  if (ticket.owner_ == nullptr) {
    return absl::FailedPreconditionError("Await: an empty or used admission ticket");
  }
  ticket.owner_ = nullptr;  // used up here: its destructor leaves the queue alone
  const std::unique_ptr<Waiter> waiter = std::move(ticket.waiter_);
  const absl::Time deadline = ticket.deadline_;
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithDeadline(absl::Condition(&waiter->granted), ticket.until_);
  if (waiter->granted) {
    ++stats_.admitted;
    CountDecision(/*refused=*/false);
    return Grant(AdmissionLane::kWork, waiter->tenant);
  }
  Dequeue(std::find(queue_.begin(), queue_.end(), waiter.get()));
  ForgetTenant(waiter->tenant);
  if (absl::Now() >= deadline) {
    ++stats_.dropped_deadline;
    last_shed_ = absl::Now();
    return ErrorWithReason(absl::StatusCode::kDeadlineExceeded, "DEADLINE_EXPIRED",
                           "the deadline passed while the call waited for a slot");
  }
  last_queue_timeout_ = absl::Now();
  return RefuseWork(stats_.refused_overloaded, "OVERLOADED", "waited too long for a slot");
}

void AdmissionController::ForgetTenant(const std::string& tenant) {
  if (auto it = per_tenant_.find(tenant); it != per_tenant_.end() && --it->second == 0) {
    per_tenant_.erase(it);
  }
}

void AdmissionController::Return(AdmissionLane lane, const std::string& tenant,
                                 absl::Duration latency, bool sample) {
  absl::MutexLock lock(&mu_);
  if (lane == AdmissionLane::kPriority) {
    --priority_in_flight_;
    return;
  }
  ForgetTenant(tenant);
  if (sample) {
    // The average service time over roughly the last 100 calls, for the deadline check.
    const double ms = absl::ToDoubleMilliseconds(latency);
    service_ms_ = service_ms_ == 0 ? ms : service_ms_ + (ms - service_ms_) * 0.01;
    Sample(latency);
  }
  // The slot passes straight to the oldest waiter (FIFO), unless the limit shrank meanwhile.
  if (!queue_.empty() && in_flight_ <= static_cast<int>(limit_)) {
    queue_.front()->granted = true;
    Dequeue(queue_.begin());
    window_max_in_flight_ = std::max(window_max_in_flight_, in_flight_);
    return;
  }
  --in_flight_;
}

bool AdmissionController::StandingQueue(absl::Time now) const {
  return (!queue_.empty() && now - queue_busy_since_ >= kStandingQueueInterval) ||
         now - last_queue_timeout_ < kStandingQueueInterval;
}

void AdmissionController::Dequeue(std::deque<Waiter*>::iterator it) {
  queue_.erase(it);
  if (queue_.empty()) queue_busy_since_ = absl::InfiniteFuture();
}

void AdmissionController::Sample(absl::Duration latency) {
  if (options_.algorithm != LimitAlgorithm::kGradient) return;
  window_sum_ms_ += absl::ToDoubleMilliseconds(latency);
  if (++window_count_ < kWindowSamples) return;
  const double short_rtt = std::max(0.001, window_sum_ms_ / window_count_);
  const int max_in_flight = window_max_in_flight_;
  window_sum_ms_ = 0;
  window_count_ = 0;
  window_max_in_flight_ = in_flight_;
  if (long_rtt_ms_ == 0) {
    long_rtt_ms_ = short_rtt;
    return;
  }
  long_rtt_ms_ += (short_rtt - long_rtt_ms_) * (kWindowSamples / kLongWindow);
  // After a long stretch of high latency the average drifts up; pull it back down quickly
  // once latency recovers (Gradient2Limit does the same).
  if (long_rtt_ms_ / short_rtt > 2) long_rtt_ms_ *= 0.95;
  // App-limited: the lane was not used up, so latency says nothing about the limit.
  if (max_in_flight < limit_ / 2) return;
  const double gradient = std::clamp(kTolerance * long_rtt_ms_ / short_rtt, 0.5, 1.0);
  const double grown = limit_ * gradient + std::sqrt(limit_);
  const double next = limit_ * (1 - kSmoothing) + grown * kSmoothing;
  limit_ = std::clamp(next, static_cast<double>(options_.min_limit),
                      static_cast<double>(options_.max_limit));
  stats_.limit = static_cast<int>(limit_);
}

AdmissionController::Stats AdmissionController::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s = stats_;
  s.limit = static_cast<int>(limit_);
  s.in_flight = in_flight_;
  s.queued = static_cast<int>(queue_.size());
  s.priority_in_flight = priority_in_flight_;
  s.pushback = absl::Milliseconds(pushback_ms_);
  s.standing_queue = StandingQueue(absl::Now());
  return s;
}

}  // namespace common

// Admission control (load shedding) shared by both services: bounded work in flight, a bounded
// queue in front of it, and everything beyond refused at once, before any database work.
// References: Google SRE book, "Handling Overload" and "Addressing Cascading Failures"; gRFC A6
// (server pushback); Netflix concurrency-limits (Gradient2Limit, AIMDLimit); the AWS Builders'
// Library, "Using load shedding to avoid overload".
//
// A call asks for a permit on one of two lanes:
//   kWork      the service's work (creates, cancels, lists, imports; payments' charges)
//   kPriority  what an operator needs to look while the work lane is full: reads of one order and
//              the admin RPCs. Its own small limit; it never waits for the work lane.
// (grpc.health.v1 is answered by gRPC itself, outside the handlers, and never waits here.)
//
// Refusals (absl::Status in the Google error model, see common/errors.h):
//   RESOURCE_EXHAUSTED, ErrorInfo reason OVERLOADED: the lane's limit and queue are full, or the
//     call may wait in the queue (Options::max_queue_wait, at most a quarter of the time its
//     caller has left, and Options::standing_queue_wait when the queue stands: not empty, or a
//     call's wait ended in vain, within kStandingQueueInterval) less than the wait it can expect
//     behind the calls queued ahead, or
//     waited that long, or its deadline cannot be met: less time left than 1.5 x (recent calls'
//     average time plus that expected wait);
//   RESOURCE_EXHAUSTED, reason TENANT_OVERLOADED: this tenant holds its share of the lane
//     (Options::tenant_share) while the lane is busy;
//   both carry a google.rpc.RetryInfo delay (the pushback); the gRPC layer also sends it as
//     trailing metadata `grpc-retry-pushback-ms` (see AddRetryPushback);
//   DEADLINE_EXCEEDED, reason DEADLINE_EXPIRED: the caller's deadline passed before a slot came
//     free; the work is dropped (the caller has gone, an answer would be waste).
//
// The pushback adapts to the storm (gRFC A6 leaves its value to the server; the AWS Builders'
// Library article asks for a delay that lets the refused come back at the rate the server can
// take them). A refused caller that honours it comes back once; the callers waiting out a
// pushback are about (refusals per second) x (pushback), so the delay that brings them back at
// the rate the work lane admits is pushback x refusals / admissions; the pushback aims at a
// quarter of that rate (kRefusalsPerAdmission). Every kPushbackWindow work-lane decisions it
// moves toward that (at most x2 or /2 a window), between
// Options::pushback and Options::max_pushback; a window without refusals halves it. Without
// this a fixed 100 ms let 400 callers send ~3,400 refusals a second, and answering them took
// the CPU the admitted calls needed (bench/overload_phase.sh).
// Nothing here touches gRPC or a database: the controller is a counter, a queue and a limit.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace common {

enum class AdmissionLane { kWork = 0, kPriority = 1 };

// How the work lane's limit is chosen.
enum class LimitAlgorithm {
  kFixed,     // Options::limit, always
  kGradient,  // Netflix Gradient2: the limit follows long-term / short-term latency
};

struct AdmissionOptions {
  LimitAlgorithm algorithm = LimitAlgorithm::kFixed;
  // Work lane: calls in flight (kFixed: always; kGradient: the start), and the adaptive bounds.
  int limit = 32;
  int min_limit = 4;
  int max_limit = 256;
  // Work lane: calls waiting for a slot at most; beyond, refused at once.
  int queue = 32;
  // The longest a call waits in the queue (also bounded by its own deadline).
  absl::Duration max_queue_wait = absl::Milliseconds(500);
  // The longest a call waits in a standing queue: one that has not been empty for
  // kStandingQueueInterval, or where a call waited its whole wait in vain within that interval
  // (controlled delay, CoDel, as Facebook's request queues use it: B. Maurer, "Fail at Scale",
  // ACM Queue 13(8), 2015). A queue that serves its calls absorbs bursts with the full wait; a
  // queue that does not is overload, where every wait that ends in a refusal is time the
  // refused caller loses and a thread the server holds.
  absl::Duration standing_queue_wait = absl::Milliseconds(1);
  // Priority lane: calls in flight at most (no queue: an operator's read either runs or is told).
  int priority_limit = 8;
  // With more than one tenant, one tenant may hold at most this share of the work lane's
  // limit + queue (at least 1 call); 1.0 turns it off.
  double tenant_share = 1.0;
  // The wait a refusal asks for (RetryInfo and grpc-retry-pushback-ms) when refusals are few;
  // it grows with the storm up to max_pushback (see the file comment). Jittered by +-25 %.
  absl::Duration pushback = absl::Milliseconds(100);
  absl::Duration max_pushback = absl::Seconds(5);
};

// A service's admission control as configured (common/admission_flags.h builds it from flags).
struct AdmissionConfig {
  bool enabled = true;  // false: every call is admitted (--admission=false)
  AdmissionOptions options;
  // The server's thread quota that goes with it (ServerConfig::max_threads): what admission can
  // hold, since each admitted or queued call holds a synchronous handler thread, plus room.
  int max_threads = 0;
  // Threads that can run every call admission holds at once (work lane at its largest limit,
  // its queue, the priority lane): the size of a service's worker pool for callback handlers.
  int worker_threads = 64;
};

// Work-lane decisions (admissions and refusals) between two updates of the pushback.
inline constexpr int kPushbackWindow = 128;

// The refusals per admission the pushback steers a storm toward. Every refusal costs the CPU
// the admitted calls need (on 2 cores, 11,000-17,000 refusals per 10 s storm at 1.0); one per
// four admissions is the SRE book's client-side throttling with K = 1.25 (requests = K x accepts),
// between its K = 2 and the "aggressive" K = 1.1. Measured against 1.0 in the overload phase
// (3 alternating pairs): 4,000-5,900 refusals instead of 11,400-17,000, goodput with payments
// slowed 0.86-1.01 instead of 0.77-0.93, the plain run 1.71-2.52 against 1.43-2.11.
inline constexpr double kRefusalsPerAdmission = 0.25;

// How long after its last shed call AdmissionController::Shedding() stays true: long enough to
// cover the gaps between refusals while refused callers wait out their pushback (100 ms at
// first), short enough that background work resumes within a second of the storm's end.
inline constexpr absl::Duration kSheddingMemory = absl::Seconds(1);

// A queue not empty for this long is a standing queue (see standing_queue_wait): CoDel's
// interval, as in "Fail at Scale" (100 ms), a few service times of a work-lane call.
inline constexpr absl::Duration kStandingQueueInterval = absl::Milliseconds(100);

// INVALID_ARGUMENT naming the field for limits < 1, min > max, a negative queue, a share outside
// (0, 1], or non-positive durations.
absl::Status ValidateAdmissionOptions(const AdmissionOptions& options);

// "fixed" or "gradient"; INVALID_ARGUMENT otherwise.
absl::StatusOr<LimitAlgorithm> ParseLimitAlgorithm(absl::string_view name);

class AdmissionController {
 private:
  struct Waiter;

 public:
  explicit AdmissionController(const AdmissionOptions& options);

  // A slot of a lane, held while the call runs; returned (and, on the work lane, its latency
  // sampled for the adaptive limit) on destruction. Move-only.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept { *this = std::move(other); }
    Permit& operator=(Permit&& other) noexcept;
    ~Permit() { Release(); }
    // Returns the slot now; `sample` false keeps this call out of the latency samples (e.g. it
    // failed before doing the work the limit measures).
    void Release(bool sample = true);

   private:
    friend class AdmissionController;
    AdmissionController* owner_ = nullptr;
    AdmissionLane lane_ = AdmissionLane::kWork;
    std::string tenant_;
    absl::Time start_;
  };

  // A place in the work lane's queue (Enter), to wait on with Await. Move-only; one destroyed
  // without Await leaves the queue, or hands back the slot it was granted meanwhile.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept { *this = std::move(other); }
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket();

   private:
    friend class AdmissionController;
    void Abandon();
    AdmissionController* owner_ = nullptr;
    std::unique_ptr<Waiter> waiter_;
    absl::Time until_, deadline_;
  };

  // Takes a slot of `lane` for `tenant`, waiting in the queue at most until
  // min(now + max_queue_wait, deadline) (Enter, then Await). Errors: see the header comment
  // (OVERLOADED, TENANT_OVERLOADED, DEADLINE_EXPIRED). `deadline` is the caller's
  // (InfiniteFuture: none).
  absl::StatusOr<Permit> Admit(AdmissionLane lane, absl::string_view tenant, absl::Time deadline);

  // The decision of Admit without its wait, for a thread that must not block (gRPC's callback
  // threads, which answer refusals at once): a Permit, a refusal (the same errors as Admit), or
  // a Ticket: the call is queued, and a thread that may block waits for its slot with Await.
  absl::StatusOr<std::variant<Permit, Ticket>> Enter(AdmissionLane lane, absl::string_view tenant,
                                                     absl::Time deadline);
  // Waits for a queued call's slot until its wait ends (see Admit); the ticket is used up.
  absl::StatusOr<Permit> Await(Ticket ticket);

  // Whether tenants are known to differ (--tokens): turns the per-tenant share on.
  void set_multi_tenant(bool on);

  // Whether the work lane shed load within the last kSheddingMemory: it refused a call, or met
  // one whose deadline had passed before it got a slot (the sign that calls wait in the server
  // before they reach us, where no refusal can tell their callers to back off). Read by the same
  // process's background work (the outbox relay) to yield the CPU and the database to callers
  // with deadlines (SRE book, "Handling Overload": the sheddable work goes first). Thread-safe.
  bool Shedding() const;

  // Whether the work lane is busy: at least half its limit in flight, or calls queued. Read by
  // the outbox relay to keep its drain of a backlog from taking the callers' CPU (it then
  // charges at most RelayOptions::busy_pace events per event written). Thread-safe.
  bool Busy() const;

  struct Stats {
    int limit = 0;  // the work lane's current limit
    int in_flight = 0, queued = 0, priority_in_flight = 0;
    int64_t admitted = 0;
    int64_t refused_overloaded = 0;  // reason OVERLOADED (full, or waited too long)
    int64_t refused_tenant = 0;      // reason TENANT_OVERLOADED
    int64_t refused_deadline = 0;    // OVERLOADED: the deadline could not be met (of the above,
                                     // not counted in refused_overloaded)
    int64_t dropped_deadline = 0;    // reason DEADLINE_EXPIRED (before or while queued)
    int64_t refused_priority = 0;    // OVERLOADED on the priority lane
    bool standing_queue = false;     // see AdmissionOptions::standing_queue_wait
    absl::Duration pushback;         // the pushback a refusal asks for now (before jitter)
  };
  Stats stats() const;

 private:
  struct Waiter {
    std::string tenant;
    bool granted = false;
  };
  void Return(AdmissionLane lane, const std::string& tenant, absl::Duration latency, bool sample);
  // One call of `tenant` fewer in flight or queued.
  void ForgetTenant(const std::string& tenant) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Sample(absl::Duration latency) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int TenantCap() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Overloaded(absl::string_view reason, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Permit Grant(AdmissionLane lane, absl::string_view tenant);
  // A work-lane refusal: counts it in `counter` and in the pushback's window.
  absl::Status RefuseWork(int64_t& counter, absl::string_view reason, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts a work-lane decision toward the pushback's window, and updates it when one is full.
  void CountDecision(bool refused) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AdmissionOptions options_;
  mutable absl::Mutex mu_;
  bool multi_tenant_ ABSL_GUARDED_BY(mu_) = false;
  double limit_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int priority_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Whether the queue is a standing one at `now` (see standing_queue_wait).
  bool StandingQueue(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the waiter at `it`, noting when the queue becomes empty.
  void Dequeue(std::deque<Waiter*>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::deque<Waiter*> queue_ ABSL_GUARDED_BY(mu_);
  // When the queue last went from empty to not empty (InfiniteFuture while it is empty).
  absl::Time queue_busy_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // When a queued call last waited its whole wait and was refused.
  absl::Time last_queue_timeout_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::map<std::string, int, std::less<>> per_tenant_ ABSL_GUARDED_BY(mu_);  // in flight + queued
  Stats stats_ ABSL_GUARDED_BY(mu_);
  // Gradient2 state: the long-term latency (exponential average) and this window's samples.
  double long_rtt_ms_ ABSL_GUARDED_BY(mu_) = 0;
  double window_sum_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int window_count_ ABSL_GUARDED_BY(mu_) = 0;
  int window_max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t jitter_state_ ABSL_GUARDED_BY(mu_) = 0x9e3779b97f4a7c15ull;
  double service_ms_ ABSL_GUARDED_BY(mu_) = 0;  // average work-lane call, in ms
  // The adaptive pushback (see the file comment) and its current window's decisions.
  double pushback_ms_ ABSL_GUARDED_BY(mu_);
  int window_admitted_ ABSL_GUARDED_BY(mu_) = 0;
  int window_refused_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_shed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace common

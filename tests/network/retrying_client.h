// A test client that behaves as a correct user of the order service: one idempotency key per
// logical order, reused on every retry; retries only what may succeed later (UNAVAILABLE,
// DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED and connection errors) with full-jitter backoff
// under an overall budget; never retries deterministic errors. Every attempt and the final outcome
// per key are recorded for the checker.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/bit_gen_ref.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace network_test {

// Final order states as the checker sees them (mirrors orders.v1.OrderStatus numbering).
enum class OrderState {
  kUnspecified = 0,
  kCreated = 1,
  kPaid = 2,
  kPaymentFailed = 3,
  kCancelled = 4
};
const char* OrderStateName(OrderState state);

struct PlannedItem {
  std::string sku;
  int64_t quantity = 1;
  int64_t unit_price_cents = 0;
};

// One logical order. The customer id must be unique per key (for example "c-<key>"): the checker
// maps the orders it reads back to keys through it.
struct PlannedOrder {
  std::string key;
  std::string customer_id;
  std::vector<PlannedItem> items;
  std::string currency = "USD";
  std::string payment_method = "pm_card_visa";
  // Cancel the order once its create is acknowledged (needs Options::cancel_call; see there).
  bool cancel = false;
  absl::Duration cancel_delay = absl::ZeroDuration();
  // The final status the checker expects; when unset it follows from the payment method and
  // the cancel (see ExpectedStates in checker.h).
  std::optional<OrderState> expect_status;

  int64_t amount_cents() const;
  std::string cancel_key() const { return key + ":cancel"; }
};

struct PlanOptions {
  std::string key_prefix = "k";
  double declined_fraction = 0.1;  // these use pm_card_declined
  double cancel_fraction = 0.0;    // these set cancel = true
  int max_items = 3;
  int64_t max_unit_price_cents = 5000;
};
// `count` orders with keys "<prefix>-<seed>-<i>", customers "c-<key>", seeded items and amounts.
std::vector<PlannedOrder> MakePlan(int count, uint64_t seed, const PlanOptions& options = {});

enum class Operation { kCreate, kCancel };
const char* OperationName(Operation op);

// What the client does after an attempt ended with this status.
enum class RetryDecision { kDone, kRetry, kFailDefinitely };
// Pure. OK -> kDone; UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED -> kRetry;
// UNKNOWN, INTERNAL, CANCELLED -> kRetry only when the message is a transport failure (the call
// may or may not have run, and a keyed retry is safe); everything else (INVALID_ARGUMENT,
// FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, UNAUTHENTICATED, ...) ->
// kFailDefinitely.
RetryDecision ClassifyStatus(grpc::StatusCode code, absl::string_view message);
// True for messages gRPC uses when the connection, not the server, failed the call.
bool IsConnectionFailureMessage(absl::string_view message);

// The result of one RPC attempt, as the retry loop needs it.
struct AttemptResult {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  std::string reason;  // ErrorInfo reason, when the server sent one
  int64_t order_id = 0;
  OrderState order_status = OrderState::kUnspecified;
  bool replayed = false;                      // response metadata idempotent-replayed: true
  std::optional<absl::Duration> retry_delay;  // RetryInfo, when the server sent one
};

struct AttemptRecord {
  std::string key;
  Operation op = Operation::kCreate;
  int attempt = 0;  // 1-based, continues across RetryUnknown
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  std::string reason;
  int64_t order_id = 0;  // when ok
  OrderState order_status = OrderState::kUnspecified;
  bool replayed = false;
  absl::Time start;
  absl::Time end;
};

enum class Outcome {
  kAcknowledged,      // got an order id
  kFailedDefinitely,  // a deterministic error: nothing should exist for this key
  kUnknown,           // the budget ran out on retryable errors: it may or may not exist
};
const char* OutcomeName(Outcome outcome);

struct KeyOutcome {
  std::string key;  // the planned order's key (also for cancels)
  Operation op = Operation::kCreate;
  Outcome outcome = Outcome::kUnknown;
  int attempts = 0;
  int failed_attempts = 0;  // attempts that did not succeed
  int64_t order_id = 0;
  OrderState order_status = OrderState::kUnspecified;
  grpc::StatusCode final_code = grpc::StatusCode::OK;
  std::string final_reason;
};

// Everything the client did, for the checker.
struct ClientRecords {
  std::vector<PlannedOrder> planned;
  std::vector<AttemptRecord> attempts;
  std::map<std::string, KeyOutcome> creates;  // by key
  std::map<std::string, KeyOutcome> cancels;  // by the planned order's key
};

struct RetryPolicy {
  common::BackoffPolicy backoff{absl::Milliseconds(20), absl::Milliseconds(500), 2.0};
  absl::Duration attempt_timeout = absl::Seconds(2);  // each attempt's deadline
  absl::Duration budget = absl::Seconds(20);          // all attempts of one operation
  int max_attempts = 200;
};

// Injectable time, so the retry loop is testable without sleeping.
struct Clock {
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
  static Clock Real();
};

// The retry loop, pure apart from `call` and `clock`: attempts `call` until it succeeds, fails
// definitely, or the budget or attempt limit runs out (-> kUnknown). Between attempts it sleeps
// a full-jitter backoff (common::FullJitterBackoff), at least the server's RetryInfo delay, never
// past the budget. `first_attempt` continues the numbering of earlier runs for the key.
// Appends one AttemptRecord per attempt to `attempts`.
KeyOutcome RunWithRetries(
    const RetryPolicy& policy, const std::string& key, Operation op,
    const std::function<AttemptResult(int attempt, absl::Duration timeout)>& call,
    absl::BitGenRef gen, const Clock& clock, std::vector<AttemptRecord>* attempts,
    int first_attempt = 1);

// Turns a finished call into an AttemptResult: code, message, ErrorInfo reason, RetryInfo delay,
// and the idempotent-replayed response metadata.
AttemptResult ResultFromCall(const grpc::Status& status, const grpc::ClientContext& context);

// Sees the load of RetryingClient::Run (not RetryUnknown) order by order, so that a scenario can
// trigger its faults by progress rather than by the clock, and count what ran while they held.
class LoadObserver {
 public:
  virtual ~LoadObserver() = default;
  virtual void OrderStarted() = 0;
  // The order's create (and cancel, when planned) is over.
  virtual void OrderFinished(bool acknowledged) = 0;
};

class RetryingClient {
 public:
  // Extension point for CancelOrder, which orders.v1 does not have yet: performs one attempt of
  // the cancel RPC on `channel` with `context` (deadline and idempotency-key already set) and
  // returns its result. When unset, planned cancels are skipped.
  using CancelCall = std::function<AttemptResult(const std::shared_ptr<grpc::Channel>& channel,
                                                 grpc::ClientContext* context, int64_t order_id)>;

  struct Options {
    std::string target;  // host:port of the order service (usually a fault proxy)
    RetryPolicy policy;
    int threads = 4;
    uint64_t seed = 1;
    std::string bearer_token;
    // A worker builds a fresh channel after this many transient failures in a row (a channel
    // stuck on a blackholed connection otherwise never notices).
    int new_channel_after_failures = 2;
    CancelCall cancel_call;
    LoadObserver* observer = nullptr;  // not owned; outlives the client's runs
  };

  explicit RetryingClient(Options options);

  // Runs every planned order through `threads` workers; returns when all are done. Records
  // accumulate over calls.
  void Run(const std::vector<PlannedOrder>& plan);
  // Runs the creates whose outcome is unknown again with the same keys (a user who keeps
  // retrying once the network heals), continuing their attempt numbers, with a fresh `budget`.
  void RetryUnknown(absl::Duration budget);

  ClientRecords records() const;

 private:
  // Returns whether the create was acknowledged.
  bool RunOne(const PlannedOrder& order, int worker, std::shared_ptr<grpc::Channel>* channel,
              int* transient_streak, absl::BitGenRef gen, const RetryPolicy& policy);
  std::shared_ptr<grpc::Channel> NewChannel(int worker);
  void RunParallel(const std::vector<PlannedOrder>& plan, const RetryPolicy& policy,
                   LoadObserver* observer);

  const Options options_;
  mutable absl::Mutex mu_;
  ClientRecords records_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> next_attempt_ ABSL_GUARDED_BY(mu_);  // by key ("key" / cancel key)
  int channel_generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);  // by worker
  uint64_t runs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace network_test

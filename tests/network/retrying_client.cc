#include "tests/network/retrying_client.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/client_context.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "common/status_mapper.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "orders/v1/orders.grpc.pb.h"

namespace network_test {

const char* OrderStateName(OrderState state) {
  switch (state) {
    case OrderState::kUnspecified:
      return "UNSPECIFIED";
    case OrderState::kCreated:
      return "CREATED";
    case OrderState::kPaid:
      return "PAID";
    case OrderState::kPaymentFailed:
      return "PAYMENT_FAILED";
    case OrderState::kCancelled:
      return "CANCELLED";
  }
  return "?";
}

const char* OperationName(Operation op) { return op == Operation::kCreate ? "create" : "cancel"; }

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kAcknowledged:
      return "acknowledged";
    case Outcome::kFailedDefinitely:
      return "failed_definitely";
    case Outcome::kUnknown:
      return "unknown";
  }
  return "?";
}

int64_t PlannedOrder::amount_cents() const {
  int64_t total = 0;
  for (const PlannedItem& item : items) total += item.quantity * item.unit_price_cents;
  return total;
}

std::vector<PlannedOrder> MakePlan(int count, uint64_t seed, const PlanOptions& options) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> item_count(1, std::max(1, options.max_items));
  std::uniform_int_distribution<int64_t> quantity(1, 3);
  std::uniform_int_distribution<int64_t> price(
      100, std::max<int64_t>(100, options.max_unit_price_cents));
  std::uniform_int_distribution<int> sku(1, 50);
  std::vector<PlannedOrder> plan;
  plan.reserve(count);
  for (int i = 0; i < count; ++i) {
    PlannedOrder order;
    order.key = absl::StrCat(options.key_prefix, "-", seed, "-", i);
    order.customer_id = absl::StrCat("c-", order.key);
    const int n = item_count(gen);
    for (int j = 0; j < n; ++j) {
      order.items.push_back(PlannedItem{absl::StrCat("sku-", sku(gen)), quantity(gen), price(gen)});
    }
    order.payment_method =
        unit(gen) < options.declined_fraction ? "pm_card_declined" : "pm_card_visa";
    order.cancel = unit(gen) < options.cancel_fraction;
    plan.push_back(std::move(order));
  }
  return plan;
}

bool IsConnectionFailureMessage(absl::string_view message) {
  static constexpr absl::string_view kMarkers[] = {
      "socket closed",
      "connection reset",
      "broken pipe",
      "stream removed",
      "failed to connect",
      "connection refused",
      "goaway",
      "keepalive",
      "transport closed",
      "connection attempt timed out",
      "rst_stream",
      "endpoint read failed",
      "endpoint closing",
      "connection closed",
      "stream closed",
      "failed to pick subchannel",
      "channel shutdown",
      "fd shutdown",
  };
  const std::string lower = absl::AsciiStrToLower(message);
  for (absl::string_view marker : kMarkers) {
    if (absl::StrContains(lower, marker)) return true;
  }
  return false;
}

RetryDecision ClassifyStatus(grpc::StatusCode code, absl::string_view message) {
  switch (code) {
    case grpc::StatusCode::OK:
      return RetryDecision::kDone;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return RetryDecision::kRetry;
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::CANCELLED:
      return IsConnectionFailureMessage(message) ? RetryDecision::kRetry
                                                 : RetryDecision::kFailDefinitely;
    default:
      return RetryDecision::kFailDefinitely;
  }
}

Clock Clock::Real() {
  return Clock{[] { return absl::Now(); }, [](absl::Duration d) { absl::SleepFor(d); }};
}

KeyOutcome RunWithRetries(
    const RetryPolicy& policy, const std::string& key, Operation op,
    const std::function<AttemptResult(int attempt, absl::Duration timeout)>& call,
    absl::BitGenRef gen, const Clock& clock, std::vector<AttemptRecord>* attempts,
    int first_attempt) {
  KeyOutcome out;
  out.key = key;
  out.op = op;
  out.outcome = Outcome::kUnknown;
  const absl::Time deadline = clock.now() + policy.budget;
  for (int n = 1; n <= policy.max_attempts; ++n) {
    const absl::Time start = clock.now();
    const absl::Duration remaining = deadline - start;
    if (remaining <= absl::ZeroDuration()) break;
    const int attempt = first_attempt + n - 1;
    AttemptResult result = call(attempt, std::min(policy.attempt_timeout, remaining));
    AttemptRecord record;
    record.key = key;
    record.op = op;
    record.attempt = attempt;
    record.code = result.code;
    record.message = result.message;
    record.reason = result.reason;
    record.order_id = result.order_id;
    record.order_status = result.order_status;
    record.replayed = result.replayed;
    record.start = start;
    record.end = clock.now();
    attempts->push_back(std::move(record));

    out.attempts++;
    out.final_code = result.code;
    out.final_reason = result.reason;
    const RetryDecision decision = ClassifyStatus(result.code, result.message);
    if (decision == RetryDecision::kDone) {
      out.outcome = Outcome::kAcknowledged;
      out.order_id = result.order_id;
      out.order_status = result.order_status;
      return out;
    }
    out.failed_attempts++;
    if (decision == RetryDecision::kFailDefinitely) {
      out.outcome = Outcome::kFailedDefinitely;
      return out;
    }
    if (n == policy.max_attempts) break;
    absl::Duration delay = common::FullJitterBackoff(policy.backoff, n, gen);
    if (result.retry_delay) delay = std::max(delay, *result.retry_delay);
    const absl::Duration left = deadline - clock.now();
    if (left <= absl::ZeroDuration()) break;
    clock.sleep(std::min(delay, left));
  }
  out.outcome = Outcome::kUnknown;
  return out;
}

AttemptResult ResultFromCall(const grpc::Status& status, const grpc::ClientContext& context) {
  AttemptResult result;
  result.code = status.error_code();
  result.message = status.error_message();
  auto has_replay_mark = [](const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
    auto it = md.find(common::kReplayedHeader);
    return it != md.end() && absl::string_view(it->second.data(), it->second.size()) == "true";
  };
  if (status.ok()) {
    // A completed blocking unary call has received its initial metadata.
    result.replayed = has_replay_mark(context.GetServerInitialMetadata()) ||
                      has_replay_mark(context.GetServerTrailingMetadata());
    return result;
  }
  const absl::Status detailed = common::FromGrpcStatus(status);
  if (auto reason = common::ErrorReason(detailed)) result.reason = *reason;
  if (auto payload = detailed.GetPayload(common::kRetryInfoUrl)) {
    google::rpc::RetryInfo info;
    if (info.ParseFromString(std::string(*payload)) && info.has_retry_delay()) {
      result.retry_delay = absl::Seconds(info.retry_delay().seconds()) +
                           absl::Nanoseconds(info.retry_delay().nanos());
    }
  }
  return result;
}

RetryingClient::RetryingClient(Options options) : options_(std::move(options)) {}

std::shared_ptr<grpc::Channel> RetryingClient::NewChannel(int worker) {
  grpc::ChannelArguments args;
  // Each worker has its own connection (so per-connection faults spread over them), reconnects
  // quickly after a reset, and makes every attempt itself (no hidden transparent retries).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // gRPC also takes GRPC_ARG_MIN_RECONNECT_BACKOFF_MS as the minimum connect timeout (at
  // least 100 ms): at 50 it gave a TCP + HTTP/2 handshake 100 ms, which a hop with ~50 ms of
  // latency each way never finishes. Reconnect soon (initial backoff), but give the handshake
  // a second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  int generation = 0;
  {
    absl::MutexLock lock(&mu_);
    generation = ++channel_generation_;
  }
  args.SetString("network_test.channel", absl::StrCat(worker, "/", generation));
  return grpc::CreateCustomChannel(options_.target, grpc::InsecureChannelCredentials(), args);
}

bool RetryingClient::RunOne(const PlannedOrder& order, int worker,
                            std::shared_ptr<grpc::Channel>* channel, int* transient_streak,
                            absl::BitGenRef gen, const RetryPolicy& policy) {
  // Counts transient failures in a row and swaps the channel after too many.
  auto note = [&](const AttemptResult& r) {
    if (ClassifyStatus(r.code, r.message) == RetryDecision::kRetry) {
      if (++*transient_streak >= options_.new_channel_after_failures) {
        *channel = NewChannel(worker);
        *transient_streak = 0;
      }
    } else {
      *transient_streak = 0;
    }
  };

  auto create = [&](int /*attempt*/, absl::Duration timeout) {
    common::CallOptions call_options;
    call_options.timeout = timeout;
    call_options.idempotency_key = order.key;
    call_options.bearer_token = options_.bearer_token;
    auto context = common::NewClientContext(call_options);
    orders::v1::CreateOrderRequest request;
    request.set_customer_id(order.customer_id);
    request.set_currency(order.currency);
    request.set_payment_method(order.payment_method);
    for (const PlannedItem& item : order.items) {
      orders::v1::LineItem* line = request.add_items();
      line->set_sku(item.sku);
      line->set_quantity(item.quantity);
      line->set_unit_price_cents(item.unit_price_cents);
    }
    orders::v1::CreateOrderResponse response;
    auto stub = orders::v1::OrderService::NewStub(*channel);
    grpc::Status status = stub->CreateOrder(context.get(), request, &response);
    AttemptResult result = ResultFromCall(status, *context);
    if (status.ok()) {
      result.order_id = response.order().id();
      result.order_status = static_cast<OrderState>(response.order().status());
    }
    note(result);
    return result;
  };

  int first = 1;
  {
    absl::MutexLock lock(&mu_);
    first = next_attempt_[order.key] + 1;
  }
  std::vector<AttemptRecord> attempts;
  KeyOutcome created = RunWithRetries(policy, order.key, Operation::kCreate, create, gen,
                                      Clock::Real(), &attempts, first);
  {
    absl::MutexLock lock(&mu_);
    next_attempt_[order.key] = first + created.attempts - 1;
    for (auto& a : attempts) records_.attempts.push_back(std::move(a));
    // A later run for the same key (RetryUnknown) adds to the earlier one. So does a concurrent
    // run of the same planned order (a plan may list a key twice: concurrent same-key requests);
    // then an acknowledgement, once seen, stands (the key's order exists) whatever the other
    // run ended with.
    if (auto it = records_.creates.find(order.key); it != records_.creates.end()) {
      created.attempts += it->second.attempts;
      created.failed_attempts += it->second.failed_attempts;
      if (it->second.outcome == Outcome::kAcknowledged &&
          created.outcome != Outcome::kAcknowledged) {
        const int attempts = created.attempts, failed = created.failed_attempts;
        created = it->second;
        created.attempts = attempts;
        created.failed_attempts = failed;
      }
    }
    records_.creates[order.key] = created;
  }
  const bool acknowledged = created.outcome == Outcome::kAcknowledged;
  if (!order.cancel || !acknowledged || !options_.cancel_call) return acknowledged;

  // Cancel: its own key, derived from the order's, reused on every retry.
  if (order.cancel_delay > absl::ZeroDuration()) absl::SleepFor(order.cancel_delay);
  const std::string cancel_key = order.cancel_key();
  auto cancel = [&](int /*attempt*/, absl::Duration timeout) {
    common::CallOptions call_options;
    call_options.timeout = timeout;
    call_options.idempotency_key = cancel_key;
    call_options.bearer_token = options_.bearer_token;
    auto context = common::NewClientContext(call_options);
    AttemptResult result = options_.cancel_call(*channel, context.get(), created.order_id);
    note(result);
    return result;
  };
  {
    absl::MutexLock lock(&mu_);
    first = next_attempt_[cancel_key] + 1;
  }
  attempts.clear();
  KeyOutcome cancelled = RunWithRetries(policy, order.key, Operation::kCancel, cancel, gen,
                                        Clock::Real(), &attempts, first);
  absl::MutexLock lock(&mu_);
  next_attempt_[cancel_key] = first + cancelled.attempts - 1;
  for (auto& a : attempts) records_.attempts.push_back(std::move(a));
  records_.cancels[order.key] = cancelled;
  return acknowledged;
}

void RetryingClient::RunParallel(const std::vector<PlannedOrder>& plan, const RetryPolicy& policy,
                                 LoadObserver* observer) {
  uint64_t run = 0;
  {
    absl::MutexLock lock(&mu_);
    run = runs_++;
  }
  std::atomic<size_t> next{0};
  const int threads = std::max(1, std::min<int>(options_.threads, static_cast<int>(plan.size())));
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937_64 gen(options_.seed * 1000003 + run * 7919 + static_cast<uint64_t>(w));
      // A worker keeps its channel (and so its connection) across runs, as a real client does.
      std::shared_ptr<grpc::Channel> channel;
      {
        absl::MutexLock lock(&mu_);
        channel = channels_[w];
      }
      if (channel == nullptr) channel = NewChannel(w);
      int streak = 0;
      while (true) {
        const size_t i = next.fetch_add(1);
        if (i >= plan.size()) break;
        if (observer == nullptr) {
          RunOne(plan[i], w, &channel, &streak, gen, policy);
          continue;
        }
        observer->OrderStarted();
        observer->OrderFinished(RunOne(plan[i], w, &channel, &streak, gen, policy));
      }
      absl::MutexLock lock(&mu_);
      channels_[w] = channel;
    });
  }
  for (auto& t : workers) t.join();
}

void RetryingClient::Run(const std::vector<PlannedOrder>& plan) {
  {
    absl::MutexLock lock(&mu_);
    records_.planned.insert(records_.planned.end(), plan.begin(), plan.end());
  }
  RunParallel(plan, options_.policy, options_.observer);
}

void RetryingClient::RetryUnknown(absl::Duration budget) {
  std::vector<PlannedOrder> again;
  {
    absl::MutexLock lock(&mu_);
    for (const PlannedOrder& order : records_.planned) {
      auto it = records_.creates.find(order.key);
      if (it != records_.creates.end() && it->second.outcome == Outcome::kUnknown) {
        again.push_back(order);
      }
    }
  }
  if (again.empty()) return;
  RetryPolicy policy = options_.policy;
  policy.budget = budget;
  RunParallel(again, policy, nullptr);
}

ClientRecords RetryingClient::records() const {
  absl::MutexLock lock(&mu_);
  return records_;
}

}  // namespace network_test

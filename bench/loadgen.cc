// loadgen: a gRPC load generator for order_service and payment_service.
//
// Asynchronous: one CompletionQueue and one polling thread per channel, never a thread per
// request. Two ways to drive the load:
//   closed loop (--concurrency=N): N calls in flight; each completion starts the next one.
//   open loop (--rate=R): calls are scheduled at fixed times, i / R after the start, and their
//     latency is measured from the scheduled time, so a slow reply cannot hide the queueing it
//     causes (no coordinated omission).
// Every phase is bounded by --duration; --count bounds it further. Every call has a deadline.
//
// Scenarios:
//   create  new idempotency keys, one new order each
//   replay  the same requests as keys created in a prepare phase: every answer is a replay
//   mixed   weighted mix (--mix) of create, replay and GetOrder
//   cancel  CancelOrder of orders created in a prepare phase, one new key each
//   charge  payments.v1.PaymentService/Charge with new keys (the direct Charge rate)
//
// Prints a human table, then one `name=value` line per figure.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/client_context.h"
#include "common/idempotency.h"
#include "common/latency_histogram.h"
#include "grpcpp/alarm.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "orders/v1/orders.grpc.pb.h"
#include "payments/v1/payments.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "service address (loopback only); the payment service for --scenario=charge");
ABSL_FLAG(std::string, scenario, "create", "create, replay, mixed, cancel or charge");
ABSL_FLAG(int, concurrency, 32, "closed loop: calls in flight (ignored when --rate is set)");
ABSL_FLAG(double, rate, 0,
          "open loop: calls per second, scheduled at fixed times (0: closed loop)");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "bound of the measured phase (always applies, also with --count)");
ABSL_FLAG(int64_t, count, 0, "stop after this many calls (0: --duration only)");
ABSL_FLAG(absl::Duration, warmup, absl::ZeroDuration(),
          "unmeasured load of the same scenario before the measured phase");
ABSL_FLAG(int64_t, keys, 1000,
          "replay, mixed, cancel: orders created in the prepare phase (keys <prefix>-0..keys-1)");
ABSL_FLAG(bool, prepare, true,
          "create the --keys orders before measuring; false: they exist from an earlier run with "
          "the same --key_prefix (replay only)");
ABSL_FLAG(int, prepare_concurrency, 16, "calls in flight during the prepare phase");
ABSL_FLAG(std::string, key_prefix, "",
          "idempotency keys are <prefix>-<n>; empty: unique to this run");
ABSL_FLAG(int64_t, first_index, -1,
          "create: first key index of new orders (-1: just after the prepared keys)");
ABSL_FLAG(std::string, mix, "create=50,replay=40,get=10", "mixed: weights of create, replay, get");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5), "deadline of each call");
ABSL_FLAG(int, channels, 2, "HTTP/2 connections, each with its own completion queue and thread");
ABSL_FLAG(int, max_in_flight, 20000, "open loop: calls in flight at most (the sender waits)");
ABSL_FLAG(int, items, 3, "line items per order");
ABSL_FLAG(std::string, payment_method, "pm_card_visa", "payment method of every order or charge");
ABSL_FLAG(std::string, token, "", "bearer token, when the service checks tokens");
ABSL_FLAG(bool, table, true, "print the human table before the name=value lines");
ABSL_FLAG(bool, pushback, true,
          "closed loop: after a RESOURCE_EXHAUSTED carrying grpc-retry-pushback-ms, that caller "
          "waits that long before its next call (as our client library does); false: at once");
ABSL_FLAG(absl::Duration, probe_interval, absl::ZeroDuration(),
          "during the measured phase, a GetOrder probe of --probe_order_id this often on a "
          "connection of its own (0: none); a probe fails unless it is answered OK in time");
ABSL_FLAG(absl::Duration, probe_timeout, absl::Milliseconds(250), "deadline of each probe");
ABSL_FLAG(int64_t, probe_order_id, 1, "the order the probes read");
ABSL_FLAG(bool, outbox_stats, false,
          "only print orders.v1.OutboxAdmin/GetOutboxStats of --target as name=value lines");

namespace {

using orders::v1::CancelOrderRequest;
using orders::v1::CancelOrderResponse;
using orders::v1::CreateOrderRequest;
using orders::v1::CreateOrderResponse;
using orders::v1::GetOrderRequest;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "loadgen: %s\n", message.c_str());
  std::exit(2);
}

// Only loopback targets: this tool must never load anything but a local service.
bool IsLoopback(absl::string_view target) {
  absl::ConsumePrefix(&target, "dns:///");
  absl::ConsumePrefix(&target, "ipv4:");
  absl::ConsumePrefix(&target, "ipv6:");
  if (absl::StartsWith(target, "unix:")) return true;
  return absl::StartsWith(target, "127.") || absl::StartsWith(target, "localhost:") ||
         absl::StartsWith(target, "[::1]:");
}

enum class Op { kCreate, kReplay, kGet, kCancel, kCharge };
constexpr int kOps = 5;
constexpr const char* kOpNames[kOps] = {"create", "replay", "get", "cancel", "charge"};

// The body of order `index`: a deterministic function of the index, so a replay sends exactly
// the bytes of the first request (the fingerprint covers the body).
CreateOrderRequest OrderBody(int64_t index, int items, const std::string& payment_method) {
  CreateOrderRequest request;
  request.set_customer_id(absl::StrCat("cust-", index % 997));
  request.set_currency("USD");
  request.set_payment_method(payment_method);
  for (int k = 0; k < items; ++k) {
    auto* item = request.add_items();
    item->set_sku(absl::StrCat("sku-", (index + k) % 50));
    item->set_quantity(1 + (index + k) % 3);
    item->set_unit_price_cents(100 + (index * 7 + k) % 900);
  }
  return request;
}

// Counters of one phase. Written by the completion threads, read once the phase is over.
struct PhaseStats {
  common::LatencyHistogram latency;  // closed loop: from send; open loop: from scheduled time
  common::LatencyHistogram service;  // from the actual send, in both modes
  common::LatencyHistogram refused;  // RESOURCE_EXHAUSTED answers, from the actual send
  std::atomic<int64_t> refused_with_pushback{0};  // of those, with grpc-retry-pushback-ms
  std::atomic<int64_t> probes{0}, probe_failures{0};
  common::LatencyHistogram probe_latency;
  std::array<std::atomic<int64_t>, 17> codes{};
  std::array<std::atomic<int64_t>, kOps> ops{};
  std::atomic<int64_t> completed{0};
  std::atomic<int64_t> replayed{0};
  std::atomic<int64_t> last_completion_us{0};
  std::atomic<int64_t> max_send_lag_us{0};
  absl::Time start;
  absl::Duration elapsed;  // start -> last completion

  int64_t ok() const { return codes[0].load(); }
};

void AtomicMax(std::atomic<int64_t>& slot, int64_t value) {
  int64_t prev = slot.load(std::memory_order_relaxed);
  while (value > prev && !slot.compare_exchange_weak(prev, value, std::memory_order_relaxed)) {
  }
}

struct Call {
  virtual ~Call() = default;
  std::unique_ptr<grpc::ClientContext> context;
  grpc::Status status;
  Op op = Op::kCreate;
  int64_t index = 0;
  grpc::CompletionQueue* cq = nullptr;  // where its completion (or its caller's pause) arrives
  absl::Time scheduled, sent;
  virtual int64_t OrderId() const { return 0; }
  virtual bool IsPause() const { return false; }
};

// A closed-loop caller waiting out a server's pushback: its alarm fires on the completion queue.
struct Pause : Call {
  grpc::Alarm alarm;
  bool IsPause() const override { return true; }
};

template <typename Response>
struct TypedCall : Call {
  Response response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
  int64_t OrderId() const override {
    if constexpr (std::is_same_v<Response, CreateOrderResponse> ||
                  std::is_same_v<Response, CancelOrderResponse>) {
      return response.order().id();
    } else if constexpr (std::is_same_v<Response, orders::v1::Order>) {
      return response.id();
    } else {
      return 0;
    }
  }
};

struct PhaseConfig {
  std::string name;
  bool measured = true;
  bool prepare = false;  // creates keys 0..keys-1 in order and keeps their order ids
  double rate = 0;       // > 0: open loop
  int concurrency = 1;
  absl::Duration duration;
  int64_t count = 0;  // 0: unbounded
};

class LoadGen {
 public:
  LoadGen() {
    scenario_ = absl::GetFlag(FLAGS_scenario);
    if (scenario_ != "create" && scenario_ != "replay" && scenario_ != "mixed" &&
        scenario_ != "cancel" && scenario_ != "charge") {
      Die("--scenario must be create, replay, mixed, cancel or charge");
    }
    prefix_ = absl::GetFlag(FLAGS_key_prefix);
    if (prefix_.empty()) {
      prefix_ = absl::StrCat("lg", getpid(), "x", absl::ToUnixMicros(absl::Now()));
    }
    keys_ = std::max<int64_t>(1, absl::GetFlag(FLAGS_keys));
    items_ = std::max(1, absl::GetFlag(FLAGS_items));
    payment_method_ = absl::GetFlag(FLAGS_payment_method);
    token_ = absl::GetFlag(FLAGS_token);
    timeout_ = absl::GetFlag(FLAGS_timeout);
    ParseMix(absl::GetFlag(FLAGS_mix));

    const std::string target = absl::GetFlag(FLAGS_target);
    if (!IsLoopback(target)) Die("--target must be a loopback address (127.x, localhost, [::1])");
    const int channels = std::max(1, absl::GetFlag(FLAGS_channels));
    for (int i = 0; i < channels; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("loadgen.channel", i);  // distinct arguments: a connection of its own
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
      if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
        Die(absl::StrCat("cannot connect to ", target));
      }
      Lane lane;
      lane.orders = orders::v1::OrderService::NewStub(channel);
      lane.payments = payments::v1::PaymentService::NewStub(channel);
      lane.cq = std::make_unique<grpc::CompletionQueue>();
      lanes_.push_back(std::move(lane));
    }
    for (auto& lane : lanes_) {
      lane.thread = std::thread([this, cq = lane.cq.get()] { Poll(cq); });
    }
  }

  ~LoadGen() {
    for (auto& lane : lanes_) lane.cq->Shutdown();
    for (auto& lane : lanes_) lane.thread.join();
  }

  const std::string& scenario() const { return scenario_; }
  const std::string& prefix() const { return prefix_; }
  int64_t keys() const { return keys_; }
  int64_t prepared_ok() const { return prepared_ok_.load(); }
  void set_next_new(int64_t index) { next_new_ = index; }

  // Runs one phase to its end (and the end of every call it started).
  std::unique_ptr<PhaseStats> Run(const PhaseConfig& config) {
    auto stats = std::make_unique<PhaseStats>();
    config_ = config;
    stats_ = stats.get();
    issued_ = 0;
    prepare_cursor_ = 0;
    if (config.prepare) prepared_ids_.assign(keys_, 0);
    stop_ = false;
    const absl::Time start = absl::Now();
    stats->start = start;
    end_ = start + config.duration;
    if (config.rate > 0) {
      RunOpenLoop(start);
    } else {
      const int n = config.count > 0
                        ? static_cast<int>(std::min<int64_t>(config.concurrency, config.count))
                        : config.concurrency;
      for (int i = 0; i < n; ++i) {
        if (!Reserve()) break;
        Launch(absl::Now());
      }
    }
    std::thread prober;
    if (config.measured && absl::GetFlag(FLAGS_probe_interval) > absl::ZeroDuration()) {
      prober = std::thread([this, stats = stats.get()] { Probe(*stats); });
    }
    // Calls end by their deadline at the latest.
    while (in_flight_.load() > 0) absl::SleepFor(absl::Milliseconds(1));
    if (prober.joinable()) prober.join();
    const int64_t last = stats->last_completion_us.load();
    stats->elapsed = last > 0 ? absl::FromUnixMicros(last) - start : absl::Now() - start;
    stats_ = nullptr;
    return stats;
  }

 private:
  struct Lane {
    std::unique_ptr<orders::v1::OrderService::Stub> orders;
    std::unique_ptr<payments::v1::PaymentService::Stub> payments;
    std::unique_ptr<grpc::CompletionQueue> cq;
    std::thread thread;
  };

  // GetOrder probes until the phase ends, each on its own schedule (i * interval after the
  // start), on a connection the load does not use: what an operator's read sees.
  void Probe(PhaseStats& stats) {
    const absl::Duration interval = absl::GetFlag(FLAGS_probe_interval);
    grpc::ChannelArguments args;
    args.SetInt("loadgen.probe", 1);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto stub = orders::v1::OrderService::NewStub(grpc::CreateCustomChannel(
        absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials(), args));
    GetOrderRequest request;
    request.set_id(absl::GetFlag(FLAGS_probe_order_id));
    const absl::Time start = absl::Now();
    for (int64_t i = 0;; ++i) {
      const absl::Time at = start + interval * i;
      if (at >= end_) break;
      if (at > absl::Now()) absl::SleepFor(at - absl::Now());
      auto context = common::NewClientContext(
          {.timeout = absl::GetFlag(FLAGS_probe_timeout), .bearer_token = token_});
      orders::v1::Order order;
      const absl::Time sent = absl::Now();
      const grpc::Status status = stub->GetOrder(context.get(), request, &order);
      stats.probe_latency.Record(absl::Now() - sent);
      ++stats.probes;
      if (!status.ok()) {
        ++stats.probe_failures;
        std::fprintf(stderr, "loadgen: probe failed after %.1f ms: %s %s\n",
                     absl::ToDoubleMilliseconds(absl::Now() - sent),
                     std::to_string(status.error_code()).c_str(), status.error_message().c_str());
      }
    }
  }

  void ParseMix(const std::string& mix) {
    mix_ = {0, 0, 0};
    for (absl::string_view part : absl::StrSplit(mix, ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(part, '=');
      int weight = 0;
      if (!absl::SimpleAtoi(kv.second, &weight) || weight < 0) Die("--mix: bad weight");
      if (kv.first == "create")
        mix_[0] = weight;
      else if (kv.first == "replay")
        mix_[1] = weight;
      else if (kv.first == "get")
        mix_[2] = weight;
      else
        Die("--mix: names are create, replay, get");
    }
    if (mix_[0] + mix_[1] + mix_[2] == 0) Die("--mix: all weights are zero");
  }

  // Takes one slot of the phase's budget: false once the time or the count is used up.
  bool Reserve() {
    if (stop_.load(std::memory_order_relaxed)) return false;
    if (absl::Now() >= end_) {
      stop_ = true;
      return false;
    }
    if (config_.count > 0 && issued_.fetch_add(1) >= config_.count) {
      stop_ = true;
      return false;
    }
    return true;
  }

  void RunOpenLoop(absl::Time start) {
    const double interval_us = 1e6 / config_.rate;
    const int max_in_flight = std::max(1, absl::GetFlag(FLAGS_max_in_flight));
    for (int64_t i = 0;; ++i) {
      const absl::Time scheduled =
          start + absl::Microseconds(static_cast<int64_t>(i * interval_us));
      if (scheduled >= end_ || (config_.count > 0 && i >= config_.count)) break;
      absl::Time now = absl::Now();
      if (scheduled > now) {
        absl::SleepFor(scheduled - now);
      }
      // Waiting for a free slot delays the send, never the scheduled time the latency counts from.
      while (in_flight_.load() >= max_in_flight) absl::SleepFor(absl::Microseconds(100));
      AtomicMax(stats_->max_send_lag_us, absl::ToInt64Microseconds(absl::Now() - scheduled));
      Launch(scheduled);
    }
  }

  Op Choose() {
    if (config_.prepare) return Op::kCreate;
    if (scenario_ == "create") return Op::kCreate;
    if (scenario_ == "replay") return Op::kReplay;
    if (scenario_ == "cancel") return Op::kCancel;
    if (scenario_ == "charge") return Op::kCharge;
    thread_local absl::BitGen gen;
    const int total = mix_[0] + mix_[1] + mix_[2];
    const int roll = absl::Uniform(gen, 0, total);
    if (roll < mix_[0]) return Op::kCreate;
    if (roll < mix_[0] + mix_[1]) return Op::kReplay;
    return Op::kGet;
  }

  std::string Key(int64_t index) const { return absl::StrCat(prefix_, "-", index); }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& key) const {
    return common::NewClientContext(
        {.timeout = timeout_, .idempotency_key = key, .bearer_token = token_});
  }

  int64_t PreparedId(int64_t n) const {
    if (prepared_ids_.empty()) return 1;
    return std::max<int64_t>(1, prepared_ids_[n % static_cast<int64_t>(prepared_ids_.size())]);
  }

  // Starts one call; `scheduled` is the time the latency is measured from.
  void Launch(absl::Time scheduled) {
    Lane& lane = lanes_[next_lane_.fetch_add(1, std::memory_order_relaxed) % lanes_.size()];
    grpc::CompletionQueue* cq = lane.cq.get();
    const Op op = Choose();
    in_flight_.fetch_add(1);
    Call* started = nullptr;
    switch (op) {
      case Op::kCreate:
      case Op::kReplay: {
        int64_t index;
        if (config_.prepare) {
          index = prepare_cursor_.fetch_add(1) % keys_;
        } else if (op == Op::kCreate) {
          index = next_new_.fetch_add(1);
        } else {
          index = replay_cursor_.fetch_add(1) % keys_;
        }
        auto* call = new TypedCall<CreateOrderResponse>();
        call->index = index;
        call->context = Context(Key(index));
        call->reader = lane.orders->PrepareAsyncCreateOrder(
            call->context.get(), OrderBody(index, items_, payment_method_), cq);
        started = call;
        break;
      }
      case Op::kGet: {
        auto* call = new TypedCall<orders::v1::Order>();
        GetOrderRequest request;
        request.set_id(PreparedId(get_cursor_.fetch_add(1)));
        call->context = Context("");
        call->reader = lane.orders->PrepareAsyncGetOrder(call->context.get(), request, cq);
        started = call;
        break;
      }
      case Op::kCancel: {
        const int64_t n = cancel_cursor_.fetch_add(1);
        auto* call = new TypedCall<CancelOrderResponse>();
        CancelOrderRequest request;
        request.set_id(PreparedId(n));
        request.set_reason("loadgen");
        call->context = Context(absl::StrCat(prefix_, "-cancel-", n));
        call->reader = lane.orders->PrepareAsyncCancelOrder(call->context.get(), request, cq);
        started = call;
        break;
      }
      case Op::kCharge: {
        const int64_t n = next_new_.fetch_add(1);
        auto* call = new TypedCall<payments::v1::Charge>();
        payments::v1::ChargeRequest request;
        request.set_order_id(1'000'000'000 + n);
        request.set_amount_cents(100 + n % 900);
        request.set_currency("USD");
        request.set_payment_method(payment_method_);
        request.set_customer_id(absl::StrCat("cust-", n % 997));
        call->context = Context(absl::StrCat(prefix_, "-charge-", n));
        call->reader = lane.payments->PrepareAsyncCharge(call->context.get(), request, cq);
        started = call;
        break;
      }
    }
    started->op = op;
    started->cq = cq;
    started->scheduled = scheduled;
    started->sent = absl::Now();
    StartAndFinish(started);
  }

  static void StartAndFinish(Call* call) {
    if (auto* c = dynamic_cast<TypedCall<CreateOrderResponse>*>(call)) {
      c->reader->StartCall();
      c->reader->Finish(&c->response, &c->status, call);
    } else if (auto* c = dynamic_cast<TypedCall<orders::v1::Order>*>(call)) {
      c->reader->StartCall();
      c->reader->Finish(&c->response, &c->status, call);
    } else if (auto* c = dynamic_cast<TypedCall<CancelOrderResponse>*>(call)) {
      c->reader->StartCall();
      c->reader->Finish(&c->response, &c->status, call);
    } else if (auto* c = dynamic_cast<TypedCall<payments::v1::Charge>*>(call)) {
      c->reader->StartCall();
      c->reader->Finish(&c->response, &c->status, call);
    }
  }

  void Poll(grpc::CompletionQueue* cq) {
    void* tag;
    bool ok;
    while (cq->Next(&tag, &ok)) Complete(static_cast<Call*>(tag));
  }

  void Complete(Call* call) {
    if (call->IsPause()) {  // a caller's pushback is over: its next call
      delete call;
      if (Reserve()) Launch(absl::Now());
      in_flight_.fetch_sub(1);
      return;
    }
    const absl::Time now = absl::Now();
    PhaseStats& stats = *stats_;
    const int code = std::clamp(static_cast<int>(call->status.error_code()), 0, 16);
    stats.codes[code].fetch_add(1, std::memory_order_relaxed);
    stats.ops[static_cast<int>(call->op)].fetch_add(1, std::memory_order_relaxed);
    stats.latency.Record(now - (config_.rate > 0 ? call->scheduled : call->sent));
    stats.service.Record(now - call->sent);
    if (call->status.ok()) {
      const auto& md = call->context->GetServerInitialMetadata();
      auto it = md.find(common::kReplayedHeader);
      if (it != md.end() && std::string(it->second.data(), it->second.size()) == "true") {
        stats.replayed.fetch_add(1, std::memory_order_relaxed);
      }
      if (config_.prepare) {
        prepared_ids_[call->index] = call->OrderId();
        prepared_ok_.fetch_add(1);
      }
    }
    absl::Duration pushback = absl::ZeroDuration();
    if (call->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      stats.refused.Record(now - call->sent);
      const auto& md = call->context->GetServerTrailingMetadata();
      auto it = md.find("grpc-retry-pushback-ms");
      int64_t ms = 0;
      if (it != md.end() &&
          absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &ms)) {
        stats.refused_with_pushback.fetch_add(1, std::memory_order_relaxed);
        pushback = absl::Milliseconds(std::max<int64_t>(0, ms));
      }
    }
    stats.completed.fetch_add(1, std::memory_order_relaxed);
    AtomicMax(stats.last_completion_us, absl::ToUnixMicros(now));
    grpc::CompletionQueue* cq = call->cq;
    delete call;
    if (config_.rate <= 0 && pushback > absl::ZeroDuration() && absl::GetFlag(FLAGS_pushback) &&
        Reserve()) {
      // This caller waits out the pushback, then makes its next call (the Pause's completion).
      auto* pause = new Pause();
      in_flight_.fetch_add(1);
      pause->alarm.Set(cq, absl::ToChronoTime(absl::Now() + pushback), pause);
      in_flight_.fetch_sub(1);
      return;
    }
    // Closed loop: the next call starts before this one leaves the in-flight count, so the
    // count reaches zero only when the phase is over.
    if (config_.rate <= 0 && Reserve()) Launch(absl::Now());
    in_flight_.fetch_sub(1);
  }

  std::string scenario_, prefix_, payment_method_, token_;
  int64_t keys_ = 0;
  int items_ = 3;
  absl::Duration timeout_;
  std::array<int, 3> mix_{};
  std::vector<Lane> lanes_;

  PhaseConfig config_;
  PhaseStats* stats_ = nullptr;
  absl::Time end_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> issued_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> next_lane_{0};
  std::atomic<int64_t> next_new_{0};
  std::atomic<int64_t> prepare_cursor_{0};
  std::atomic<int64_t> replay_cursor_{0};
  std::atomic<int64_t> get_cursor_{0};
  std::atomic<int64_t> cancel_cursor_{0};
  std::atomic<int64_t> prepared_ok_{0};
  std::vector<int64_t> prepared_ids_;  // order id of prepared key i (0: failed)
};

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

std::string CodeName(int code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  return kNames[code];
}

void PrintTable(const LoadGen& gen, const PhaseConfig& config, const PhaseStats& s) {
  const int64_t completed = s.completed.load();
  const double secs = absl::ToDoubleSeconds(s.elapsed);
  std::printf("loadgen %s: %s loop, %s, %s%s\n", gen.scenario().c_str(),
              config.rate > 0 ? "open" : "closed",
              config.rate > 0 ? absl::StrCat(config.rate, " calls/s scheduled").c_str()
                              : absl::StrCat(config.concurrency, " in flight").c_str(),
              absl::FormatDuration(config.duration).c_str(),
              config.count > 0 ? absl::StrCat(", at most ", config.count, " calls").c_str() : "");
  std::printf("  %-10s %10s %10s %10s %10s %9s\n", "calls", "ok", "errors", "replayed", "calls/s",
              "seconds");
  std::printf("  %-10lld %10lld %10lld %10lld %10.1f %9.2f\n", static_cast<long long>(completed),
              static_cast<long long>(s.ok()), static_cast<long long>(completed - s.ok()),
              static_cast<long long>(s.replayed.load()), secs > 0 ? completed / secs : 0.0, secs);
  std::printf("  latency (ms, %s)  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
              config.rate > 0 ? "from scheduled send" : "from send", Ms(s.latency.Percentile(0.5)),
              Ms(s.latency.Percentile(0.9)), Ms(s.latency.Percentile(0.99)),
              Ms(s.latency.Percentile(0.999)), Ms(s.latency.max()));
  if (config.rate > 0) {
    std::printf(
        "  service  (ms, from actual send)  p50 %.2f  p99 %.2f  max %.2f;  sender lag max %.2f\n",
        Ms(s.service.Percentile(0.5)), Ms(s.service.Percentile(0.99)), Ms(s.service.max()),
        s.max_send_lag_us.load() / 1000.0);
  }
  std::printf("  status:");
  for (int c = 0; c < 17; ++c) {
    if (s.codes[c].load() > 0) {
      std::printf(" %s=%lld", CodeName(c).c_str(), static_cast<long long>(s.codes[c].load()));
    }
  }
  std::printf("\n  calls by kind:");
  for (int o = 0; o < kOps; ++o) {
    if (s.ops[o].load() > 0) {
      std::printf(" %s=%lld", kOpNames[o], static_cast<long long>(s.ops[o].load()));
    }
  }
  std::printf("\n");
}

void PrintValues(const LoadGen& gen, const PhaseConfig& config, const PhaseStats& s,
                 int64_t prepared) {
  const int64_t completed = s.completed.load();
  const double secs = absl::ToDoubleSeconds(s.elapsed);
  auto line = [](const std::string& name, const std::string& value) {
    std::printf("%s=%s\n", name.c_str(), value.c_str());
  };
  line("scenario", gen.scenario());
  line("mode", config.rate > 0 ? "open" : "closed");
  line("concurrency", absl::StrCat(config.concurrency));
  line("rate", absl::StrFormat("%.1f", config.rate));
  line("key_prefix", gen.prefix());
  if (prepared >= 0) line("prepared_ok", absl::StrCat(prepared));
  line("requests", absl::StrCat(completed));
  line("ok", absl::StrCat(s.ok()));
  line("errors", absl::StrCat(completed - s.ok()));
  line("replayed", absl::StrCat(s.replayed.load()));
  line("elapsed_s", absl::StrFormat("%.3f", secs));
  line("rps", absl::StrFormat("%.1f", secs > 0 ? completed / secs : 0.0));
  line("ok_rps", absl::StrFormat("%.1f", secs > 0 ? s.ok() / secs : 0.0));
  line("p50_ms", absl::StrFormat("%.3f", Ms(s.latency.Percentile(0.5))));
  line("p90_ms", absl::StrFormat("%.3f", Ms(s.latency.Percentile(0.9))));
  line("p99_ms", absl::StrFormat("%.3f", Ms(s.latency.Percentile(0.99))));
  line("p999_ms", absl::StrFormat("%.3f", Ms(s.latency.Percentile(0.999))));
  line("max_ms", absl::StrFormat("%.3f", Ms(s.latency.max())));
  if (config.rate > 0) {
    line("service_p50_ms", absl::StrFormat("%.3f", Ms(s.service.Percentile(0.5))));
    line("service_p99_ms", absl::StrFormat("%.3f", Ms(s.service.Percentile(0.99))));
    line("send_lag_max_ms", absl::StrFormat("%.3f", s.max_send_lag_us.load() / 1000.0));
  }
  for (int c = 0; c < 17; ++c) {
    if (s.codes[c].load() > 0) line("status_" + CodeName(c), absl::StrCat(s.codes[c].load()));
  }
  line("refused", absl::StrCat(s.codes[8].load()));
  line("refused_with_pushback", absl::StrCat(s.refused_with_pushback.load()));
  line("refused_p50_ms", absl::StrFormat("%.3f", Ms(s.refused.Percentile(0.5))));
  line("refused_p99_ms", absl::StrFormat("%.3f", Ms(s.refused.Percentile(0.99))));
  if (s.probes.load() > 0) {
    line("probes", absl::StrCat(s.probes.load()));
    line("probe_failures", absl::StrCat(s.probe_failures.load()));
    line("probe_p99_ms", absl::StrFormat("%.3f", Ms(s.probe_latency.Percentile(0.99))));
    line("probe_max_ms", absl::StrFormat("%.3f", Ms(s.probe_latency.max())));
  }
}

// --outbox_stats: the relay's figures, for bench/run.sh.
int PrintOutboxStats() {
  const std::string target = absl::GetFlag(FLAGS_target);
  if (!IsLoopback(target)) Die("--target must be a loopback address (127.x, localhost, [::1])");
  auto stub = orders::v1::OutboxAdmin::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  auto context = common::NewClientContext(
      {.timeout = absl::GetFlag(FLAGS_timeout), .bearer_token = absl::GetFlag(FLAGS_token)});
  orders::v1::OutboxStats stats;
  grpc::Status status = stub->GetOutboxStats(context.get(), {}, &stats);
  if (!status.ok()) {
    std::fprintf(stderr, "loadgen: GetOutboxStats: %s\n", status.error_message().c_str());
    return 1;
  }
  std::printf(
      "pending=%lld\ndead=%lld\noldest_pending_age_seconds=%.3f\nrelay_claimed=%lld\n"
      "relay_completed=%lld\nrelay_rescheduled=%lld\nrelay_buried=%lld\n"
      "relay_lease_lost=%lld\ncommit_to_sent_p50_ms=%.3f\ncommit_to_sent_p99_ms=%.3f\n"
      "commit_to_sent_max_ms=%.3f\ncommit_to_sent_count=%lld\n",
      static_cast<long long>(stats.pending()), static_cast<long long>(stats.dead()),
      stats.oldest_pending_age_seconds(), static_cast<long long>(stats.relay_claimed()),
      static_cast<long long>(stats.relay_completed()),
      static_cast<long long>(stats.relay_rescheduled()),
      static_cast<long long>(stats.relay_buried()),
      static_cast<long long>(stats.relay_lease_lost()), stats.commit_to_sent_p50_ms(),
      stats.commit_to_sent_p99_ms(), stats.commit_to_sent_max_ms(),
      static_cast<long long>(stats.commit_to_sent_count()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "gRPC load generator for order_service and payment_service (loopback only)");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_outbox_stats)) return PrintOutboxStats();
  LoadGen gen;
  const std::string& scenario = gen.scenario();
  const bool needs_prepare = scenario == "replay" || scenario == "mixed" || scenario == "cancel";
  int64_t prepared = -1;
  if (needs_prepare && absl::GetFlag(FLAGS_prepare)) {
    PhaseConfig prep{.name = "prepare",
                     .measured = false,
                     .prepare = true,
                     .concurrency = std::max(1, absl::GetFlag(FLAGS_prepare_concurrency)),
                     .duration = absl::Minutes(10),
                     .count = gen.keys()};
    auto stats = gen.Run(prep);
    prepared = gen.prepared_ok();
    std::fprintf(stderr, "loadgen: prepared %lld of %lld orders in %.2f s\n",
                 static_cast<long long>(prepared), static_cast<long long>(gen.keys()),
                 absl::ToDoubleSeconds(stats->elapsed));
    if (prepared < gen.keys()) Die("the prepare phase failed; is the service healthy?");
  } else if ((scenario == "cancel" || scenario == "mixed") && !absl::GetFlag(FLAGS_prepare)) {
    Die("--scenario=cancel and mixed need the prepare phase");
  }
  const int64_t first = absl::GetFlag(FLAGS_first_index);
  gen.set_next_new(first >= 0 ? first : (needs_prepare ? gen.keys() : 0));

  PhaseConfig measured{.name = "measured",
                       .rate = absl::GetFlag(FLAGS_rate),
                       .concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency)),
                       .duration = absl::GetFlag(FLAGS_duration),
                       .count = absl::GetFlag(FLAGS_count)};
  if (absl::GetFlag(FLAGS_warmup) > absl::ZeroDuration()) {
    PhaseConfig warm = measured;
    warm.name = "warmup";
    warm.measured = false;
    warm.duration = absl::GetFlag(FLAGS_warmup);
    warm.count = 0;
    auto stats = gen.Run(warm);
    std::fprintf(stderr, "loadgen: warm-up %lld calls (%lld ok) in %.2f s\n",
                 static_cast<long long>(stats->completed.load()),
                 static_cast<long long>(stats->ok()), absl::ToDoubleSeconds(stats->elapsed));
  }
  auto stats = gen.Run(measured);
  if (absl::GetFlag(FLAGS_table)) PrintTable(gen, measured, *stats);
  PrintValues(gen, measured, *stats, prepared);
  std::fflush(stdout);
  return 0;
}

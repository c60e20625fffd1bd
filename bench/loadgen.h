// loadgen's parts (see loadgen.cc for the tool): loadgen.cc (flags, main), loadgen_driver.cc
// (LoadGen: the calls, closed and open loop), loadgen_report.cc (the table, the name=value
// lines, --outbox_stats).
#pragma once

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

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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

// The flags, defined in loadgen.cc.
ABSL_DECLARE_FLAG(std::string, target);
ABSL_DECLARE_FLAG(std::string, scenario);
ABSL_DECLARE_FLAG(int, concurrency);
ABSL_DECLARE_FLAG(double, rate);
ABSL_DECLARE_FLAG(absl::Duration, duration);
ABSL_DECLARE_FLAG(int64_t, count);
ABSL_DECLARE_FLAG(absl::Duration, warmup);
ABSL_DECLARE_FLAG(int64_t, keys);
ABSL_DECLARE_FLAG(bool, prepare);
ABSL_DECLARE_FLAG(int, prepare_concurrency);
ABSL_DECLARE_FLAG(std::string, key_prefix);
ABSL_DECLARE_FLAG(int64_t, first_index);
ABSL_DECLARE_FLAG(std::string, mix);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
ABSL_DECLARE_FLAG(int, channels);
ABSL_DECLARE_FLAG(int, max_in_flight);
ABSL_DECLARE_FLAG(int, items);
ABSL_DECLARE_FLAG(std::string, payment_method);
ABSL_DECLARE_FLAG(std::string, token);
ABSL_DECLARE_FLAG(bool, table);
ABSL_DECLARE_FLAG(bool, pushback);
ABSL_DECLARE_FLAG(absl::Duration, probe_interval);
ABSL_DECLARE_FLAG(absl::Duration, probe_timeout);
ABSL_DECLARE_FLAG(int64_t, probe_order_id);
ABSL_DECLARE_FLAG(bool, outbox_stats);

namespace loadgen {

using orders::v1::CancelOrderRequest;
using orders::v1::CancelOrderResponse;
using orders::v1::CreateOrderRequest;
using orders::v1::CreateOrderResponse;
using orders::v1::GetOrderRequest;

// Prints `message` and exits with status 2 (a usage or setup error).
[[noreturn]] void Die(const std::string& message);
// Only loopback targets: this tool must never load anything but a local service.
bool IsLoopback(absl::string_view target);

enum class Op { kCreate, kReplay, kGet, kCancel, kCharge };
constexpr int kOps = 5;
constexpr const char* kOpNames[kOps] = {"create", "replay", "get", "cancel", "charge"};

// The body of order `index`: a deterministic function of the index, so a replay sends exactly
// the bytes of the first request (the fingerprint covers the body).
CreateOrderRequest OrderBody(int64_t index, int items, const std::string& payment_method);

// A storm's onset: refusals of calls sent this early in a phase are reported apart.
inline constexpr absl::Duration kOnset = absl::Seconds(1);

// Counters of one phase. Written by the completion threads, read once the phase is over.
struct PhaseStats {
  common::LatencyHistogram latency;  // closed loop: from send; open loop: from scheduled time
  common::LatencyHistogram service;  // from the actual send, in both modes
  common::LatencyHistogram refused;  // RESOURCE_EXHAUSTED answers, from the actual send
  // The same, split by when the call was sent: in the phase's first second (a storm's onset,
  // when every caller sends at once) or after it.
  common::LatencyHistogram refused_onset, refused_settled;
  // OK answers by the second of the phase they arrived in (the last slot takes the rest).
  std::array<std::atomic<int64_t>, 64> ok_by_second{};
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

inline void AtomicMax(std::atomic<int64_t>& slot, int64_t value) {
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
  // Reads the flags and connects --channels lanes (dies when it cannot).
  LoadGen();
  ~LoadGen();

  const std::string& scenario() const { return scenario_; }
  const std::string& prefix() const { return prefix_; }
  int64_t keys() const { return keys_; }
  int64_t prepared_ok() const { return prepared_ok_.load(); }
  void set_next_new(int64_t index) { next_new_ = index; }

  // Runs one phase to its end (and the end of every call it started).
  std::unique_ptr<PhaseStats> Run(const PhaseConfig& config);

 private:
  struct Lane {
    std::unique_ptr<orders::v1::OrderService::Stub> orders;
    std::unique_ptr<payments::v1::PaymentService::Stub> payments;
    std::unique_ptr<grpc::CompletionQueue> cq;
    std::thread thread;
  };

  // GetOrder probes until the phase ends, each on its own schedule (i * interval after the
  // start), on a connection the load does not use: what an operator's read sees.
  void Probe(PhaseStats& stats);

  // --mix ("create=50,replay=40,get=10") into mix_; dies on a bad one.
  void ParseMix(const std::string& mix);

  // Takes one slot of the phase's budget: false once the time or the count is used up.
  bool Reserve();

  // Sends on the open loop's schedule (i / rate after `start`) until the budget is used.
  void RunOpenLoop(absl::Time start);

  // The next call's operation: the scenario's, or a weighted pick for mixed.
  Op Choose();

  std::string Key(int64_t index) const { return absl::StrCat(prefix_, "-", index); }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& key) const;

  int64_t PreparedId(int64_t n) const;

  // Starts one call; `scheduled` is the time the latency is measured from.
  void Launch(absl::Time scheduled);

  // Starts `call`'s RPC and asks for its completion on its queue.
  static void StartAndFinish(Call* call);

  // A lane's thread: completions until the queue shuts down.
  void Poll(grpc::CompletionQueue* cq);

  // Counts a finished call and, in a closed loop, starts the next one.
  void Complete(Call* call);

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

// The human table of a measured phase.
void PrintTable(const LoadGen& gen, const PhaseConfig& config, const PhaseStats& s);
// One name=value line per figure; `prepared`: keys prepared (-1: no prepare phase).
void PrintValues(const LoadGen& gen, const PhaseConfig& config, const PhaseStats& s,
                 int64_t prepared);
// --outbox_stats: the relay's figures, for bench/run.sh; returns the exit status.
int PrintOutboxStats();

}  // namespace loadgen

// loadgen's driver: LoadGen's calls on asynchronous completion queues (loadgen.h).
#include "bench/loadgen.h"

namespace loadgen {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "loadgen: %s\n", message.c_str());
  std::exit(2);
}

bool IsLoopback(absl::string_view target) {
  absl::ConsumePrefix(&target, "dns:///");
  absl::ConsumePrefix(&target, "ipv4:");
  absl::ConsumePrefix(&target, "ipv6:");
  if (absl::StartsWith(target, "unix:")) return true;
  return absl::StartsWith(target, "127.") || absl::StartsWith(target, "localhost:") ||
         absl::StartsWith(target, "[::1]:");
}

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

LoadGen::LoadGen() {
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

LoadGen::~LoadGen() {
  for (auto& lane : lanes_) lane.cq->Shutdown();
  for (auto& lane : lanes_) lane.thread.join();
}

std::unique_ptr<PhaseStats> LoadGen::Run(const PhaseConfig& config) {
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

void LoadGen::Probe(PhaseStats& stats) {
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

void LoadGen::ParseMix(const std::string& mix) {
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

bool LoadGen::Reserve() {
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

void LoadGen::RunOpenLoop(absl::Time start) {
  const double interval_us = 1e6 / config_.rate;
  const int max_in_flight = std::max(1, absl::GetFlag(FLAGS_max_in_flight));
  for (int64_t i = 0;; ++i) {
    const absl::Time scheduled = start + absl::Microseconds(static_cast<int64_t>(i * interval_us));
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

Op LoadGen::Choose() {
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

std::unique_ptr<grpc::ClientContext> LoadGen::Context(const std::string& key) const {
  return common::NewClientContext(
      {.timeout = timeout_, .idempotency_key = key, .bearer_token = token_});
}

int64_t LoadGen::PreparedId(int64_t n) const {
  if (prepared_ids_.empty()) return 1;
  return std::max<int64_t>(1, prepared_ids_[n % static_cast<int64_t>(prepared_ids_.size())]);
}

void LoadGen::Launch(absl::Time scheduled) {
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

void LoadGen::StartAndFinish(Call* call) {
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

void LoadGen::Poll(grpc::CompletionQueue* cq) {
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) Complete(static_cast<Call*>(tag));
}

void LoadGen::Complete(Call* call) {
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
    const int64_t second = std::clamp<int64_t>(absl::ToInt64Seconds(now - stats.start), 0,
                                               static_cast<int64_t>(stats.ok_by_second.size()) - 1);
    stats.ok_by_second[second].fetch_add(1, std::memory_order_relaxed);
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
    (call->sent - stats.start < kOnset ? stats.refused_onset : stats.refused_settled)
        .Record(now - call->sent);
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

}  // namespace loadgen

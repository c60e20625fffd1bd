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
#include "bench/loadgen.h"

#include <algorithm>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"

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

using loadgen::Die;
using loadgen::LoadGen;
using loadgen::PhaseConfig;

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "gRPC load generator for order_service and payment_service (loopback only)");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_outbox_stats)) return loadgen::PrintOutboxStats();
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
  if (absl::GetFlag(FLAGS_table)) loadgen::PrintTable(gen, measured, *stats);
  loadgen::PrintValues(gen, measured, *stats, prepared);
  std::fflush(stdout);
  return 0;
}

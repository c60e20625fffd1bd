// loadgen's output: the human table, the name=value lines and --outbox_stats (loadgen.h).
#include "bench/loadgen.h"
#include "common/metrics.h"

namespace loadgen {

namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

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
      std::printf(" %s=%lld", common::GrpcCodeName(c).c_str(),
                  static_cast<long long>(s.codes[c].load()));
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
    if (s.codes[c].load() > 0)
      line("status_" + common::GrpcCodeName(c), absl::StrCat(s.codes[c].load()));
  }
  line("refused", absl::StrCat(s.codes[8].load()));
  line("refused_with_pushback", absl::StrCat(s.refused_with_pushback.load()));
  line("refused_p50_ms", absl::StrFormat("%.3f", Ms(s.refused.Percentile(0.5))));
  line("refused_p99_ms", absl::StrFormat("%.3f", Ms(s.refused.Percentile(0.99))));
  line("refused_first_1s", absl::StrCat(s.refused_onset.count()));
  line("refused_first_1s_p99_ms", absl::StrFormat("%.3f", Ms(s.refused_onset.Percentile(0.99))));
  line("refused_after_1s", absl::StrCat(s.refused_settled.count()));
  line("refused_after_1s_p99_ms", absl::StrFormat("%.3f", Ms(s.refused_settled.Percentile(0.99))));
  // Whole seconds only: a last partial second would read as a drop in rate.
  std::vector<std::string> per_second;
  for (int64_t i = 0; i < static_cast<int64_t>(secs) && i < 64; ++i) {
    per_second.push_back(absl::StrCat(s.ok_by_second[i].load()));
  }
  line("ok_per_second", absl::StrJoin(per_second, ","));
  if (s.probes.load() > 0) {
    line("probes", absl::StrCat(s.probes.load()));
    line("probe_failures", absl::StrCat(s.probe_failures.load()));
    line("probe_p99_ms", absl::StrFormat("%.3f", Ms(s.probe_latency.Percentile(0.99))));
    line("probe_max_ms", absl::StrFormat("%.3f", Ms(s.probe_latency.max())));
  }
}

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

}  // namespace loadgen

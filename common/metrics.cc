#include "common/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace common {

std::pair<std::string, std::string> SplitGrpcMethod(absl::string_view method) {
  if (absl::StartsWith(method, "/")) method.remove_prefix(1);
  const size_t slash = method.rfind('/');
  if (slash == absl::string_view::npos) return {"unknown", std::string(method)};
  return {std::string(method.substr(0, slash)), std::string(method.substr(slash + 1))};
}

std::string GrpcCodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
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
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return kNames[code];
  return absl::StrCat("CODE_", code);
}

namespace {

// Families filled by collectors at scrape time.
class CallbackCollectable : public prometheus::Collectable {
 public:
  void Add(MetricsCollector collector) {
    absl::MutexLock lock(&mu_);
    collectors_.push_back(std::move(collector));
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    Writer writer;
    {
      absl::MutexLock lock(&mu_);
      for (const MetricsCollector& collector : collectors_) collector(writer);
    }
    std::vector<prometheus::MetricFamily> out;
    out.reserve(writer.families.size());
    for (auto& [name, family] : writer.families) out.push_back(std::move(family));
    return out;
  }

 private:
  struct Writer : MetricsWriter {
    std::map<std::string, prometheus::MetricFamily> families;

    prometheus::ClientMetric* Sample(absl::string_view name, absl::string_view help,
                                     prometheus::MetricType type, const MetricLabels& labels) {
      auto [it, inserted] = families.try_emplace(std::string(name));
      prometheus::MetricFamily& family = it->second;
      if (inserted) {
        family.name = std::string(name);
        family.help = std::string(help);
        family.type = type;
      } else if (family.type != type) {
        return nullptr;  // one name, one type
      }
      prometheus::ClientMetric& metric = family.metric.emplace_back();
      for (const auto& [k, v] : labels) metric.label.push_back({k, v});
      return &metric;
    }
    void Gauge(absl::string_view name, absl::string_view help, double value,
               const MetricLabels& labels) override {
      if (auto* m = Sample(name, help, prometheus::MetricType::Gauge, labels))
        m->gauge.value = value;
    }
    void Counter(absl::string_view name, absl::string_view help, double value,
                 const MetricLabels& labels) override {
      if (auto* m = Sample(name, help, prometheus::MetricType::Counter, labels)) {
        m->counter.value = value;
      }
    }
  };

  mutable absl::Mutex mu_;
  std::vector<MetricsCollector> collectors_ ABSL_GUARDED_BY(mu_);
};

// Resident memory, CPU time and threads of this process, read from /proc at scrape time.
void CollectProcess(absl::Time start, MetricsWriter& w) {
  long pages_total = 0, pages_resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  w.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", pages_resident * page);
  w.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", pages_total * page);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                     (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  w.Counter("process_cpu_seconds_total", "User and system CPU time spent in seconds.", cpu);
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (absl::StartsWith(line, "Threads:")) {
      w.Gauge("process_threads", "Threads in this process.", std::atof(line.c_str() + 8));
    }
  }
  w.Gauge("process_start_time_seconds", "Start time of the process since the epoch, in seconds.",
          absl::ToUnixMicros(start) / 1e6);
}

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<CallbackCollectable> callbacks = std::make_shared<CallbackCollectable>();
  std::unique_ptr<prometheus::Exposer> exposer;
  int port = -1;

  prometheus::Family<prometheus::Counter>& started = prometheus::BuildCounter()
                                                         .Name("grpc_server_started_total")
                                                         .Help("RPCs started on the server.")
                                                         .Register(*registry);
  prometheus::Family<prometheus::Counter>& handled =
      prometheus::BuildCounter()
          .Name("grpc_server_handled_total")
          .Help("RPCs completed on the server, by status code.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& handling =
      prometheus::BuildHistogram()
          .Name("grpc_server_handling_seconds")
          .Help("Latency of RPCs, from the start of the call to its status being sent.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& in_flight = prometheus::BuildGauge()
                                                         .Name("grpc_server_in_flight")
                                                         .Help("RPCs started and not yet finished.")
                                                         .Register(*registry);
  prometheus::Family<prometheus::Counter>& replays =
      prometheus::BuildCounter()
          .Name("idempotency_replays_total")
          .Help("Responses replayed from a stored idempotency record (idempotent-replayed: true).")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& conflicts =
      prometheus::BuildCounter()
          .Name("idempotency_key_conflicts_total")
          .Help(
              "Calls refused because their idempotency key was reused with another request "
              "(IDEMPOTENCY_KEY_REUSED) or is still in use (IDEMPOTENCY_KEY_IN_USE).")
          .Register(*registry);

  struct MethodSeries {
    prometheus::Counter* started;
    prometheus::Histogram* latency;
    prometheus::Gauge* in_flight;
    prometheus::Counter* replays;
    std::map<int, prometheus::Counter*> handled;
    std::map<std::string, prometheus::Counter*, std::less<>> conflicts;
    prometheus::Labels labels;
  };
  absl::Mutex mu;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> methods ABSL_GUARDED_BY(mu);

  MethodSeries& SeriesFor(absl::string_view method) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = methods.find(method);
    if (it != methods.end()) return *it->second;
    auto [service, name] = SplitGrpcMethod(method);
    auto series = std::make_unique<MethodSeries>();
    series->labels = {{"grpc_service", service}, {"grpc_method", name}};
    series->started = &started.Add(series->labels);
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    series->latency = &handling.Add(series->labels, kBuckets);
    series->in_flight = &in_flight.Add(series->labels);
    series->replays = &replays.Add(series->labels);
    MethodSeries& ref = *series;
    methods.emplace(std::string(method), std::move(series));
    return ref;
  }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Start(const MetricsConfig& config) {
  std::unique_ptr<Metrics> self(new Metrics());
  const absl::Time start = absl::Now();
  self->AddCollector([start](MetricsWriter& w) { CollectProcess(start, w); });
  if (config.port < 0) return self;
  if (config.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("metrics port ", config.port, " out of range"));
  }
  const std::string host =
      absl::StrContains(config.host, ':') ? absl::StrCat("[", config.host, "]") : config.host;
  const std::string bind = absl::StrCat(host, ":", config.port);
  try {
    self->impl_->exposer = std::make_unique<prometheus::Exposer>(bind, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", bind, ": ", e.what()));
  }
  self->impl_->exposer->RegisterCollectable(self->impl_->registry);
  self->impl_->exposer->RegisterCollectable(self->impl_->callbacks);
  const std::vector<int> ports = self->impl_->exposer->GetListeningPorts();
  if (ports.empty())
    return absl::UnavailableError(absl::StrCat("metrics: not listening on ", bind));
  self->impl_->port = ports.front();
  if (!config.port_file.empty()) {
    const std::string tmp = config.port_file + ".tmp";
    { std::ofstream(tmp) << self->impl_->port << "\n"; }
    std::rename(tmp.c_str(), config.port_file.c_str());
  }
  return self;
}

int Metrics::port() const { return impl_->port; }

void Metrics::RpcStarted(absl::string_view method) {
  absl::MutexLock lock(&impl_->mu);
  Impl::MethodSeries& series = impl_->SeriesFor(method);
  series.started->Increment();
  series.in_flight->Increment();
}

void Metrics::RpcFinished(absl::string_view method, int code, absl::Duration latency, bool replayed,
                          absl::string_view conflict_reason) {
  prometheus::Counter* handled = nullptr;
  prometheus::Counter* conflict = nullptr;
  prometheus::Histogram* histogram = nullptr;
  {
    absl::MutexLock lock(&impl_->mu);
    Impl::MethodSeries& series = impl_->SeriesFor(method);
    series.in_flight->Decrement();
    if (replayed) series.replays->Increment();
    histogram = series.latency;
    auto it = series.handled.find(code);
    if (it == series.handled.end()) {
      prometheus::Labels labels = series.labels;
      labels["grpc_code"] = GrpcCodeName(code);
      it = series.handled.emplace(code, &impl_->handled.Add(labels)).first;
    }
    handled = it->second;
    if (!conflict_reason.empty()) {
      auto c = series.conflicts.find(conflict_reason);
      if (c == series.conflicts.end()) {
        prometheus::Labels labels = series.labels;
        labels["reason"] = std::string(conflict_reason);
        c = series.conflicts.emplace(std::string(conflict_reason), &impl_->conflicts.Add(labels))
                .first;
      }
      conflict = c->second;
    }
  }
  handled->Increment();
  if (conflict) conflict->Increment();
  histogram->Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::AddCollector(MetricsCollector collector) {
  impl_->callbacks->Add(std::move(collector));
}

std::string Metrics::Render() const {
  std::vector<prometheus::MetricFamily> families = impl_->registry->Collect();
  for (auto& family : impl_->callbacks->Collect()) families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace common

// Prometheus metrics for a service: a registry, an optional HTTP endpoint (GET /metrics), the RPC
// figures the server interceptor records, and collectors read at scrape time (outbox depth, pool
// usage, injected faults...). prometheus-cpp stays inside metrics.cc: this header is cheap.
//
// Series (see deploy/OPERATIONS.md for the full reference):
//   grpc_server_started_total{grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_service,grpc_method} (histogram)
//   grpc_server_in_flight{grpc_service,grpc_method}
//   idempotency_replays_total{grpc_service,grpc_method}
//   idempotency_key_conflicts_total{grpc_service,grpc_method,reason}
//   process_resident_memory_bytes, process_start_time_seconds, process_threads
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace common {

using MetricLabels = std::map<std::string, std::string>;

// What a collector writes at scrape time. Samples with the same name form one family.
class MetricsWriter {
 public:
  virtual ~MetricsWriter() = default;
  virtual void Gauge(absl::string_view name, absl::string_view help, double value,
                     const MetricLabels& labels = {}) = 0;
  // A monotonically increasing total (name it *_total).
  virtual void Counter(absl::string_view name, absl::string_view help, double value,
                       const MetricLabels& labels = {}) = 0;
};

// Runs on the scraping thread; keep it quick (one database query at most).
using MetricsCollector = std::function<void(MetricsWriter&)>;

struct MetricsConfig {
  std::string host = "127.0.0.1";
  int port = -1;          // -1: no HTTP endpoint (figures are still recorded); 0 picks a port
  std::string port_file;  // when set, the chosen port is written here once listening
};

class Metrics {
 public:
  static absl::StatusOr<std::unique_ptr<Metrics>> Start(const MetricsConfig& config);
  ~Metrics();

  // The HTTP port, or -1 when not serving.
  int port() const;

  // Called by the RPC interceptor. `method` is the full gRPC path "/pkg.Service/Method".
  void RpcStarted(absl::string_view method);
  // `code` is the numeric grpc::StatusCode. `conflict_reason` is empty unless the call was
  // refused for an idempotency-key conflict.
  void RpcFinished(absl::string_view method, int code, absl::Duration latency, bool replayed,
                   absl::string_view conflict_reason);

  // Adds a collector; it lives as long as this object. Collectors must stay valid until
  // this object is destroyed (or main returns).
  void AddCollector(MetricsCollector collector);

  // The exposition text GET /metrics serves: for tests and debugging.
  std::string Render() const;

 private:
  Metrics();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "/orders.v1.OrderService/CreateOrder" -> {"orders.v1.OrderService", "CreateOrder"}.
std::pair<std::string, std::string> SplitGrpcMethod(absl::string_view method);

// "OK", "INVALID_ARGUMENT", ... for a numeric grpc::StatusCode.
std::string GrpcCodeName(int code);

}  // namespace common

// Server bootstrap shared by both services: health (grpc.health.v1), reflection, message-size
// limits, port 0 support, a database-backed readiness probe and graceful shutdown; TLS / mTLS,
// keepalive, and the RPC interceptor that records metrics and writes one JSON log line per call.
//
// Health names (grpc.health.v1.Health/Check `service`):
//   ""          readiness: SERVING while the readiness probe passes (a writable database
//               connection can be made); NOT_SERVING from start until then and while it fails.
//   "liveness"  SERVING for as long as the process serves RPCs; never touches the database, so
//               an orchestrator restarts a wedged process, not one waiting out a database outage.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace common {

class Metrics;

// The health name of liveness (see the file comment); readiness is the empty name.
inline constexpr char kLivenessHealthName[] = "liveness";

// HTTP/2 keepalive and connection ageing (gRPC server channel arguments).
struct KeepaliveConfig {
  absl::Duration time = absl::Minutes(1);      // ping a connection idle this long
  absl::Duration timeout = absl::Seconds(20);  // close it if the ping is not answered by then
  // Clients may ping this often without calls in flight (faster pings are a GOAWAY offence).
  absl::Duration min_client_ping_interval = absl::Seconds(10);
  // Close connections idle (no calls) this long; infinite: never.
  absl::Duration max_connection_idle = absl::InfiniteDuration();
  // Close connections this old (GOAWAY, then a grace period), so clients re-resolve and
  // rebalance across replicas; infinite: never.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // Pings faster than min_client_ping_interval tolerated before the connection is closed with
  // GOAWAY ENHANCE_YOUR_CALM (gRPC's "too_many_pings"); 0: any number.
  int max_ping_strikes = 2;
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 0;           // 0 picks a free port
  std::string port_file;  // when set, the chosen port is written here once listening
                          // (services that must first reach their database leave it
                          // empty and call WritePortFile once ready for requests)
  int max_message_bytes = 4 << 20;
  // Request metadata (headers) accepted per call: our headers are an idempotency key (at most
  // 255 characters), a bearer token, x-attempt and gRPC's own; a call over it is refused by gRPC
  // (RESOURCE_EXHAUSTED, "received initial metadata size exceeds limit") before any handler.
  int max_metadata_bytes = 16 << 10;
  // Calls in flight on one HTTP/2 connection; a client beyond it queues its calls locally until
  // one finishes (SETTINGS_MAX_CONCURRENT_STREAMS), so one connection cannot hold every slot.
  int max_concurrent_streams = 100;
  // gRPC's pollers (SyncServerOption::MAX_POLLERS): idle synchronous handler threads kept waiting
  // for the next calls; with gRPC's default (2) the server ends and re-creates a thread for about
  // every third call under load. Flag --max_pollers (deprecated alias --handler_threads).
  int max_pollers = 64;
  // Threads the synchronous server may run at once (gRPC's thread quota, gRFC L30); 0: no
  // bound. A call that finds none free is refused by gRPC before any handler: RESOURCE_EXHAUSTED
  // "Server Threadpool Exhausted" (no pushback; clients back off as for any transient code).
  // Each thread holds one call, so this bounds memory and context switches under a storm;
  // keep it above admission's limit + queue + priority lane (common/admission_flags.h does).
  int max_threads = 0;
  absl::Duration shutdown_grace = absl::Seconds(5);
  ServerTlsConfig tls;  // TLS when tls.cert_file is set; mTLS with tls.client_ca_file
  KeepaliveConfig keepalive;
  Metrics* metrics = nullptr;  // when set, every RPC is counted (not owned; must outlive)
  bool log_rpcs = false;       // one JSON line per RPC on stderr
  std::string service_name;    // "service" field of the log lines
  // ErrorInfo domain of the answers the server gives itself (a request that does not parse).
  std::string error_domain;
};

// INVALID_ARGUMENT naming the flag for a port out of range, a bad size, a non-positive
// duration or an incomplete or unreadable TLS configuration.
absl::Status ValidateServerConfig(const ServerConfig& config);

class GrpcServer {
 public:
  // Starts listening with every service registered: liveness SERVING, readiness NOT_SERVING until
  // the probe passes.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const ServerConfig& config, const std::vector<grpc::Service*>& services);
  ~GrpcServer();

  int port() const { return port_; }

  // Runs `ready` every `period`; health is SERVING while it returns true (e.g. database reachable).
  void StartReadinessProbe(std::function<bool()> ready, absl::Duration period);

  // Health NOT_SERVING, then stops accepting and waits for in-flight calls up to the grace period.
  void Shutdown();

 private:
  GrpcServer() = default;
  void SetServing(bool serving);

  ServerConfig config_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread probe_;
};

// Writes `port` to `path` through a temporary name and a rename, so a reader never sees a partial
// number.
void WritePortFile(const std::string& path, int port);

// Call first in main, before any thread starts, so SIGTERM/SIGINT reach only the waiter.
void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT; returns the signal number.
int WaitForTerminationSignal();
// A pending SIGTERM or SIGINT, taken without waiting; 0 when none (for start-up loops that wait
// for a dependency and must still stop when told to).
int PollTerminationSignal();
// Start-up against a dependency that may not be up yet (the database): runs `attempt` every
// `period` until it returns OK (then 0) or SIGTERM/SIGINT arrives (then the signal number).
// Each new failure message is written once to stderr as "<what>: waiting: <message>".
int RetryUntilDone(const char* what, const std::function<absl::Status()>& attempt,
                   absl::Duration period);

}  // namespace common

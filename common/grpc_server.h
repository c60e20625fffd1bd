// Server bootstrap shared by both services: health (grpc.health.v1), reflection, message-size
// limits, port 0 support, a database-backed readiness probe and graceful shutdown.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace common {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 0;                 // 0 picks a free port
  std::string port_file;        // when set, the chosen port is written here once listening
  int max_message_bytes = 4 << 20;
  absl::Duration shutdown_grace = absl::Seconds(5);
};

class GrpcServer {
 public:
  // Starts listening with every service registered, health NOT_SERVING until the probe passes.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const ServerConfig& config,
                                                           const std::vector<grpc::Service*>& services);
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

// Call first in main, before any thread starts, so SIGTERM/SIGINT reach only the waiter.
void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT; returns the signal number.
int WaitForTerminationSignal();

}  // namespace common

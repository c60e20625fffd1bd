// The gRPC server flags both services share under the same names and defaults (listen address,
// pollers, keepalive and connection ageing) and the one function that reads them into a
// common::ServerConfig. Defines flags: include it from exactly one file per binary (the service's
// config.cc). The flags that carry a per-service environment fallback (--port, --tls_*,
// --log_rpcs, --metrics_*) stay in each service's config.cc. Reference: deploy/OPERATIONS.md.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/grpc_server.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, max_pollers, 64,
          "gRPC's pollers: idle RPC handler threads kept waiting for the next calls (fewer: "
          "threads are ended and re-created under load)");
ABSL_FLAG(std::optional<int>, handler_threads, std::nullopt,
          "deprecated name of --max_pollers (still accepted, with a warning)");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Minutes(1),
          "ping a connection idle this long (inf: never)");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "close it if the ping is unanswered");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::InfiniteDuration(),
          "close connections without calls after this (inf: never)");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(30),
          "close connections this old (GOAWAY, then 30 s for calls in flight) so clients behind "
          "an L4 balancer reconnect and spread over replicas (inf: never)");

namespace common {

// Sets server.host, server.max_pollers and server.keepalive from the flags above. The deprecated
// --handler_threads, when given, sets the pollers and writes a warning to stderr prefixed with
// `service_name` (deployments still pass it). Validation is ValidateServerConfig's.
inline void ReadServerFlags(const char* service_name, ServerConfig& server) {
  server.host = absl::GetFlag(FLAGS_host);
  server.max_pollers = absl::GetFlag(FLAGS_max_pollers);
  if (const std::optional<int> deprecated = absl::GetFlag(FLAGS_handler_threads)) {
    std::fprintf(stderr,
                 "%s: warning: --handler_threads is deprecated, use --max_pollers (taking "
                 "--max_pollers=%d)\n",
                 service_name, *deprecated);
    server.max_pollers = *deprecated;
  }
  server.keepalive.time = absl::GetFlag(FLAGS_keepalive_time);
  server.keepalive.timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  server.keepalive.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  server.keepalive.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
}

}  // namespace common

// The gRPC server flags both services share under the same names, defaults and help: listen
// address, pollers, keepalive and connection ageing (defined here), and the flags whose
// environment fallback carries the service's prefix (--metrics_port, --metrics_host,
// --metrics_port_file, --log_rpcs, --tls_cert, --tls_key, --tls_client_ca: defined by
// COMMON_DEFINE_SERVICE_FLAGS("ORDER") in the service's config.cc, so the variable is
// ORDER_METRICS_PORT or PAYMENT_METRICS_PORT); and the functions that read them. Defines flags:
// include it from exactly one file per binary (the service's config.cc). Reference:
// deploy/OPERATIONS.md.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "common/grpc_server.h"
#include "common/metrics.h"

// Defines the flags whose environment variable is ENV (a string literal, "ORDER" or "PAYMENT")
// followed by the flag's own suffix. Use once, at file scope, in the file that includes this one.
#define COMMON_DEFINE_SERVICE_FLAGS(ENV)                                                         \
  ABSL_FLAG(int, metrics_port, common::EnvIntOr(ENV "_METRICS_PORT", -1),                        \
            "Prometheus GET /metrics on this HTTP port (0 picks one, -1 off); env " ENV          \
            "_METRICS_PORT");                                                                    \
  ABSL_FLAG(std::string, metrics_host, common::EnvOr(ENV "_METRICS_HOST", ""),                   \
            "address of the metrics endpoint (empty: --host); env " ENV "_METRICS_HOST");        \
  ABSL_FLAG(std::string, metrics_port_file, "",                                                  \
            "write the metrics port to this file once listening");                               \
  ABSL_FLAG(bool, log_rpcs, common::EnvBoolOr(ENV "_LOG_RPCS", true),                            \
            "one JSON line per RPC on stderr (key hashed, never raw); env " ENV "_LOG_RPCS");    \
  ABSL_FLAG(std::string, tls_cert, common::EnvOr(ENV "_TLS_CERT", ""),                           \
            "serve TLS with this PEM certificate chain (with --tls_key); env " ENV "_TLS_CERT"); \
  ABSL_FLAG(std::string, tls_key, common::EnvOr(ENV "_TLS_KEY", ""),                             \
            "PEM private key of --tls_cert; env " ENV "_TLS_KEY");                               \
  ABSL_FLAG(std::string, tls_client_ca, common::EnvOr(ENV "_TLS_CLIENT_CA", ""),                 \
            "mTLS: require client certificates signed by this PEM CA; env " ENV "_TLS_CLIENT_CA")

ABSL_DECLARE_FLAG(int, metrics_port);
ABSL_DECLARE_FLAG(std::string, metrics_host);
ABSL_DECLARE_FLAG(std::string, metrics_port_file);
ABSL_DECLARE_FLAG(bool, log_rpcs);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_client_ca);

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

// The server the flags above describe, for `service_name` (its log lines and warnings) answering
// its own errors in `error_domain`, listening on `port`: host, pollers, keepalive, RPC logs and
// TLS. port_file stays empty (each service writes its port once ready). The deprecated
// --handler_threads, when given, sets the pollers and writes a warning to stderr (deployments
// still pass it). INVALID_ARGUMENT naming the flag from ValidateServerConfig otherwise.
inline absl::StatusOr<ServerConfig> ServerConfigFromFlags(const char* service_name,
                                                          const char* error_domain, int port) {
  ServerConfig server;
  server.service_name = service_name;
  server.error_domain = error_domain;
  server.host = absl::GetFlag(FLAGS_host);
  server.port = port;
  server.port_file = "";
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
  server.log_rpcs = absl::GetFlag(FLAGS_log_rpcs);
  server.tls = {.cert_file = absl::GetFlag(FLAGS_tls_cert),
                .key_file = absl::GetFlag(FLAGS_tls_key),
                .client_ca_file = absl::GetFlag(FLAGS_tls_client_ca)};
  if (absl::Status s = ValidateServerConfig(server); !s.ok()) return s;
  return server;
}

// The metrics endpoint the flags describe: --metrics_host (empty: --host), --metrics_port (-1:
// off, 0 picks one; ConfigCheck::Port with allow_off checks it), --metrics_port_file.
inline MetricsConfig MetricsConfigFromFlags() {
  const std::string host = absl::GetFlag(FLAGS_metrics_host);
  return {.host = host.empty() ? absl::GetFlag(FLAGS_host) : host,
          .port = absl::GetFlag(FLAGS_metrics_port),
          .port_file = absl::GetFlag(FLAGS_metrics_port_file)};
}

}  // namespace common

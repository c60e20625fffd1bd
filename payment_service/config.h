// payment_service's configuration: every command-line flag (defined in config.cc, with the
// environment fallbacks common/env.h reads) parsed and validated in one place, so main() only
// wires and RunPaymentService (server.h) never sees a value it has to check again. Flag
// reference: deploy/OPERATIONS.md.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/admission.h"
#include "common/auth.h"
#include "common/failpoint.h"
#include "common/grpc_server.h"
#include "common/metrics.h"
#include "payment_service/faults.h"
#include "payment_service/reaper.h"

namespace payment_service {

struct PaymentServiceConfig {
  common::FailpointSpec failpoints;  // armed before anything starts (common/failpoint_names.h)

  std::string store = "postgres";  // "postgres" or "memory"
  // PostgreSQL (store "postgres"): a libpq connection string (empty: libpq's PG* defaults) and
  // pool_size >= 1 connections.
  std::string database;
  int pool_size = 16;
  bool prepared_statements = true;

  // The gRPC server: host, port, TLS, keepalive, thread quota, RPC logs. server.port_file stays
  // empty: RunPaymentService writes `port_file` once the schema is in place.
  common::ServerConfig server;
  std::string port_file;  // empty: none
  common::MetricsConfig metrics;

  common::TokenAuthenticator callers;  // disabled when --tokens is empty
  common::AdmissionConfig admission;   // server.max_threads is its max_threads
  FaultConfig faults;                  // valid (FaultInjector::Validate)
  bool enable_fault_admin = false;
  RetentionConfig retention;
};

// The configuration the flags (after absl::ParseCommandLine) and their environment fallbacks
// describe. INVALID_ARGUMENT whose message names the bad flag ("--store=x: must be one of
// postgres, memory", "--tls_cert needs --tls_key", "--tokens: ...") for any value out of range,
// an unreadable TLS file, an incomplete TLS pair or unparseable tokens. Logs a warning on stderr
// for a deprecated flag (--handler_threads: use --max_pollers). A malformed environment
// variable never reaches here: common/env.h exits 2 naming it while the flags are defined.
absl::StatusOr<PaymentServiceConfig> PaymentServiceConfigFromFlags();

}  // namespace payment_service

// order_service's configuration: every command-line flag (defined in config.cc, with the
// environment fallbacks common/env.h reads) parsed and validated in one place, so main() only
// wires and RunOrderService (server.h) never sees a value it has to check again. Flag reference:
// deploy/OPERATIONS.md.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/admission.h"
#include "common/auth.h"
#include "common/failpoint.h"
#include "common/grpc_server.h"
#include "common/metrics.h"
#include "order_service/grpc_payment_gateway.h"
#include "order_service/outbox_relay.h"
#include "order_service/reaper.h"

namespace orders {

struct OrderServiceConfig {
  // "api" serves RPCs, "relay" runs the outbox relay (and the reaper, projector, reconciler),
  // "all" both.
  std::string role = "all";
  bool serves_api() const { return role != "relay"; }
  bool runs_relay() const { return role != "api"; }

  common::FailpointSpec failpoints;  // armed before anything starts (common/failpoint_names.h)

  // PostgreSQL: libpq connection strings; listen_database is never empty (--database when the
  // flag is). pool_size >= 1 connections.
  std::string database;
  std::string listen_database;
  int pool_size = 16;
  bool prepared_statements = true;
  int create_batch = 32;  // orders per statement and commit; 1: no group commit
  int create_lanes = 2;   // batches written at once

  // The gRPC server: host, port, TLS, keepalive, message limit, pollers, thread quota, RPC logs.
  // server.port_file stays empty: RunOrderService writes `port_file` once the database answered.
  common::ServerConfig server;
  std::string port_file;  // empty: none
  common::MetricsConfig metrics;

  // Tenants' and operators' bearer tokens (disabled when their flag is empty).
  common::TokenAuthenticator tenants;
  common::TokenAuthenticator operators;
  common::AdmissionConfig admission;  // server.max_threads is its max_threads

  PaymentClientConfig payment;  // credentials set when --payment_tls_ca is
  RelayOptions relay;           // owner left at its default: RunOrderService names the process
  bool relay_synchronous_commit = false;
  bool outbox_notify = false;  // NOTIFY after each outbox write (always for role "api")
  RetentionOptions retention;
  bool outbox_admin = true;
  bool analytics_projector = true;
  absl::Duration reconcile_every = absl::Minutes(15);  // zero: no periodic reconciliation
  bool reconcile_repair = true;

  double chaos_failure_rate = 0;  // 0..1
  std::string chaos_methods;
  uint64_t chaos_seed = 1;
};

// The configuration the flags (after absl::ParseCommandLine) and their environment fallbacks
// describe. INVALID_ARGUMENT whose message names the bad flag ("--role=x: must be one of api,
// relay, all", "--relay_batch=0: must be at least 1", "--tokens: ...") for any value out of range,
// an unreadable TLS file, an incomplete TLS pair or unparseable tokens. Logs a warning on stderr
// for a deprecated flag (--handler_threads: use --max_pollers). A malformed environment variable
// never reaches here: common/env.h exits 2 naming it while the flags are defined.
absl::StatusOr<OrderServiceConfig> OrderServiceConfigFromFlags();

}  // namespace orders

// order_service's life: wires the stores, the domain, the relay and the gRPC services from an
// OrderServiceConfig, serves until SIGTERM or SIGINT, then drains and stops every thread it
// started. main() parses the config (config.h) and calls this; tests start the binary.
#pragma once

#include "order_service/config.h"

namespace orders {

// Runs order_service with `config` (valid: from OrderServiceConfigFromFlags) and returns the
// process exit code. The caller must have called common::BlockTerminationSignals() before any
// thread started (this waits for SIGTERM/SIGINT with sigwait).
//
// Start-up: listens at once with readiness NOT_SERVING (liveness SERVING) and retries the
// database every 250 ms until the schema is applied, so a database that is down or read-only at
// start never crash-loops the process; then starts the relay, listener, reaper, projector and
// reconciler (role relay/all), the readiness probe (PingWritable every second) and writes
// config.port_file. Shutdown on SIGTERM/SIGINT: readiness NOT_SERVING, the server drains calls in
// flight (ServerConfig::shutdown_grace), then the background threads stop; returns 0, also when
// the signal came before the database answered.
//
// Returns 1 when the metrics endpoint or the gRPC server cannot start (the port is taken, ...),
// with the reason on stderr.
int RunOrderService(const OrderServiceConfig& config);

}  // namespace orders

// payment_service's life: wires the ledger, the domain and the gRPC services from a
// PaymentServiceConfig, serves until SIGTERM or SIGINT, then drains and stops the reaper.
// main() parses the config (config.h) and calls this; tests start the binary.
#pragma once

#include "payment_service/config.h"

namespace payment_service {

// Runs payment_service with `config` (valid: from PaymentServiceConfigFromFlags) and returns the
// process exit code. The caller must have called common::BlockTerminationSignals() before any
// thread started (this waits for SIGTERM/SIGINT with sigwait).
//
// Start-up: listens at once with readiness NOT_SERVING (liveness SERVING); with store
// "postgres" retries the schema every 250 ms until the database answers, so a database down at
// start never crash-loops the process; then the readiness probe (Ledger::Ready every second),
// config.port_file and the reaper. Shutdown on SIGTERM/SIGINT: the reaper stops, readiness
// NOT_SERVING, calls in flight drain (ServerConfig::shutdown_grace); returns 0, also when the
// signal came before the database answered.
//
// Returns 2 when the metrics endpoint or the gRPC server cannot start (the port is taken, ...),
// with the reason on stderr (as before this split: payment_service's start-up errors are 2).
int RunPaymentService(const PaymentServiceConfig& config);

}  // namespace payment_service

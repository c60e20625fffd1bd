// payment_service: a mock payment provider. Wiring only: the flags and their environment
// fallbacks are in config.cc (deploy/OPERATIONS.md lists them); start-up and shutdown in
// server.cc.
#include <cstdio>
#include <string>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/grpc_server.h"
#include "payment_service/config.h"
#include "payment_service/server.h"

int main(int argc, char** argv) {
  common::BlockTerminationSignals();  // before any thread starts: only the waiter sees SIGTERM
  absl::SetProgramUsageMessage("mock payment provider: payments.v1.PaymentService over gRPC");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<payment_service::PaymentServiceConfig> config =
      payment_service::PaymentServiceConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "payment_service: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  return payment_service::RunPaymentService(*config);
}

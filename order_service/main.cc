// order_service: wiring only. The flags and their environment fallbacks are in config.cc
// (deploy/OPERATIONS.md lists them); start-up and shutdown in server.cc.
#include <cstdio>
#include <string>

#include "absl/flags/parse.h"
#include "common/grpc_server.h"
#include "order_service/config.h"
#include "order_service/server.h"

int main(int argc, char** argv) {
  common::BlockTerminationSignals();  // before any thread starts: only the waiter sees SIGTERM
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<orders::OrderServiceConfig> config = orders::OrderServiceConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "order_service: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  return orders::RunOrderService(*config);
}

// The refusal floor: a gRPC server for orders.v1.OrderService that refuses every CreateOrder at
// once (RESOURCE_EXHAUSTED with `grpc-retry-pushback-ms`, gRFC A6) and does nothing else: no
// admission controller, no interceptor, no log, no database. bench/overload_phase.sh sends it the
// same storm as order_service (400 callers, 100 ms deadlines, the same load generator) so the
// refusal latency of our service can be read against what gRPC itself achieves on the same
// machine in the same run: a figure that travels between machines as a ratio.
//
// Its pushback is order_service's starting one (--admission_pushback default, 100 ms, jittered by
// +-25 %); order_service's then grows with the storm (common/admission.h), this one does not, so
// only the storm's first second (the 400 callers' first calls and their first retries) is the
// same load on both. Bench-only: not a service, not installed.
//
// --bootstrap=ours starts it the way both services start (common::GrpcServer: health, reflection,
// the three interceptors, the thread quota), to tell gRPC's cost from our server set-up's: on 2
// cores, 6 storms each, the onset's p99 measured 8-17 ms bare, 5-29 ms ours and 9-28 ms ours
// with the RPC log: no difference beyond the runs' spread.
//
//   refusal_floor --port=0 --port_file=FILE [--bootstrap=ours [--log_rpcs] [--max_threads=N]]
#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_server.h"
#include "grpcpp/grpcpp.h"
#include "orders/v1/orders.grpc.pb.h"

ABSL_FLAG(int, port, 0, "port on 127.0.0.1 (0: a free one)");
ABSL_FLAG(std::string, port_file, "", "the chosen port is written here once listening");
ABSL_FLAG(int, pushback_ms, 100, "the pushback every refusal asks for, before +-25 % jitter");
ABSL_FLAG(int, max_concurrent_streams, 100, "as order_service's (common::ServerConfig)");
ABSL_FLAG(std::string, bootstrap, "bare",
          "bare: a plain grpc::ServerBuilder; ours: common::GrpcServer as both services start "
          "(health, reflection, interceptors, the thread quota), with --log_rpcs");
ABSL_FLAG(bool, log_rpcs, false, "--bootstrap=ours: one JSON line per RPC on stderr");
ABSL_FLAG(int, max_threads, 0, "--bootstrap=ours: gRPC's thread quota (0: none)");

namespace {

class FloorService final : public orders::v1::OrderService::CallbackService {
 public:
  explicit FloorService(int pushback_ms) : pushback_ms_(pushback_ms) {}

  grpc::ServerUnaryReactor* CreateOrder(grpc::CallbackServerContext* context,
                                        const orders::v1::CreateOrderRequest*,
                                        orders::v1::CreateOrderResponse*) override {
    context->AddTrailingMetadata("grpc-retry-pushback-ms", absl::StrCat(JitteredPushbackMs()));
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "refusal floor"));
    return reactor;
  }

 private:
  int JitteredPushbackMs() {
    absl::MutexLock lock(&mu_);
    return std::uniform_int_distribution<int>(pushback_ms_ * 3 / 4, pushback_ms_ * 5 / 4)(gen_);
  }

  const int pushback_ms_;
  absl::Mutex mu_;
  std::mt19937 gen_{7};
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  FloorService service(absl::GetFlag(FLAGS_pushback_ms));
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (absl::GetFlag(FLAGS_bootstrap) == "ours") {
    common::BlockTerminationSignals();
    common::ServerConfig config;
    config.port = absl::GetFlag(FLAGS_port);
    config.port_file = port_file;
    config.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
    config.max_threads = absl::GetFlag(FLAGS_max_threads);
    config.log_rpcs = absl::GetFlag(FLAGS_log_rpcs);
    config.service_name = "refusal_floor";
    config.error_domain = "floor.example";
    auto server = common::GrpcServer::Start(config, {&service});
    if (!server.ok()) {
      std::fprintf(stderr, "refusal_floor: %s\n", server.status().ToString().c_str());
      return 1;
    }
    std::printf("refusal_floor (ours) listening on 127.0.0.1:%d\n", (*server)->port());
    std::fflush(stdout);
    common::WaitForTerminationSignal();
    return 0;
  }
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", absl::GetFlag(FLAGS_port)),
                           grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             absl::GetFlag(FLAGS_max_concurrent_streams));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "refusal_floor: could not listen\n");
    return 1;
  }
  std::printf("refusal_floor listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  if (!port_file.empty()) common::WritePortFile(port_file, port);
  server->Wait();  // until SIGTERM ends the process: there is nothing to drain
  return 0;
}

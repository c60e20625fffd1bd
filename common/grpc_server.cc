#include "common/grpc_server.h"

#include <signal.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

namespace common {

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const ServerConfig& config, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<GrpcServer> self(new GrpcServer());
  self->config_ = config;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(config.host, ":", config.port),
                           grpc::InsecureServerCredentials(), &self->port_);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.SetMaxSendMessageSize(config.max_message_bytes);
  for (grpc::Service* service : services) builder.RegisterService(service);
  self->server_ = builder.BuildAndStart();
  if (!self->server_ || self->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.host, ":", config.port));
  }
  self->SetServing(false);
  if (!config.port_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees a partial number.
    const std::string tmp = config.port_file + ".tmp";
    { std::ofstream(tmp) << self->port_ << "\n"; }
    std::rename(tmp.c_str(), config.port_file.c_str());
  }
  return self;
}

GrpcServer::~GrpcServer() {
  Shutdown();
}

void GrpcServer::SetServing(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(serving);
}

void GrpcServer::StartReadinessProbe(std::function<bool()> ready, absl::Duration period) {
  probe_ = std::thread([this, ready = std::move(ready), period] {
    while (!stopping_.load()) {
      const bool ok = ready();
      if (!stopping_.load()) SetServing(ok);
      for (absl::Time until = absl::Now() + period; absl::Now() < until && !stopping_.load();) {
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
  });
}

void GrpcServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  if (probe_.joinable()) probe_.join();
  if (!server_) return;
  SetServing(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + config_.shutdown_grace));
  server_->Wait();
}

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace common

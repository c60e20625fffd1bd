#include "common/grpc_server.h"

#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config_check.h"
#include "common/retry_pushback.h"
#include "common/rpc_interceptor.h"
#include "common/unparseable_request.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/support/server_interceptor.h"

namespace common {

namespace {

int ToMillisArg(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

}  // namespace

absl::Status ValidateServerConfig(const ServerConfig& config) {
  const KeepaliveConfig& k = config.keepalive;
  return ConfigCheck()
      .Port("port", config.port)
      .AtLeast("max_message_bytes", config.max_message_bytes, 1)
      .AtLeast("max_pollers", config.max_pollers, 1)
      .AtLeast("max_threads", config.max_threads, 0)
      .AtLeast("max_metadata_bytes", config.max_metadata_bytes, 1024)
      .AtLeast("max_concurrent_streams", config.max_concurrent_streams, 1)
      .AtLeast("max_ping_strikes", config.keepalive.max_ping_strikes, 0)
      .NotNegative("shutdown_grace", config.shutdown_grace)
      .Positive("keepalive_time", k.time, /*allow_infinite=*/true)
      .Positive("keepalive_timeout", k.timeout)
      .Positive("keepalive_min_client_interval", k.min_client_ping_interval)
      .Positive("max_connection_idle", k.max_connection_idle, /*allow_infinite=*/true)
      .Positive("max_connection_age", k.max_connection_age, /*allow_infinite=*/true)
      .NotNegative("max_connection_age_grace", k.max_connection_age_grace)
      .Requires("tls_key", !config.tls.key_file.empty(), "tls_cert", config.tls.enabled())
      .Requires("tls_cert", config.tls.enabled(), "tls_key", !config.tls.key_file.empty())
      .Requires("tls_client_ca", !config.tls.client_ca_file.empty(), "tls_cert",
                config.tls.enabled())
      .ReadableFile("tls_cert", config.tls.cert_file)
      .ReadableFile("tls_key", config.tls.key_file)
      .ReadableFile("tls_client_ca", config.tls.client_ca_file)
      .Status();
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const ServerConfig& config, const std::vector<grpc::Service*>& services) {
  if (absl::Status s = ValidateServerConfig(config); !s.ok()) return s;
  auto credentials = MakeServerCredentials(config.tls);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<GrpcServer> self(new GrpcServer());
  self->config_ = config;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(config.host, ":", config.port), *credentials, &self->port_);
  // Keep idle handler threads instead of ending them: with gRPC's default (2 idle) the
  // synchronous server ends and re-creates a thread for about every third call under load.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              config.max_pollers);
  if (config.max_threads > 0) {
    grpc::ResourceQuota quota(absl::StrCat(config.service_name, "-threads"));
    quota.SetMaxThreads(config.max_threads);
    builder.SetResourceQuota(quota);
  }
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.SetMaxSendMessageSize(config.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, config.max_metadata_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams);
  const KeepaliveConfig& k = config.keepalive;
  if (k.time != absl::InfiniteDuration()) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ToMillisArg(k.time));
  }
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ToMillisArg(k.timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             ToMillisArg(k.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, k.max_ping_strikes);
  if (k.max_connection_idle != absl::InfiniteDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ToMillisArg(k.max_connection_idle));
  }
  if (k.max_connection_age != absl::InfiniteDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, ToMillisArg(k.max_connection_age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               ToMillisArg(k.max_connection_age_grace));
  }
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  // First, so the observer counts and logs the answer the caller gets.
  creators.push_back(NewUnparseableRequestFactory(config.error_domain));
  creators.push_back(NewRetryPushbackFactory());
  if (config.metrics != nullptr || config.log_rpcs) {
    creators.push_back(NewRpcObserverFactory(
        {.metrics = config.metrics, .log_rpcs = config.log_rpcs, .service = config.service_name}));
  }
  builder.experimental().SetInterceptorCreators(std::move(creators));
  for (grpc::Service* service : services) builder.RegisterService(service);
  self->server_ = builder.BuildAndStart();
  if (!self->server_ || self->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.host, ":", config.port));
  }
  self->SetServing(false);
  if (auto* health = self->server_->GetHealthCheckService()) {
    health->SetServingStatus(kLivenessHealthName, true);
  }
  if (!config.port_file.empty()) WritePortFile(config.port_file, self->port_);
  return self;
}

GrpcServer::~GrpcServer() { Shutdown(); }

void GrpcServer::SetServing(bool serving) {
  // Readiness only: the one-argument setter would flip liveness as well.
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus("", serving);
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
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(false);  // all
  server_->Shutdown(absl::ToChronoTime(absl::Now() + config_.shutdown_grace));
  server_->Wait();
}

void WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  { std::ofstream(tmp) << port << "\n"; }
  std::rename(tmp.c_str(), path.c_str());
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

int PollTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  const timespec zero{0, 0};
  const int sig = sigtimedwait(&set, nullptr, &zero);
  return sig > 0 ? sig : 0;
}

int RetryUntilDone(const char* what, const std::function<absl::Status()>& attempt,
                   absl::Duration period) {
  std::string last;
  while (true) {
    absl::Status s = attempt();
    if (s.ok()) return 0;
    if (s.ToString() != last) {
      last = s.ToString();
      std::fprintf(stderr, "%s: waiting: %s\n", what, last.c_str());
    }
    for (absl::Time until = absl::Now() + period; absl::Now() < until;) {
      if (int sig = PollTerminationSignal(); sig != 0) return sig;
      absl::SleepFor(std::min(period, absl::Milliseconds(50)));
    }
  }
}

}  // namespace common

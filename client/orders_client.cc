#include "client/orders_client.h"

#include <openssl/rand.h>

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/client_context.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "common/rpc_interceptor.h"
#include "common/status_mapper.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/validate_service_config.h"

namespace orders_client {

std::string NewIdempotencyKey() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // OpenSSL's generator failing is exceptional; fall back to Abseil's OS-seeded one.
    absl::BitGen gen;
    for (unsigned char& b : bytes) b = absl::Uniform<unsigned char>(gen);
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

bool IsRetryable(absl::StatusCode code) { return common::IsTransient(code); }

bool IsRetryable(const absl::Status& status) { return common::IsTransient(status); }

absl::Duration RetryDelayOf(const absl::Status& status) { return common::RetryDelayOf(status); }

std::optional<absl::Duration> PushbackOf(const grpc::ClientContext& context) {
  const auto& md = context.GetServerTrailingMetadata();
  auto it = md.find(common::kRetryPushbackHeader);
  if (it == md.end()) return std::nullopt;
  int64_t ms = 0;
  if (!absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &ms) || ms < 0) {
    return absl::Milliseconds(-1);
  }
  return absl::Milliseconds(ms);
}

void OrdersClient::RecordOutcome(bool transient_failure) {
  const ClientOptions::RetryThrottle& t = options_.retry_throttle;
  if (t.max_tokens <= 0) return;
  absl::MutexLock lock(&throttle_mu_);
  tokens_ = transient_failure ? std::max(0.0, tokens_ - 1)
                              : std::min(t.max_tokens, tokens_ + t.token_ratio);
}

bool OrdersClient::RetryAllowed() const {
  const ClientOptions::RetryThrottle& t = options_.retry_throttle;
  if (t.max_tokens <= 0) return true;
  absl::MutexLock lock(&throttle_mu_);
  return tokens_ > t.max_tokens / 2;
}

absl::StatusOr<std::unique_ptr<OrdersClient>> OrdersClient::Create(const ClientOptions& options) {
  if (options.attempt_timeout <= absl::ZeroDuration() ||
      options.overall_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("attempt and overall timeouts must be positive");
  }
  if (options.max_attempts < 0) return absl::InvalidArgumentError("max_attempts must be >= 0");
  std::unique_ptr<OrdersClient> client(new OrdersClient(options));
  client->channel_ = options.channel;
  if (!client->channel_) {
    if (options.target.empty()) return absl::InvalidArgumentError("no target address");
    grpc::ChannelArguments args;
    if (!options.lb_policy.empty()) args.SetLoadBalancingPolicyName(options.lb_policy);
    if (!options.service_config_json.empty()) {
      const std::string error =
          grpc::experimental::ValidateServiceConfigJSON(options.service_config_json);
      if (!error.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("invalid service config: ", error));
      }
      args.SetServiceConfigJSON(options.service_config_json);
    }
    // Come back quickly after a server restart; the default backoff grows to two minutes. The
    // minimum backoff is also gRPC's connect timeout: keep it long enough for a slow handshake.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    // Detect dead connections while calls are in flight (the servers allow pings every 10 s).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    common::ApplyTlsChannelArgs(options.tls, &args);
    auto credentials = common::MakeChannelCredentials(options.tls);
    if (!credentials.ok()) return credentials.status();
    client->channel_ = grpc::CreateCustomChannel(options.target, *credentials, args);
  }
  client->orders_ = orders::v1::OrderService::NewStub(client->channel_);
  client->admin_ = orders::v1::OutboxAdmin::NewStub(client->channel_);
  return client;
}

absl::Status OrdersClient::Call(bool mutating, const OperationOptions& op, const Attempt& attempt) {
  std::string key = op.idempotency_key;
  if (mutating && key.empty()) key = NewIdempotencyKey();
  CallInfo local;
  CallInfo& info = op.info ? *op.info : local;
  info = CallInfo{};
  info.idempotency_key = mutating ? key : "";

  const absl::Duration total =
      op.timeout > absl::ZeroDuration() ? op.timeout : options_.overall_timeout;
  const absl::Time deadline = absl::Now() + total;
  absl::BitGen gen;
  for (int n = 1;; ++n) {
    const absl::Time now = absl::Now();
    const absl::Duration timeout = std::min(options_.attempt_timeout, deadline - now);
    auto context = common::NewClientContext(
        {.timeout = timeout,
         .idempotency_key = mutating ? absl::string_view(key) : absl::string_view(),
         .bearer_token = options_.token});
    context->AddMetadata(common::kAttemptHeader, absl::StrCat(n));
    const grpc::Status status = attempt(*context);
    info.attempts = n;
    const auto& md = context->GetServerInitialMetadata();
    auto it = md.find(common::kReplayedHeader);
    info.replayed = it != md.end() && it->second == "true";
    absl::Status error = common::FromGrpcStatus(status);
    RecordOutcome(!status.ok() && IsRetryable(error));
    if (status.ok()) return absl::OkStatus();

    if (!IsRetryable(error)) return error;
    if (options_.max_attempts > 0 && n >= options_.max_attempts) return error;
    const std::optional<absl::Duration> pushback = PushbackOf(*context);
    if (pushback && *pushback < absl::ZeroDuration()) return error;  // the server said: don't
    if (!RetryAllowed()) {
      info.throttled = true;
      return error;
    }
    const absl::Duration wait =
        pushback
            ? *pushback
            : std::max(common::FullJitterBackoff(options_.backoff, n, gen), RetryDelayOf(error));
    if (absl::Now() + wait >= deadline) return error;
    absl::SleepFor(wait);
  }
}

absl::StatusOr<orders::v1::Order> OrdersClient::CreateOrder(
    const orders::v1::CreateOrderRequest& request, const OperationOptions& op) {
  orders::v1::CreateOrderResponse response;
  absl::Status s = Call(true, op, [&](grpc::ClientContext& context) {
    return orders_->CreateOrder(&context, request, &response);
  });
  if (!s.ok()) return s;
  return response.order();
}

absl::StatusOr<orders::v1::Order> OrdersClient::GetOrder(int64_t id, const OperationOptions& op) {
  orders::v1::GetOrderRequest request;
  request.set_id(id);
  orders::v1::Order order;
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return orders_->GetOrder(&context, request, &order);
  });
  if (!s.ok()) return s;
  return order;
}

absl::StatusOr<orders::v1::ListOrdersResponse> OrdersClient::ListOrders(
    const orders::v1::ListOrdersRequest& request, const OperationOptions& op) {
  orders::v1::ListOrdersResponse response;
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return orders_->ListOrders(&context, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<orders::v1::Order> OrdersClient::CancelOrder(int64_t id, const std::string& reason,
                                                            const OperationOptions& op) {
  orders::v1::CancelOrderRequest request;
  request.set_id(id);
  request.set_reason(reason);
  orders::v1::CancelOrderResponse response;
  absl::Status s = Call(true, op, [&](grpc::ClientContext& context) {
    return orders_->CancelOrder(&context, request, &response);
  });
  if (!s.ok()) return s;
  return response.order();
}

absl::StatusOr<orders::v1::Order> OrdersClient::SetShippingAddress(
    int64_t id, const orders::v1::ShippingAddress& address, const OperationOptions& op) {
  orders::v1::SetShippingAddressRequest request;
  request.set_id(id);
  *request.mutable_address() = address;
  orders::v1::Order order;
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return orders_->SetShippingAddress(&context, request, &order);
  });
  if (!s.ok()) return s;
  return order;
}

absl::StatusOr<orders::v1::OrderAnalytics> OrdersClient::GetOrderAnalytics(
    const std::string& customer_id, const OperationOptions& op) {
  orders::v1::GetOrderAnalyticsRequest request;
  request.set_customer_id(customer_id);
  orders::v1::OrderAnalytics analytics;
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return orders_->GetOrderAnalytics(&context, request, &analytics);
  });
  if (!s.ok()) return s;
  return analytics;
}

absl::StatusOr<orders::v1::ImportChunk> OrdersClient::PutImportChunk(
    const orders::v1::PutImportChunkRequest& request, const OperationOptions& op) {
  orders::v1::ImportChunk chunk;
  // The chunk's name is its key: no idempotency-key header is needed to retry it safely.
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return orders_->PutImportChunk(&context, request, &chunk);
  });
  if (!s.ok()) return s;
  return chunk;
}

absl::StatusOr<orders::v1::ImportSummary> OrdersClient::CommitImport(const std::string& import_id,
                                                                     int chunk_count,
                                                                     const OperationOptions& op) {
  orders::v1::CommitImportRequest request;
  request.set_import_id(import_id);
  request.set_chunk_count(chunk_count);
  orders::v1::ImportSummary summary;
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return orders_->CommitImport(&context, request, &summary);
  });
  if (!s.ok()) return s;
  return summary;
}

absl::StatusOr<orders::v1::ImportSummary> OrdersClient::ImportOrders(
    const std::string& import_id, const std::vector<orders::v1::CreateOrderRequest>& orders,
    int chunk_size, const OperationOptions& op) {
  if (import_id.empty()) return absl::InvalidArgumentError("import_id must not be empty");
  if (chunk_size < 1) return absl::InvalidArgumentError("chunk_size must be at least 1");
  if (orders.empty()) return absl::InvalidArgumentError("nothing to import");
  int chunks = 0;
  for (size_t begin = 0; begin < orders.size(); begin += chunk_size, ++chunks) {
    orders::v1::PutImportChunkRequest request;
    request.set_import_id(import_id);
    request.set_chunk_index(chunks);
    for (size_t i = begin; i < std::min(orders.size(), begin + chunk_size); ++i) {
      *request.add_orders() = orders[i];
    }
    auto chunk = PutImportChunk(request, op);
    if (!chunk.ok()) return chunk.status();
  }
  return CommitImport(import_id, chunks, op);
}

absl::StatusOr<orders::v1::ListOutboxEventsResponse> OrdersClient::ListOutboxEvents(
    const orders::v1::ListOutboxEventsRequest& request, const OperationOptions& op) {
  orders::v1::ListOutboxEventsResponse response;
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return admin_->ListOutboxEvents(&context, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<int64_t> OrdersClient::RequeueOutboxEvents(
    const orders::v1::RequeueOutboxEventsRequest& request, const OperationOptions& op) {
  orders::v1::RequeueOutboxEventsResponse response;
  // Re-queueing DEAD events is idempotent by nature (a second pass finds them PENDING).
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return admin_->RequeueOutboxEvents(&context, request, &response);
  });
  if (!s.ok()) return s;
  return response.requeued();
}

absl::StatusOr<orders::v1::OutboxStats> OrdersClient::GetOutboxStats(const OperationOptions& op) {
  orders::v1::GetOutboxStatsRequest request;
  orders::v1::OutboxStats stats;
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return admin_->GetOutboxStats(&context, request, &stats);
  });
  if (!s.ok()) return s;
  return stats;
}

absl::StatusOr<orders::v1::ReconcileReport> OrdersClient::Reconcile(bool repair,
                                                                    const OperationOptions& op) {
  orders::v1::ReconcileRequest request;
  request.set_repair(repair);
  orders::v1::ReconcileReport report;
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return admin_->Reconcile(&context, request, &report);
  });
  if (!s.ok()) return s;
  return report;
}

absl::Status OrdersClient::CheckHealth(const std::string& service, const OperationOptions& op) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  absl::Status s = Call(false, op, [&](grpc::ClientContext& context) {
    return stub->Check(&context, request, &response);
  });
  if (!s.ok()) return s;
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat(
        "health: ", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())));
  }
  return absl::OkStatus();
}

}  // namespace orders_client

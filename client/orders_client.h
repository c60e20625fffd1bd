// orders_client: a C++ client for orders.v1 that makes retries safe for you, the way Stripe's
// libraries do.
//
// - Every mutating logical operation (CreateOrder, CancelOrder) gets an idempotency key, random
//   128-bit hex, generated once and sent unchanged on every retry (or pass your own).
// - Transient answers (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED) are retried
//   with exponential backoff and full jitter (common/backoff.h) under one overall deadline; a
//   server's google.rpc.RetryInfo delay is honoured as the minimum wait, and its pushback
//   (`grpc-retry-pushback-ms` trailer, gRFC A6) replaces the backoff: the next try comes exactly
//   that much later (a negative or malformed pushback: no retry).
// - Retries need not make a storm: an optional retry throttle per client (gRFC A6
//   retryThrottling; e.g. the tokens and ratio of deploy/service_config.json, 10 and 0.1) stops
//   retrying once most recent calls failed; each transient failure costs a token, each success
//   earns token_ratio back, and a retry is made only while more than half the tokens remain. The
//   caller then gets the last error at once. Off by default: during a failover or a read-only
//   primary every call fails for seconds, and a throttled client would hand those failures to
//   its callers instead of carrying the orders through (pushback and backoff still pace it).
// - Deterministic answers (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, ...) are never
//   retried, nor is gRPC's RESOURCE_EXHAUSTED for a message over the size limit (see
//   common::IsMessageTooLarge): the same message is refused every time.
// - Reads and SetShippingAddress (declarative) are retried the same way; they need no key.
//
//   orders_client::ClientOptions options;
//   options.target = "127.0.0.1:50051";        // or "ipv4:10.0.0.1:50051,10.0.0.2:50051"
//   auto client = orders_client::OrdersClient::Create(options);
//   orders::v1::CreateOrderRequest request = ...;
//   orders_client::CallInfo info;
//   absl::StatusOr<orders::v1::Order> order = (*client)->CreateOrder(request, {.info = &info});
//
// Thread-safe: one client (one channel) can be shared by many threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "common/tls.h"
#include "orders/v1/orders.grpc.pb.h"

namespace grpc {
class Channel;
}

namespace orders_client {

struct ClientOptions {
  // A gRPC target: "host:port", "dns:///orders.example.com:50051", or a static list
  // "ipv4:127.0.0.1:50051,127.0.0.1:50061" (balanced by lb_policy).
  std::string target = "127.0.0.1:50051";
  std::string token;            // sent as `authorization: Bearer <token>` when set
  common::ClientTlsConfig tls;  // tls.enabled for TLS; cert/key for mTLS
  // "round_robin" spreads calls over every address the target resolves to (API replicas);
  // "pick_first" uses one. Ignored when service_config_json names a policy itself.
  std::string lb_policy = "round_robin";
  // An optional gRPC service config (e.g. deploy/service_config.json). Its retryPolicy retries
  // inside one attempt of this client; keep it or leave it empty, the client retries anyway.
  std::string service_config_json;

  absl::Duration attempt_timeout = absl::Seconds(5);   // deadline of each try
  absl::Duration overall_timeout = absl::Seconds(30);  // all tries of one operation
  int max_attempts = 10;                               // 0: until the overall deadline
  common::BackoffPolicy backoff{absl::Milliseconds(50), absl::Seconds(2), 2.0};
  // gRFC A6 retry throttling, shared by every operation of this client; max_tokens 0: off
  // (the default; see above).
  struct RetryThrottle {
    double max_tokens = 0;
    double token_ratio = 0.1;
  } retry_throttle;

  // Use this channel instead of creating one (tests, shared channels).
  std::shared_ptr<grpc::Channel> channel;
};

// What happened during one logical operation.
struct CallInfo {
  std::string idempotency_key;  // the key used on every try (empty for reads)
  int attempts = 0;             // tries made
  bool throttled = false;       // a retry was due but the retry throttle withheld it
  bool replayed = false;        // the answer was a replay (idempotent-replayed: true)
};

// Per-operation options.
struct OperationOptions {
  std::string idempotency_key;                    // empty: generated (mutating calls only)
  absl::Duration timeout = absl::ZeroDuration();  // zero: ClientOptions::overall_timeout
  CallInfo* info = nullptr;                       // filled when set
};

// Random 128-bit hex (32 characters) from a cryptographic source.
std::string NewIdempotencyKey();

class OrdersClient {
 public:
  // INVALID_ARGUMENT for a bad service config or unreadable TLS files.
  static absl::StatusOr<std::unique_ptr<OrdersClient>> Create(const ClientOptions& options);

  absl::StatusOr<orders::v1::Order> CreateOrder(const orders::v1::CreateOrderRequest& request,
                                                const OperationOptions& op = {});
  absl::StatusOr<orders::v1::Order> GetOrder(int64_t id, const OperationOptions& op = {});
  absl::StatusOr<orders::v1::ListOrdersResponse> ListOrders(
      const orders::v1::ListOrdersRequest& request, const OperationOptions& op = {});
  absl::StatusOr<orders::v1::Order> CancelOrder(int64_t id, const std::string& reason,
                                                const OperationOptions& op = {});
  absl::StatusOr<orders::v1::Order> SetShippingAddress(int64_t id,
                                                       const orders::v1::ShippingAddress& address,
                                                       const OperationOptions& op = {});

  // The customer's eventually consistent figures (see OrderAnalytics.as_of).
  absl::StatusOr<orders::v1::OrderAnalytics> GetOrderAnalytics(const std::string& customer_id,
                                                               const OperationOptions& op = {});
  // Bulk import: each chunk is named by (import_id, chunk_index), which is its key, so a retry
  // of a chunk replays it; CommitImport creates every order of chunks 0..chunk_count-1 once.
  absl::StatusOr<orders::v1::ImportChunk> PutImportChunk(
      const orders::v1::PutImportChunkRequest& request, const OperationOptions& op = {});
  absl::StatusOr<orders::v1::ImportSummary> CommitImport(const std::string& import_id,
                                                         int chunk_count,
                                                         const OperationOptions& op = {});
  // Splits `orders` into chunks of `chunk_size`, puts each (retried alone on transient errors)
  // and commits. Running it again with the same import_id and orders finishes an interrupted
  // import without creating anything twice. `op.timeout` bounds each call; `op.info` describes
  // the last call made (on an error, the call that failed). A chunk_size over 1,000 is
  // INVALID_ARGUMENT from the server (FieldViolation "orders").
  absl::StatusOr<orders::v1::ImportSummary> ImportOrders(
      const std::string& import_id, const std::vector<orders::v1::CreateOrderRequest>& orders,
      int chunk_size = 100, const OperationOptions& op = {});

  // orders.v1.OutboxAdmin (operators).
  absl::StatusOr<orders::v1::ListOutboxEventsResponse> ListOutboxEvents(
      const orders::v1::ListOutboxEventsRequest& request, const OperationOptions& op = {});
  absl::StatusOr<int64_t> RequeueOutboxEvents(const orders::v1::RequeueOutboxEventsRequest& request,
                                              const OperationOptions& op = {});
  absl::StatusOr<orders::v1::OutboxStats> GetOutboxStats(const OperationOptions& op = {});
  // OutboxAdmin.Reconcile: orders against the payment ledger; `repair` fixes what is safe. Not
  // retried (a pass is long and a repeat is no help to a person reading its answer).
  absl::StatusOr<orders::v1::ReconcileReport> Reconcile(bool repair,
                                                        const OperationOptions& op = {});

  // grpc.health.v1: OK when the server reports SERVING for `service` ("" = the whole server).
  absl::Status CheckHealth(const std::string& service = "", const OperationOptions& op = {});

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const ClientOptions& options() const { return options_; }

  // The retry loop, public so other stubs on this channel can use it: runs `attempt(context)`
  // (context carries the deadline, key, token and attempt number) until it succeeds, fails
  // deterministically, or the overall deadline / attempt budget is spent.
  using Attempt = std::function<grpc::Status(grpc::ClientContext& context)>;
  absl::Status Call(bool mutating, const OperationOptions& op, const Attempt& attempt);

 private:
  explicit OrdersClient(const ClientOptions& options)
      : options_(options), tokens_(options.retry_throttle.max_tokens) {}

  // The retry throttle: records an attempt's outcome; whether a retry may be made now.
  void RecordOutcome(bool transient_failure);
  bool RetryAllowed() const;

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<orders::v1::OrderService::Stub> orders_;
  std::unique_ptr<orders::v1::OutboxAdmin::Stub> admin_;
  mutable absl::Mutex throttle_mu_;
  double tokens_ ABSL_GUARDED_BY(throttle_mu_);
};

// The server's pushback on a finished call (gRFC A6 `grpc-retry-pushback-ms`): nullopt when the
// trailer is absent; a negative duration when it is present but negative or not a number (the
// server asks not to retry).
std::optional<absl::Duration> PushbackOf(const grpc::ClientContext& context);

// The smallest wait a status asks for through google.rpc.RetryInfo, or zero.
absl::Duration RetryDelayOf(const absl::Status& status);

// Whether the client retries this code (the transient ones).
bool IsRetryable(absl::StatusCode code);
// Whether the client retries this answer: a transient code, except gRPC's RESOURCE_EXHAUSTED for
// a message over the size limit (common::IsMessageTooLarge), which no retry changes.
bool IsRetryable(const absl::Status& status);

}  // namespace orders_client

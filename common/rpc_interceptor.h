// The server interceptor that observes every RPC of a server: Prometheus figures (count by method
// and code, latency, in-flight, idempotent replays, key conflicts) and one JSON log line per call:
//   {"time":"...","service":"order_service","method":"/orders.v1.OrderService/CreateOrder",
//    "code":"OK","latency_ms":3.214,"peer":"ipv4:127.0.0.1:41234","key_hash":"9f86d081884c",
//    "replayed":false,"order_id":17,"attempt":1}
// The idempotency key is logged only as common::ShortHash; tokens and bodies are never logged.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/logging.h"

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}

namespace common {

class Metrics;

struct RpcObserverOptions {
  Metrics* metrics = nullptr;  // not owned; outlives the server
  bool log_rpcs = false;
  std::string service;  // "service" field of each line, e.g. "order_service"
  // Health checks are counted but not logged unless this is set (probes run every few seconds).
  bool log_health_checks = false;
  LogSink sink;  // default: stderr
};

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcObserverFactory(
    RpcObserverOptions options);

// What one finished call looked like; what the log line is made of.
struct RpcRecord {
  absl::Time time;
  std::string service;
  std::string method;
  int code = 0;
  absl::Duration latency;
  std::string peer;
  std::string peer_identity;  // TLS client certificate identity, when authenticated
  std::string key_hash;       // empty without an idempotency key
  bool replayed = false;
  int64_t order_id = 0;  // 0 when the response names no order
  int attempt = 0;       // 0 when the client did not say
  std::string reason;    // ErrorInfo reason of an error; ANSWERED_AFTER_DEADLINE (below)
  // When the caller's deadline had passed before the answer: the code the handler answered,
  // while `code` is DEADLINE_EXCEEDED (what the caller saw). -1 otherwise.
  int server_code = -1;
  // The caller's time left when the call reached the handler (field deadline_left_ms; left out
  // without a deadline): a caller's timeout minus this is how long the call waited inside the
  // server before any of our code ran (transport and thread pickup, under a storm the bulk).
  absl::Duration deadline_left = absl::InfiniteDuration();
};
std::string FormatRpcLogLine(const RpcRecord& record);

// The code a caller saw for a call the handler answered with `server_code` at `now`: past the
// caller's `deadline`, DEADLINE_EXCEEDED (its own gRPC ended the call), else `server_code`.
// Metrics and logs count this code, so a late OK is never counted as OK.
int TruthfulCode(int server_code, absl::Time deadline, absl::Time now);

// The ErrorInfo reason inside a serialized google.rpc.Status (grpc-status-details-bin), or "".
std::string ErrorReasonFromDetails(const std::string& status_details);

// Whether a finished call was refused for a key conflict, and under which reason label:
// IDEMPOTENCY_KEY_REUSED / IDEMPOTENCY_KEY_IN_USE from ErrorInfo; without ErrorInfo, a
// FAILED_PRECONDITION or ABORTED answer to a call that carried a key. "" otherwise.
std::string KeyConflictReason(int code, absl::string_view error_reason, bool had_key);

// The client's attempt header, set by the client library on every try (1-based).
inline constexpr char kAttemptHeader[] = "x-attempt";

// Where each method's response names its order, for the RPC log's order_id: a path of field
// numbers ending at an int64 (e.g. {1, 1} for CreateOrderResponse.order.id, {2} for
// Charge.order_id; empty: the response names none). Found once per method through the generated
// descriptor pool, then cached. Thread-safe.
class OrderIdPaths {
 public:
  // The path for a full method name ("/orders.v1.OrderService/CreateOrder"). The reference stays
  // valid, and its vector unchanged, for the life of this object, whatever other methods are
  // added meanwhile: callers read it outside the lock while other threads meet new methods. (A
  // flat hash map moves its values when it grows; an order_service died of that, reading a moved
  // path while a call of a method not seen before grew the map.)
  const std::vector<int>& For(const std::string& method);

 private:
  absl::Mutex mu_;
  // Node-based: values never move, so the references For returns stay valid.
  absl::node_hash_map<std::string, std::vector<int>> paths_ ABSL_GUARDED_BY(mu_);
};

}  // namespace common

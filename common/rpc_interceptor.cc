#include "common/rpc_interceptor.h"

#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "common/metrics.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_interceptor.h"

namespace common {

std::string FormatRpcLogLine(const RpcRecord& r) {
  JsonLine line;
  line.Time("time", r.time);
  if (!r.service.empty()) line.Str("service", r.service);
  line.Str("method", r.method)
      .Str("code", GrpcCodeName(r.code))
      .Num("latency_ms", absl::ToDoubleMilliseconds(r.latency))
      .Str("peer", r.peer);
  if (!r.peer_identity.empty()) line.Str("peer_identity", r.peer_identity);
  if (!r.key_hash.empty()) line.Str("key_hash", r.key_hash);
  line.Bool("replayed", r.replayed);
  if (r.order_id != 0) line.Int("order_id", r.order_id);
  if (r.attempt > 0) line.Int("attempt", r.attempt);
  if (!r.reason.empty()) line.Str("reason", r.reason);
  if (r.server_code >= 0) line.Str("server_code", GrpcCodeName(r.server_code));
  if (r.deadline_left != absl::InfiniteDuration()) {
    line.Num("deadline_left_ms", absl::ToDoubleMilliseconds(r.deadline_left));
  }
  return line.Build();
}

int TruthfulCode(int server_code, absl::Time deadline, absl::Time now) {
  constexpr int kDeadlineExceeded = 4;
  return now > deadline ? kDeadlineExceeded : server_code;
}

std::string ErrorReasonFromDetails(const std::string& status_details) {
  if (status_details.empty()) return "";
  google::rpc::Status status;
  if (!status.ParseFromString(status_details)) return "";
  for (const auto& any : status.details()) {
    if (any.type_url() != kErrorInfoUrl) continue;
    google::rpc::ErrorInfo info;
    if (info.ParseFromString(any.value())) return info.reason();
  }
  return "";
}

std::string KeyConflictReason(int code, absl::string_view error_reason, bool had_key) {
  if (error_reason == kKeyReusedReason || error_reason == kKeyInUseReason) {
    return std::string(error_reason);
  }
  constexpr int kFailedPrecondition = 9, kAborted = 10;
  if (error_reason.empty() && had_key && (code == kFailedPrecondition || code == kAborted)) {
    return GrpcCodeName(code);
  }
  return "";
}

namespace {

namespace pb = google::protobuf;
using grpc::experimental::InterceptionHookPoints;

// Where a response names its order: a path of field numbers ending at an int64, e.g.
// CreateOrderResponse.order(1).id(1), Order.id(1) or Charge.order_id(2). Found through the
// generated descriptor pool, so it works for any service linked into the binary.
std::vector<int> OrderIdPath(absl::string_view method) {
  auto [service, name] = SplitGrpcMethod(method);
  const pb::MethodDescriptor* m =
      pb::DescriptorPool::generated_pool()->FindMethodByName(absl::StrCat(service, ".", name));
  if (m == nullptr) return {};
  const pb::Descriptor* out = m->output_type();
  auto is_int64 = [](const pb::FieldDescriptor* f) {
    return f && !f->is_repeated() &&
           (f->type() == pb::FieldDescriptor::TYPE_INT64 ||
            f->type() == pb::FieldDescriptor::TYPE_UINT64);
  };
  if (const auto* f = out->FindFieldByName("order_id"); is_int64(f)) return {f->number()};
  auto order_like = [](const pb::Descriptor* d) {
    return d->name() == "Order" && d->FindFieldByName("id") != nullptr;
  };
  if (order_like(out)) {
    if (const auto* f = out->FindFieldByName("id"); is_int64(f)) return {f->number()};
  }
  if (const auto* f = out->FindFieldByName("order");
      f && !f->is_repeated() && f->type() == pb::FieldDescriptor::TYPE_MESSAGE &&
      order_like(f->message_type())) {
    if (const auto* id = f->message_type()->FindFieldByName("id"); is_int64(id)) {
      return {f->number(), id->number()};
    }
  }
  return {};
}

// Reads the varint at `path` from serialized protobuf bytes without parsing the whole message.
bool ReadPath(pb::io::CodedInputStream* in, const std::vector<int>& path, size_t depth,
              int64_t* value) {
  while (true) {
    const uint32_t tag = in->ReadTag();
    if (tag == 0) return false;
    const int number = pb::internal::WireFormatLite::GetTagFieldNumber(tag);
    const auto wire = pb::internal::WireFormatLite::GetTagWireType(tag);
    if (number == path[depth]) {
      if (depth + 1 == path.size() && wire == pb::internal::WireFormatLite::WIRETYPE_VARINT) {
        uint64_t v = 0;
        if (!in->ReadVarint64(&v)) return false;
        *value = static_cast<int64_t>(v);
        return true;
      }
      if (depth + 1 < path.size() &&
          wire == pb::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
        uint32_t length = 0;
        if (!in->ReadVarint32(&length)) return false;
        const auto limit = in->PushLimit(static_cast<int>(length));
        const bool found = ReadPath(in, path, depth + 1, value);
        in->PopLimit(limit);
        if (found) return true;
        continue;
      }
    }
    if (!pb::internal::WireFormatLite::SkipField(in, tag)) return false;
  }
}

class RpcObserverFactory;

class RpcObserver : public grpc::experimental::Interceptor {
 public:
  RpcObserver(RpcObserverFactory* factory, grpc::experimental::ServerRpcInfo* info);
  ~RpcObserver() override;
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override;

 private:
  void Finish(int code, const std::string& details);

  RpcObserverFactory* factory_;
  grpc::experimental::ServerRpcInfo* info_;
  const std::string method_;
  const absl::Time start_ = absl::Now();
  std::string key_hash_;
  int attempt_ = 0;
  bool replayed_ = false;
  int64_t order_id_ = 0;
  std::string peer_, peer_identity_;
  absl::Time deadline_ = absl::InfiniteFuture();
  bool finished_ = false;
};

class RpcObserverFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcObserverFactory(RpcObserverOptions options) : options_(std::move(options)) {
    if (!options_.sink) options_.sink = WriteLogLine;
  }
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcObserver(this, info);
  }
  const RpcObserverOptions& options() const { return options_; }

  bool ShouldLog(absl::string_view method) const {
    if (!options_.log_rpcs) return false;
    return options_.log_health_checks || !absl::StartsWith(method, "/grpc.health.v1.Health/");
  }

  const std::vector<int>& OrderIdPathFor(const std::string& method) {
    return order_id_paths_.For(method);
  }

 private:
  RpcObserverOptions options_;
  OrderIdPaths order_id_paths_;
};

RpcObserver::RpcObserver(RpcObserverFactory* factory, grpc::experimental::ServerRpcInfo* info)
    : factory_(factory), info_(info), method_(info->method() ? info->method() : "") {
  if (Metrics* m = factory_->options().metrics) m->RpcStarted(method_);
}

RpcObserver::~RpcObserver() {
  // A call torn down without a status (client went away first) still leaves in-flight.
  if (!finished_) Finish(/*CANCELLED=*/1, "");
}

void RpcObserver::Intercept(grpc::experimental::InterceptorBatchMethods* methods) {
  if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
    // The context is read here, while the call is alive (not in the destructor).
    grpc::ServerContextBase* context = info_->server_context();
    if (context != nullptr) deadline_ = absl::FromChrono(context->deadline());
    if (context != nullptr && factory_->ShouldLog(method_)) {
      peer_ = context->peer();
      if (auto auth = context->auth_context(); auth && auth->IsPeerAuthenticated()) {
        for (const auto& id : auth->GetPeerIdentity()) {
          if (!peer_identity_.empty()) peer_identity_ += ",";
          peer_identity_.append(id.data(), id.size());
        }
      }
    }
    if (auto* md = methods->GetRecvInitialMetadata()) {
      for (const auto& [k, v] : *md) {
        const absl::string_view key(k.data(), k.size()), value(v.data(), v.size());
        if (key == kIdempotencyKeyHeader && key_hash_.empty()) {
          key_hash_ = ShortHash(value);
        } else if (key == kAttemptHeader) {
          int n = 0;
          if (absl::SimpleAtoi(value, &n)) attempt_ = n;
        } else if (key == "grpc-previous-rpc-attempts" && attempt_ == 0) {
          int n = 0;
          if (absl::SimpleAtoi(value, &n)) attempt_ = n + 1;
        }
      }
    }
  }
  if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
    if (auto* md = methods->GetSendInitialMetadata()) {
      auto it = md->find(kReplayedHeader);
      if (it != md->end() && it->second == "true") replayed_ = true;
    }
  }
  if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE) &&
      order_id_ == 0 && factory_->ShouldLog(method_)) {
    const std::vector<int>& path = factory_->OrderIdPathFor(method_);
    if (!path.empty()) {
      if (grpc::ByteBuffer* buffer = methods->GetSerializedSendMessage()) {
        grpc::Slice slice;
        if (buffer->Length() <= (64 << 10) && buffer->TrySingleSlice(&slice).ok()) {
          pb::io::CodedInputStream in(slice.begin(), static_cast<int>(slice.size()));
          int64_t id = 0;
          if (ReadPath(&in, path, 0, &id)) order_id_ = id;
        } else if (buffer->Length() <= (64 << 10) && buffer->DumpToSingleSlice(&slice).ok()) {
          pb::io::CodedInputStream in(slice.begin(), static_cast<int>(slice.size()));
          int64_t id = 0;
          if (ReadPath(&in, path, 0, &id)) order_id_ = id;
        }
      }
    }
  }
  if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
    const grpc::Status status = methods->GetSendStatus();
    Finish(status.error_code(), status.error_details());
  }
  methods->Proceed();
}

void RpcObserver::Finish(int server_code, const std::string& details) {
  if (finished_) return;
  finished_ = true;
  const absl::Time now = absl::Now();
  const absl::Duration latency = now - start_;
  // What the caller saw: past its deadline it got DEADLINE_EXCEEDED from its own gRPC, whatever
  // the handler answered (an OK then is work done for nobody, and counted as such).
  const int code = TruthfulCode(server_code, deadline_, now);
  const std::string reason = code == server_code && code != 0 ? ErrorReasonFromDetails(details)
                             : code != server_code            ? "ANSWERED_AFTER_DEADLINE"
                                                              : "";
  const RpcObserverOptions& options = factory_->options();
  if (options.metrics) {
    options.metrics->RpcFinished(method_, code, latency, replayed_,
                                 KeyConflictReason(code, reason, !key_hash_.empty()));
  }
  if (!factory_->ShouldLog(method_)) return;
  RpcRecord record;
  record.time = now;
  record.service = options.service;
  record.method = method_;
  record.code = code;
  record.latency = latency;
  record.key_hash = key_hash_;
  record.replayed = replayed_;
  record.order_id = order_id_;
  record.attempt = attempt_;
  record.reason = reason;
  record.server_code = code != server_code ? server_code : -1;
  if (deadline_ != absl::InfiniteFuture()) record.deadline_left = deadline_ - start_;
  record.peer = peer_;
  record.peer_identity = peer_identity_;
  options.sink(FormatRpcLogLine(record));
}

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcObserverFactory(
    RpcObserverOptions options) {
  return std::make_unique<RpcObserverFactory>(std::move(options));
}

const std::vector<int>& OrderIdPaths::For(const std::string& method) {
  absl::MutexLock lock(&mu_);
  auto it = paths_.find(method);
  if (it == paths_.end()) it = paths_.emplace(method, OrderIdPath(method)).first;
  return it->second;
}

}  // namespace common

// What the service fuzz targets (fuzz_order_requests, fuzz_payment_requests) share: a call's
// metadata on a ServerContext, the documented key alphabet, the refusal/replay checks of one
// call, and the libFuzzer entry that replays a bounded history before the call under test.
// Apart from fuzz_support.h because it needs fuzz_input.proto, which not every target links.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/auth.h"
#include "common/idempotency.h"
#include "common/storable_text.h"
#include "fuzz_input.pb.h"
#include "fuzz_support.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"

namespace fuzz {

// The authenticator without tokens (every caller is the default tenant) and the one with
// `spec` ("token=tenant,..."; common::TokenAuthenticator::Parse), parsed once.
class Authenticators {
 public:
  explicit Authenticators(const std::string& spec)
      : open_(*common::TokenAuthenticator::Parse("")),
        closed_(*common::TokenAuthenticator::Parse(spec)) {}
  const common::TokenAuthenticator& Get(bool tokens) const { return tokens ? closed_ : open_; }

 private:
  common::TokenAuthenticator open_;
  common::TokenAuthenticator closed_;
};

// A ServerContext carrying `metadata` as client metadata.
struct Call {
  explicit Call(const Metadata& metadata) : spouse(&context) {
    for (const std::string& v : metadata.idempotency_key()) {
      spouse.AddClientMetadata(common::kIdempotencyKeyHeader, v);
    }
    for (const std::string& v : metadata.authorization()) {
      spouse.AddClientMetadata("authorization", v);
    }
  }
  grpc::ServerContext context;
  grpc::testing::ServerContextTestSpouse spouse;
};

// The documented key alphabet (common/idempotency.h): 1-255 visible ASCII characters, no ','.
inline bool KeyFollowsAlphabet(const Metadata& metadata) {
  if (metadata.idempotency_key_size() != 1) return false;
  const std::string& key = metadata.idempotency_key(0);
  if (key.empty() || key.size() > common::kMaxIdempotencyKeyLength) return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

// One call through an adapter: `invoke(ServerContext*, Response*)` returns the adapter's status.
// A refusal must be deterministic (CheckRefusal); an acceptance must hold only storable text.
template <typename Request, typename Invoke, typename Response>
grpc::Status Once(const Metadata& md, const Request& request, Invoke& invoke, Response* response) {
  Call call(md);
  grpc::Status s = invoke(&call.context, response);
  if (!s.ok()) {
    CheckRefusal(s);
  } else {
    FUZZ_CHECK(common::UnstorableTextFields(request).empty(), "unstorable text was accepted");
  }
  return s;
}

// A read (or a write without a replay rule): Once into a fresh `response`.
template <typename Request, typename Invoke, typename Response>
grpc::Status Read(const Metadata& md, const Request& request, Invoke invoke, Response response) {
  return Once(md, request, invoke, &response);
}

// A unary method of an adapter, e.g. &orders::OrderGrpcService::GetOrder.
template <typename Service, typename Request, typename Response>
using UnaryMethod = grpc::Status (Service::*)(grpc::ServerContext*, const Request*, Response*);

// A target's own invariant on one answer: check(status, response).
struct NoCheck {
  template <typename Response>
  void operator()(const grpc::Status&, const Response&) const {}
};

// `method` of `service` on `request` as an invoke for Once, then `check` on what it answered.
template <typename Service, typename Request, typename Response, typename Check>
auto Invoker(Service& service, UnaryMethod<Service, Request, Response> method,
             const Request& request, Check check) {
  return [&service, method, &request, check](grpc::ServerContext* c, Response* out) {
    grpc::Status s = (service.*method)(c, &request, out);
    check(s, *out);
    return s;
  };
}

// A page answered with a next_page_token: that token, sent with the same filters, is accepted.
template <typename Service, typename Request, typename Response>
void CheckNextPageAccepted(const Metadata& md, Service& service,
                           UnaryMethod<Service, Request, Response> method, const Request& request,
                           const Response& page) {
  if (page.next_page_token().empty()) return;
  Request next = request;
  next.set_page_token(page.next_page_token());
  Call again(md);
  Response out;
  grpc::Status n = (service.*method)(&again.context, &next, &out);
  FUZZ_CHECK(n.ok(), "the next page's token was refused: %s", n.error_message().c_str());
}

// A write: accepted only with a key in the documented alphabet (unless `idempotent_without_key`,
// e.g. an import chunk, whose identity is in the body), and a success is answered again,
// identically, when the same call is made again (a replay).
template <typename Request, typename Invoke, typename Response>
grpc::Status Keyed(const Metadata& md, const Request& request, Invoke invoke, Response original,
                   bool idempotent_without_key = false) {
  grpc::Status s = Once(md, request, invoke, &original);
  if (!s.ok()) return s;
  if (!idempotent_without_key) {
    FUZZ_CHECK(KeyFollowsAlphabet(md), "a key outside the documented alphabet was accepted");
  }
  Response replay;
  grpc::Status again = Once(md, request, invoke, &replay);
  FUZZ_CHECK(again.ok(), "a replay was refused: %s", again.error_message().c_str());
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(original, replay),
             "a replay answered differently:\n%s\n%s", original.DebugString().c_str(),
             replay.DebugString().c_str());
  return s;
}

// Read through `method` of `service`, e.g. Method(md, svc, &Svc::GetOrder, request).
template <typename Service, typename Request, typename Response, typename Check = NoCheck>
grpc::Status Method(const Metadata& md, Service& service,
                    UnaryMethod<Service, Request, Response> method, const Request& request,
                    Check check = {}) {
  return Read(md, request, Invoker(service, method, request, check), Response());
}

// Keyed through `method` of `service`.
template <typename Service, typename Request, typename Response, typename Check = NoCheck>
grpc::Status KeyedMethod(const Metadata& md, Service& service,
                         UnaryMethod<Service, Request, Response> method, const Request& request,
                         Check check = {}, bool idempotent_without_key = false) {
  return Keyed(md, request, Invoker(service, method, request, check), Response(),
               idempotent_without_key);
}

// The body of LLVMFuzzerTestOneInput: parses `data` as a CallMessage (its before() calls first,
// at most 8, then itself) and runs them on a fresh Harness, so every input reproduces on its own.
// Returns -1 (do not add to the corpus) for bytes that are not a CallMessage: gRPC refuses those.
template <typename CallMessage, typename Harness>
int RunCallWithHistory(const uint8_t* data, size_t size) {
  CallMessage call;
  if (!call.ParseFromArray(data, static_cast<int>(size))) return -1;
  Harness harness;
  int budget = 8;
  for (const CallMessage& before : call.before()) {
    if (budget-- == 0) break;
    harness.Run(before);
  }
  harness.Run(call);
  return 0;
}

}  // namespace fuzz

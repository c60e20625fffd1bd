// OrderService request validation from arbitrary bytes: the input is parsed as an
// OrderServiceCall (fuzz_input.proto: the request's wire bytes and its metadata), and the call runs
// through the real gRPC adapter (OrderGrpcService: token, text rule, idempotency key) and domain
// (OrderLogic) over the in-memory repository, as a server would run it.
//
// Invariants:
// - every refusal is deterministic (fuzz::CheckRefusal: INVALID_ARGUMENT and the like with an
//   ErrorInfo reason; never UNAVAILABLE, INTERNAL, ...);
// - an accepted request holds only text PostgreSQL can store (common::UnstorableTextFields empty)
//   and, for a method with a key, a key that follows the documented alphabet;
// - CreateOrder and each import chunk are refused by the adapter exactly when the pure
//   validation (orders::ValidateCreateOrder) refuses them, once the caller and key are accepted;
// - a call that succeeded, made again with the same key, answers the same response (a replay).
#include <cstdint>
#include <memory>
#include <string>

#include "common/auth.h"
#include "common/idempotency.h"
#include "common/storable_text.h"
#include "fuzz_input.pb.h"
#include "fuzz_support.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "order_service/memory_order_repository.h"
#include "order_service/order_grpc_service.h"
#include "order_service/order_logic.h"

namespace {

using google::protobuf::util::MessageDifferencer;

const common::TokenAuthenticator& Auth(bool tokens) {
  static const auto* open = new common::TokenAuthenticator(*common::TokenAuthenticator::Parse(""));
  static const auto* closed = new common::TokenAuthenticator(
      *common::TokenAuthenticator::Parse("tok-a=tenant-a,tok-b=tenant-b"));
  return tokens ? *closed : *open;
}

// A ServerContext carrying `metadata` as client metadata.
struct Call {
  explicit Call(const fuzz::Metadata& metadata) : spouse(&context) {
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
bool KeyFollowsAlphabet(const fuzz::Metadata& metadata) {
  if (metadata.idempotency_key_size() != 1) return false;
  const std::string& key = metadata.idempotency_key(0);
  if (key.empty() || key.size() > common::kMaxIdempotencyKeyLength) return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

// Whether the adapter lets the caller and the request through to the domain.
bool CallerAndTextAccepted(const fuzz::Metadata& metadata, const google::protobuf::Message& r) {
  if (metadata.tokens()) {
    if (metadata.authorization_size() != 1) return false;
    const std::string& v = metadata.authorization(0);
    if (v.size() < 7 || (v.compare(0, 7, "Bearer ") != 0 && v.compare(0, 7, "bearer ") != 0)) {
      return false;  // (other spellings of the scheme are covered by fuzz_metadata)
    }
    if (!Auth(true).Identify(v.substr(7)).ok()) return false;
  }
  return common::UnstorableTextFields(r).empty();
}

class Harness {
 public:
  Harness()
      : logic_(repository_, nullptr), open_(logic_, Auth(false)), closed_(logic_, Auth(true)) {}

  // Runs one call; returns its status. Checks every invariant above.
  grpc::Status Run(const fuzz::OrderServiceCall& call) {
    orders::OrderGrpcService& service = call.metadata().tokens() ? closed_ : open_;
    const fuzz::Metadata& md = call.metadata();
    switch (call.request_case()) {
      case fuzz::OrderServiceCall::kCreateOrder:
        return Keyed(
            md, call.create_order(),
            [&](grpc::ServerContext* c, auto* out) {
              grpc::Status s = service.CreateOrder(c, &call.create_order(), out);
              if (CallerAndTextAccepted(md, call.create_order()) && KeyFollowsAlphabet(md)) {
                const bool valid = orders::ValidateCreateOrder(call.create_order()).ok();
                // A valid order may still be refused by the store (a key reused with another body).
                FUZZ_CHECK(valid || !s.ok(), "an invalid order was accepted");
                FUZZ_CHECK(
                    !valid || s.ok() || s.error_code() == grpc::StatusCode::FAILED_PRECONDITION,
                    "a valid order was refused: %s", s.error_message().c_str());
              }
              return s;
            },
            orders::v1::CreateOrderResponse());
      case fuzz::OrderServiceCall::kCancelOrder:
        return Keyed(
            md, call.cancel_order(),
            [&](grpc::ServerContext* c, auto* out) {
              return service.CancelOrder(c, &call.cancel_order(), out);
            },
            orders::v1::CancelOrderResponse());
      case fuzz::OrderServiceCall::kPutImportChunk: {
        const auto& chunk = call.put_import_chunk();
        return Keyed(
            md, chunk,
            [&](grpc::ServerContext* c, auto* out) {
              grpc::Status s = service.PutImportChunk(c, &chunk, out);
              if (CallerAndTextAccepted(md, chunk)) {
                bool orders_valid = chunk.orders_size() > 0;
                for (const auto& order : chunk.orders()) {
                  orders_valid = orders_valid && orders::ValidateCreateOrder(order).ok();
                }
                FUZZ_CHECK(orders_valid || !s.ok(), "a chunk with an invalid order was accepted");
              }
              if (s.ok()) {
                FUZZ_CHECK(out->order_count() == chunk.orders_size(),
                           "chunk counted %d of %d orders", out->order_count(),
                           chunk.orders_size());
              }
              return s;
            },
            orders::v1::ImportChunk(), /*idempotent_without_key=*/true);
      }
      case fuzz::OrderServiceCall::kCommitImport:
        return Keyed(
            md, call.commit_import(),
            [&](grpc::ServerContext* c, auto* out) {
              return service.CommitImport(c, &call.commit_import(), out);
            },
            orders::v1::ImportSummary(), /*idempotent_without_key=*/true);
      case fuzz::OrderServiceCall::kGetOrder:
        return Read(
            md, call.get_order(),
            [&](grpc::ServerContext* c, auto* out) {
              return service.GetOrder(c, &call.get_order(), out);
            },
            orders::v1::Order());
      case fuzz::OrderServiceCall::kListOrders:
        return Read(
            md, call.list_orders(),
            [&](grpc::ServerContext* c, auto* out) {
              grpc::Status s = service.ListOrders(c, &call.list_orders(), out);
              if (s.ok() && !out->next_page_token().empty()) {
                // The next page's token continues this query: accepted with the same filters.
                orders::v1::ListOrdersRequest next = call.list_orders();
                next.set_page_token(out->next_page_token());
                Call again(md);
                orders::v1::ListOrdersResponse page;
                grpc::Status n = service.ListOrders(&again.context, &next, &page);
                FUZZ_CHECK(n.ok(), "the next page's token was refused: %s",
                           n.error_message().c_str());
              }
              return s;
            },
            orders::v1::ListOrdersResponse());
      case fuzz::OrderServiceCall::kSetShippingAddress:
        return Read(
            md, call.set_shipping_address(),
            [&](grpc::ServerContext* c, auto* out) {
              return service.SetShippingAddress(c, &call.set_shipping_address(), out);
            },
            orders::v1::Order());
      case fuzz::OrderServiceCall::kGetOrderAnalytics:
        return Read(
            md, call.get_order_analytics(),
            [&](grpc::ServerContext* c, auto* out) {
              return service.GetOrderAnalytics(c, &call.get_order_analytics(), out);
            },
            orders::v1::OrderAnalytics());
      case fuzz::OrderServiceCall::REQUEST_NOT_SET:
        break;
    }
    return grpc::Status::OK;
  }

 private:
  template <typename Request, typename Invoke, typename Response>
  grpc::Status Read(const fuzz::Metadata& md, const Request& request, Invoke invoke,
                    Response response) {
    return Once(md, request, invoke, &response);
  }

  template <typename Request, typename Invoke, typename Response>
  grpc::Status Once(const fuzz::Metadata& md, const Request& request, Invoke& invoke,
                    Response* response) {
    Call call(md);
    grpc::Status s = invoke(&call.context, response);
    if (!s.ok()) {
      fuzz::CheckRefusal(s);
    } else {
      FUZZ_CHECK(common::UnstorableTextFields(request).empty(), "unstorable text was accepted");
    }
    return s;
  }

  // A write: a success is answered again, identically, when the same call is made again.
  template <typename Request, typename Invoke, typename Response>
  grpc::Status Keyed(const fuzz::Metadata& md, const Request& request, Invoke invoke,
                     Response original, bool idempotent_without_key = false) {
    grpc::Status s = Once(md, request, invoke, &original);
    if (!s.ok()) return s;
    if (!idempotent_without_key) {
      FUZZ_CHECK(KeyFollowsAlphabet(md), "a key outside the documented alphabet was accepted");
    }
    Response replay;
    grpc::Status again = Once(md, request, invoke, &replay);
    FUZZ_CHECK(again.ok(), "a replay was refused: %s", again.error_message().c_str());
    FUZZ_CHECK(MessageDifferencer::Equals(original, replay),
               "a replay answered differently:\n%s\n%s", original.DebugString().c_str(),
               replay.DebugString().c_str());
    return s;
  }

  orders::MemoryOrderRepository repository_;
  orders::OrderLogic logic_;
  orders::OrderGrpcService open_;
  orders::OrderGrpcService closed_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::OrderServiceCall call;
  if (!call.ParseFromArray(data, static_cast<int>(size))) return -1;  // not a request: gRPC refuses
  Harness harness;  // fresh state per input, so every run is reproducible on its own
  int budget = 8;
  for (const fuzz::OrderServiceCall& before : call.before()) {
    if (budget-- == 0) break;
    harness.Run(before);
  }
  harness.Run(call);
  return 0;
}

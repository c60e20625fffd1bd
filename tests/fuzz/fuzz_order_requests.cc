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
#include "common/storable_text.h"
#include "fuzz_input.pb.h"
#include "fuzz_service_call.h"
#include "fuzz_support.h"
#include "grpcpp/server_context.h"
#include "order_service/memory_order_repository.h"
#include "order_service/order_grpc_service.h"
#include "order_service/order_logic.h"

namespace {

using fuzz::KeyedMethod;
using fuzz::KeyFollowsAlphabet;
using fuzz::Method;
using Service = orders::OrderGrpcService;

const common::TokenAuthenticator& Auth(bool tokens) {
  static const auto* authenticators = new fuzz::Authenticators("tok-a=tenant-a,tok-b=tenant-b");
  return authenticators->Get(tokens);
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
        return KeyedMethod(
            md, service, &Service::CreateOrderNow, call.create_order(),
            [&](const grpc::Status& s, const auto&) {
              if (!CallerAndTextAccepted(md, call.create_order()) || !KeyFollowsAlphabet(md)) {
                return;
              }
              const bool valid = orders::ValidateCreateOrder(call.create_order()).ok();
              // A valid order may still be refused by the store (a key reused
              // with another body).
              FUZZ_CHECK(valid || !s.ok(), "an invalid order was accepted");
              FUZZ_CHECK(
                  !valid || s.ok() || s.error_code() == grpc::StatusCode::FAILED_PRECONDITION,
                  "a valid order was refused: %s", s.error_message().c_str());
            });
      case fuzz::OrderServiceCall::kCancelOrder:
        return KeyedMethod(md, service, &Service::CancelOrderNow, call.cancel_order());
      case fuzz::OrderServiceCall::kPutImportChunk: {
        const auto& chunk = call.put_import_chunk();
        return KeyedMethod(
            md, service, &Service::PutImportChunkNow, chunk,
            [&](const grpc::Status& s, const orders::v1::ImportChunk& out) {
              if (CallerAndTextAccepted(md, chunk)) {
                bool orders_valid = chunk.orders_size() > 0;
                for (const auto& order : chunk.orders()) {
                  orders_valid = orders_valid && orders::ValidateCreateOrder(order).ok();
                }
                FUZZ_CHECK(orders_valid || !s.ok(), "a chunk with an invalid order was accepted");
              }
              if (s.ok()) {
                FUZZ_CHECK(out.order_count() == chunk.orders_size(),
                           "chunk counted %d of %d orders", out.order_count(), chunk.orders_size());
              }
            },
            /*idempotent_without_key=*/true);
      }
      case fuzz::OrderServiceCall::kCommitImport:
        return KeyedMethod(md, service, &Service::CommitImportNow, call.commit_import(),
                           fuzz::NoCheck(),
                           /*idempotent_without_key=*/true);
      case fuzz::OrderServiceCall::kGetOrder:
        return Method(md, service, &Service::GetOrderNow, call.get_order());
      case fuzz::OrderServiceCall::kListOrders:
        // The next page's token continues this query: accepted with the same filters.
        return Method(md, service, &Service::ListOrdersNow, call.list_orders(),
                      [&](const grpc::Status& s, const orders::v1::ListOrdersResponse& page) {
                        if (s.ok()) {
                          fuzz::CheckNextPageAccepted(md, service, &Service::ListOrdersNow,
                                                      call.list_orders(), page);
                        }
                      });
      case fuzz::OrderServiceCall::kSetShippingAddress:
        return Method(md, service, &Service::SetShippingAddressNow, call.set_shipping_address());
      case fuzz::OrderServiceCall::kGetOrderAnalytics:
        return Method(md, service, &Service::GetOrderAnalyticsNow, call.get_order_analytics());
      case fuzz::OrderServiceCall::REQUEST_NOT_SET:
        break;
    }
    return grpc::Status::OK;
  }

 private:
  orders::MemoryOrderRepository repository_;
  orders::OrderLogic logic_;
  orders::OrderGrpcService open_;
  orders::OrderGrpcService closed_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::RunCallWithHistory<fuzz::OrderServiceCall, Harness>(data, size);
}

// Bytes that do not parse as the method's request -- a proto3 string field holding invalid UTF-8
// (which protobuf refuses), or no protobuf at all -- are bad input like any other: both real
// services answer INVALID_ARGUMENT with an ErrorInfo (REQUEST_NOT_PARSEABLE, their domain), never
// gRPC's own INTERNAL "Failed to parse request", and nothing is written.
#include <future>
#include <string>

#include "absl/strings/str_replace.h"
#include "common/client_context.h"
#include "common/errors.h"
#include "common/status_mapper.h"
#include "common/unparseable_request.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "orders/v1/orders.pb.h"
#include "payments/v1/payments.pb.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"

namespace {

using testing_support::IsDeterministicRefusal;
using testing_support::ServiceStack;
using testing_support::StatusIs;
constexpr auto& Scalar = testing_support::ScalarOrError;

// One unary call with raw request bytes.
grpc::Status CallRaw(const std::string& target, const std::string& method, const std::string& bytes,
                     const std::string& idempotency_key) {
  grpc::GenericStub stub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  auto context =
      common::NewClientContext({.timeout = absl::Seconds(10), .idempotency_key = idempotency_key});
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(context.get(), method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

// A valid message's bytes with the placeholder's bytes replaced by invalid UTF-8 (same length).
std::string WithInvalidUtf8(const google::protobuf::Message& message) {
  return absl::StrReplaceAll(message.SerializeAsString(),
                             {{"PLACEHOLDER", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5"}});
}

void ExpectNotParseable(const grpc::Status& status, const std::string& domain) {
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, common::kRequestNotParseable));
  EXPECT_THAT(status, IsDeterministicRefusal());
  EXPECT_NE(status.error_details().find(domain), std::string::npos) << "ErrorInfo domain";
}

TEST(UnparseableRequestTest, BothServicesRefuseBytesThatAreNotTheirRequestAndWriteNothing) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();

  orders::v1::CreateOrderRequest create =
      testing_support::OrderOf("PLACEHOLDER", "USD", {{"book", 1, 100}});
  const std::string create_method = "/orders.v1.OrderService/CreateOrder";
  ExpectNotParseable(CallRaw((*stack)->order_addr(), create_method, WithInvalidUtf8(create), "u-1"),
                     "orders.example");
  ExpectNotParseable(CallRaw((*stack)->order_addr(), create_method, "\xff\xff\xff\xff", "u-2"),
                     "orders.example");
  orders::v1::ListOrdersRequest list;
  list.set_customer_id("PLACEHOLDER");
  ExpectNotParseable(CallRaw((*stack)->order_addr(), "/orders.v1.OrderService/ListOrders",
                             WithInvalidUtf8(list), ""),
                     "orders.example");
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM orders"), "0");
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM idempotency_keys"), "0");

  const payments::v1::ChargeRequest charge = testing_support::ChargeOf(1, 100, "PLACEHOLDER");
  ExpectNotParseable(CallRaw((*stack)->payment_addr(), "/payments.v1.PaymentService/Charge",
                             WithInvalidUtf8(charge), "p-1"),
                     "payments.example");
  EXPECT_EQ(Scalar((*stack)->payment_db(), "SELECT count(*) FROM charges"), "0");

  // The same request with valid text still works: the refusal is about the bytes, not the call.
  create.set_customer_id("valid");
  EXPECT_THAT(CallRaw((*stack)->order_addr(), create_method, create.SerializeAsString(), "u-3"),
              testing_support::IsOk());
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM orders"), "1");
}

}  // namespace

// Issue 12, case 7, against the real order_service and PostgreSQL: text the database cannot store
// verbatim (a NUL) is refused by name in every request, nothing is written, filters never match
// another value; text it can store is stored and answered verbatim, lengths counted in characters.
#include <string>

#include "common/client_context.h"
#include "common/errors.h"
#include "common/status_mapper.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "orders/v1/orders.grpc.pb.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"

namespace {

using namespace std::string_literals;
using testing_support::ServiceStack;
constexpr auto& Scalar = testing_support::ScalarOrError;

std::string ReasonOf(const grpc::Status& status) {
  return common::ErrorReason(common::FromGrpcStatus(status)).value_or("");
}

std::vector<std::string> FieldsOf(const grpc::Status& status) {
  return common::ViolatedFields(common::FromGrpcStatus(status));
}

orders::v1::CreateOrderRequest Order(const std::string& customer) {
  return testing_support::OrderOf(customer, "USD", {{"book", 1, 1250}});
}

int64_t Create(ServiceStack& stack, const std::string& key,
               const orders::v1::CreateOrderRequest& request) {
  auto context = common::NewClientContext({.idempotency_key = key});
  orders::v1::CreateOrderResponse response;
  grpc::Status status = stack.orders().CreateOrder(context.get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.order().id();
}

grpc::Status Cancel(ServiceStack& stack, int64_t id, const std::string& reason,
                    const std::string& key, orders::v1::CancelOrderResponse* response) {
  orders::v1::CancelOrderRequest request;
  request.set_id(id);
  request.set_reason(reason);
  auto context = common::NewClientContext({.idempotency_key = key});
  return stack.orders().CancelOrder(context.get(), request, response);
}

void ExpectRefused(const grpc::Status& status, const std::vector<std::string>& fields) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "TEXT_NOT_STORABLE");
  EXPECT_EQ(FieldsOf(status), fields);
}

// Was: OK, and PostgreSQL stored "changed" while the answer (and its replay) said
// "changed\0mind".
TEST(TextTest, CancelReasonWithANulIsRefusedAndTheOrderIsUntouched) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  const int64_t id = Create(**stack, "create-1", Order("alice"));
  orders::v1::CancelOrderResponse response;
  ExpectRefused(Cancel(**stack, id, "changed\0mind"s, "cancel-1", &response), {"reason"});
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT status <> 4 AND cancel_reason = '' FROM orders"),
            "t");
  EXPECT_EQ(testing_support::CountOutboxEvents((*stack)->order_db(), "REFUND"), "0");
  EXPECT_EQ(testing_support::CountIdempotencyKeys((*stack)->order_db(), "cancel-1"), "0");

  // 500 characters of any script is a valid reason (1,500 bytes), stored and answered verbatim.
  std::string reason;
  for (int i = 0; i < 500; ++i) reason += "気";
  ExpectRefused(Cancel(**stack, id, reason + "\0"s, "cancel-1", &response), {"reason"});
  grpc::Status too_long = Cancel(**stack, id, reason + "x", "cancel-1", &response);
  EXPECT_EQ(ReasonOf(too_long), "CANCEL_INVALID");
  ASSERT_TRUE(Cancel(**stack, id, reason, "cancel-1", &response).ok());
  EXPECT_EQ(response.order().cancel_reason(), reason);
  EXPECT_EQ(Scalar((*stack)->order_db(),
                   "SELECT char_length(cancel_reason) || ' ' || octet_length(cancel_reason)"
                   " FROM orders"),
            "500 1500");
  orders::v1::CancelOrderResponse replay;
  ASSERT_TRUE(Cancel(**stack, id, reason, "cancel-1", &replay).ok());
  EXPECT_EQ(replay.SerializeAsString(), response.SerializeAsString());
  orders::v1::GetOrderRequest get;
  get.set_id(id);
  orders::v1::Order order;
  auto context = common::NewClientContext({});
  ASSERT_TRUE((*stack)->orders().GetOrder(context.get(), get, &order).ok());
  EXPECT_EQ(order.cancel_reason(), reason);
}

// Was: ListOrders{customer_id: "alice\0x"} returned alice's orders (the filter was cut at the NUL).
TEST(TextTest, ListFilterWithANulNeverMatchesAnotherValue) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  Create(**stack, "create-1", Order("alice"));
  auto list = [&](const std::string& customer, orders::v1::ListOrdersResponse* response) {
    orders::v1::ListOrdersRequest request;
    request.set_customer_id(customer);
    auto context = common::NewClientContext({});
    return (*stack)->orders().ListOrders(context.get(), request, response);
  };
  orders::v1::ListOrdersResponse response;
  ExpectRefused(list("alice\0x"s, &response), {"customer_id"});
  EXPECT_EQ(response.orders_size(), 0);
  ASSERT_TRUE(list("alice", &response).ok());
  EXPECT_EQ(response.orders_size(), 1);
  ASSERT_TRUE(list("alic", &response).ok());
  EXPECT_EQ(response.orders_size(), 0);
}

// The same rule for every other text field of every RPC, nested and repeated ones included.
TEST(TextTest, EveryTextFieldOfEveryRequestIsRefusedByNameAndNothingIsWritten) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  const int64_t id = Create(**stack, "create-1", Order("alice"));
  auto& orders = (*stack)->orders();
  {
    auto request = Order("bob");
    request.mutable_items(0)->set_sku("bo\0ok"s);
    orders::v1::CreateOrderResponse response;
    auto context = common::NewClientContext({.idempotency_key = "create-2"});
    ExpectRefused(orders.CreateOrder(context.get(), request, &response), {"items[0].sku"});
  }
  {
    auto request = Order("bob\0"s);
    request.set_payment_method("pm_card_visa\0"s);
    orders::v1::CreateOrderResponse response;
    auto context = common::NewClientContext({.idempotency_key = "create-3"});
    ExpectRefused(orders.CreateOrder(context.get(), request, &response),
                  {"customer_id", "payment_method"});
  }
  {
    orders::v1::SetShippingAddressRequest request;
    request.set_id(id);
    auto* a = request.mutable_address();
    a->set_name("Hanako\0"s);
    a->set_line1("1-2-3 Shibuya");
    a->set_city("To\0kyo"s);
    a->set_postal_code("150-0002\0"s);
    a->set_country("JP");
    orders::v1::Order response;
    auto context = common::NewClientContext({});
    ExpectRefused(orders.SetShippingAddress(context.get(), request, &response),
                  {"address.name", "address.city", "address.postal_code"});
  }
  {
    orders::v1::GetOrderAnalyticsRequest request;
    request.set_customer_id("alice\0x"s);
    orders::v1::OrderAnalytics response;
    auto context = common::NewClientContext({});
    ExpectRefused(orders.GetOrderAnalytics(context.get(), request, &response), {"customer_id"});
  }
  {
    orders::v1::PutImportChunkRequest request;
    request.set_import_id("imp-1");
    *request.add_orders() = Order("erin");
    *request.add_orders() = Order("erin");
    request.mutable_orders(1)->mutable_items(0)->set_sku("a\0b"s);
    orders::v1::ImportChunk response;
    auto context = common::NewClientContext({});
    ExpectRefused(orders.PutImportChunk(context.get(), request, &response),
                  {"orders[1].items[0].sku"});
  }
  {
    orders::v1::CommitImportRequest request;
    request.set_import_id("imp-1\0"s);
    request.set_chunk_count(1);
    orders::v1::ImportSummary response;
    auto context = common::NewClientContext({});
    ExpectRefused(orders.CommitImport(context.get(), request, &response), {"import_id"});
  }
  {
    auto admin = orders::v1::OutboxAdmin::NewStub(
        grpc::CreateChannel((*stack)->order_addr(), grpc::InsecureChannelCredentials()));
    orders::v1::ListOutboxEventsRequest request;
    request.set_page_token("\0"s);
    orders::v1::ListOutboxEventsResponse response;
    auto context = common::NewClientContext({});
    ExpectRefused(admin->ListOutboxEvents(context.get(), request, &response), {"page_token"});
  }
  const std::string& db = (*stack)->order_db();
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM orders"), "1");
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM idempotency_keys"), "1");
  EXPECT_EQ(Scalar(db, "SELECT octet_length(shipping_address) FROM orders"), "0");
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM import_chunks"), "0");
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM import_commits"), "0");
}

}  // namespace

// The OrderService adapter in process over the in-memory repository: the text rule applies to
// every RPC before any domain rule or store (INVALID_ARGUMENT TEXT_NOT_STORABLE naming each
// field, nothing written), and length limits count characters, not bytes.
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/admission.h"
#include "common/auth.h"
#include "common/client_context.h"
#include "common/errors.h"
#include "common/grpc_server.h"
#include "common/status_mapper.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "order_service/memory_order_repository.h"
#include "order_service/order_grpc_service.h"
#include "order_service/order_logic.h"
#include "tests/support/order_builders.h"

namespace orders {
namespace {

using ::testing::ElementsAre;
using Stub = orders::v1::OrderService::Stub;
using namespace std::string_literals;

orders::v1::CreateOrderRequest ValidRequest(const std::string& customer = "alice") {
  return testing_support::OrderOf(customer, "USD", {{"book", 2, 1250}});
}

std::string ReasonOf(const grpc::Status& status) {
  return common::ErrorReason(common::FromGrpcStatus(status)).value_or("");
}

std::vector<std::string> FieldsOf(const grpc::Status& status) {
  return common::ViolatedFields(common::FromGrpcStatus(status));
}

class OrderGrpcAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = common::GrpcServer::Start({}, {&service_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = orders::v1::OrderService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  int64_t Create(const std::string& key, const orders::v1::CreateOrderRequest& request) {
    orders::v1::CreateOrderResponse response;
    auto context = common::NewClientContext({.idempotency_key = key});
    grpc::Status status = stub_->CreateOrder(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.order().id();
  }

  grpc::Status Cancel(int64_t id, const std::string& reason, const std::string& key,
                      orders::v1::CancelOrderResponse* response) {
    orders::v1::CancelOrderRequest request;
    request.set_id(id);
    request.set_reason(reason);
    auto context = common::NewClientContext({.idempotency_key = key});
    return stub_->CancelOrder(context.get(), request, response);
  }

  // One call of the unary `method` with `request` and no metadata; the answer is dropped.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (orders::v1::OrderService::Stub::*method)(grpc::ClientContext*,
                                                                           const Request&,
                                                                           Response*),
                    const Request& request) {
    Response response;
    auto context = common::NewClientContext({});
    return (stub_.get()->*method)(context.get(), request, &response);
  }

  orders::v1::Order Get(int64_t id) {
    orders::v1::GetOrderRequest request;
    request.set_id(id);
    orders::v1::Order order;
    auto context = common::NewClientContext({});
    EXPECT_TRUE(stub_->GetOrder(context.get(), request, &order).ok());
    return order;
  }

  MemoryOrderRepository repository_;
  OrderLogic logic_{repository_, nullptr};
  common::TokenAuthenticator auth_;
  OrderGrpcService service_{logic_, auth_};
  std::unique_ptr<common::GrpcServer> server_;
  std::unique_ptr<orders::v1::OrderService::Stub> stub_;
};

// Issue 12, case 7: "changed\0mind" was accepted (PostgreSQL stored "changed").
TEST_F(OrderGrpcAdapterTest, CancelReasonWithANulIsRefusedAndNothingChanges) {
  const int64_t id = Create("create-1", ValidRequest());
  orders::v1::CancelOrderResponse response;
  grpc::Status status = Cancel(id, "changed\0mind"s, "cancel-1", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ReasonOf(status), "TEXT_NOT_STORABLE");
  EXPECT_THAT(FieldsOf(status), ElementsAre("reason"));
  EXPECT_EQ(Get(id).status(), orders::v1::ORDER_STATUS_CREATED);
  EXPECT_EQ(repository_.OutboxEvents().size(), 1u);  // the CHARGE only, no REFUND
  // Not stored under the key: the corrected request with the same key goes through.
  ASSERT_TRUE(Cancel(id, "changed mind", "cancel-1", &response).ok());
  EXPECT_EQ(response.order().cancel_reason(), "changed mind");
}

// Issue 12, case 7: a filter "alice\0x" matched alice's orders in PostgreSQL.
TEST_F(OrderGrpcAdapterTest, ListFilterWithANulIsRefusedNotMatchedAsAnotherValue) {
  Create("create-1", ValidRequest("alice"));
  orders::v1::ListOrdersRequest request;
  request.set_customer_id("alice\0x"s);
  orders::v1::ListOrdersResponse response;
  auto context = common::NewClientContext({});
  grpc::Status status = stub_->ListOrders(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ReasonOf(status), "TEXT_NOT_STORABLE");
  EXPECT_THAT(FieldsOf(status), ElementsAre("customer_id"));
  EXPECT_EQ(response.orders_size(), 0);
}

TEST_F(OrderGrpcAdapterTest, EveryRpcWithTextRefusesANulNamingTheFieldAndWritesNothing) {
  const int64_t id = Create("create-1", ValidRequest());
  struct Case {
    std::string name;
    std::function<grpc::Status()> call;
    std::vector<std::string> fields;
  };
  const std::vector<Case> cases = {
      {"CreateOrder",
       [&] {
         auto request = ValidRequest();
         request.mutable_items(0)->set_sku("bo\0ok"s);
         request.set_payment_method("pm_card_visa\0x"s);
         orders::v1::CreateOrderResponse response;
         auto context = common::NewClientContext({.idempotency_key = "create-2"});
         return stub_->CreateOrder(context.get(), request, &response);
       },
       {"items[0].sku", "payment_method"}},
      {"SetShippingAddress",
       [&] {
         orders::v1::SetShippingAddressRequest request;
         request.set_id(id);
         auto* a = request.mutable_address();
         a->set_name("Hanako");
         a->set_line1("1-2-3\0Shibuya"s);
         a->set_line2("\0"s);
         a->set_city("Tokyo");
         a->set_country("JP");
         return Call(&Stub::SetShippingAddress, request);
       },
       {"address.line1", "address.line2"}},
      {"GetOrderAnalytics",
       [&] {
         orders::v1::GetOrderAnalyticsRequest request;
         request.set_customer_id("alice\0"s);
         return Call(&Stub::GetOrderAnalytics, request);
       },
       {"customer_id"}},
      {"PutImportChunk",
       [&] {
         orders::v1::PutImportChunkRequest request;
         request.set_import_id("imp-1");
         *request.add_orders() = ValidRequest("erin");
         *request.add_orders() = ValidRequest("erin");
         request.mutable_orders(1)->mutable_items(0)->set_sku("a\0b"s);
         request.mutable_orders(1)->set_customer_id("erin\0"s);
         return Call(&Stub::PutImportChunk, request);
       },
       {"orders[1].customer_id", "orders[1].items[0].sku"}},
      {"CommitImport",
       [&] {
         orders::v1::CommitImportRequest request;
         request.set_import_id("imp\0-1"s);
         request.set_chunk_count(1);
         return Call(&Stub::CommitImport, request);
       },
       {"import_id"}},
      {"ListOrders page_token",
       [&] {
         orders::v1::ListOrdersRequest request;
         request.set_page_token("\0"s);
         return Call(&Stub::ListOrders, request);
       },
       {"page_token"}},
  };
  for (const Case& c : cases) {
    grpc::Status status = c.call();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_EQ(ReasonOf(status), "TEXT_NOT_STORABLE") << c.name;
    EXPECT_EQ(FieldsOf(status), c.fields) << c.name;
  }
  const orders::v1::Order order = Get(id);
  EXPECT_FALSE(order.has_shipping_address());
  EXPECT_EQ(repository_.OutboxEvents().size(), 1u);  // only the first order's CHARGE
}

// Limits are documented in characters and counted so: 500 kanji (1,500 bytes) is a valid
// reason, stored and answered verbatim; 501 characters is not.
TEST_F(OrderGrpcAdapterTest, CancelReasonLengthIsCountedInCharacters) {
  std::string reason;
  for (int i = 0; i < 500; ++i) reason += "気";
  const int64_t first = Create("create-1", ValidRequest());
  const int64_t second = Create("create-2", ValidRequest());
  orders::v1::CancelOrderResponse response;
  grpc::Status too_long = Cancel(first, reason + "x", "cancel-0", &response);
  EXPECT_EQ(too_long.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(too_long), ElementsAre("reason"));
  grpc::Status ok = Cancel(first, reason, "cancel-1", &response);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(response.order().cancel_reason(), reason);
  EXPECT_EQ(Get(first).cancel_reason(), reason);
  EXPECT_TRUE(Cancel(second, std::string(500, 'a'), "cancel-2", &response).ok());
}

// Admission control through a real gRPC server: with the work lane full, a CreateOrder is refused
// at once, before the repository, with RESOURCE_EXHAUSTED, ErrorInfo OVERLOADED, a RetryInfo delay
// and the same delay as grpc-retry-pushback-ms; a GetOrder (priority lane) is still answered.
TEST(OrderAdmissionTest, FullWorkLaneRefusesWithPushbackAndReadsStillRun) {
  MemoryOrderRepository repository;
  OrderLogic logic{repository, nullptr};
  common::TokenAuthenticator auth;
  common::AdmissionController admission(
      {.limit = 1, .queue = 0, .priority_limit = 2, .pushback = absl::Milliseconds(200)});
  OrderGrpcService service{logic, auth, nullptr, &admission};
  auto server = common::GrpcServer::Start({}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = orders::v1::OrderService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  orders::v1::CreateOrderResponse created;
  auto first = common::NewClientContext({.idempotency_key = "k1"});
  ASSERT_TRUE(stub->CreateOrder(first.get(), ValidRequest(), &created).ok());

  // The one work slot is taken (as by a call in progress).
  auto held =
      admission.Admit(common::AdmissionLane::kWork, "default", absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(held.ok());
  auto context = common::NewClientContext({.idempotency_key = "k2"});
  orders::v1::CreateOrderResponse response;
  grpc::Status status = stub->CreateOrder(context.get(), ValidRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ReasonOf(status), "OVERLOADED");
  const absl::Duration retry_delay = common::RetryDelayOf(common::FromGrpcStatus(status));
  EXPECT_GE(retry_delay, absl::Milliseconds(150));  // 200 ms +-25 %
  EXPECT_LE(retry_delay, absl::Milliseconds(250));
  const auto& trailers = context->GetServerTrailingMetadata();
  auto pushback = trailers.find(common::kRetryPushbackHeader);
  ASSERT_NE(pushback, trailers.end());
  EXPECT_EQ(std::string(pushback->second.data(), pushback->second.size()),
            std::to_string(absl::ToInt64Milliseconds(retry_delay)));
  // Refused at once because the work lane and its queue were full, not after a wait for a slot.
  EXPECT_TRUE(absl::StrContains(status.error_message(), "work queue full"))
      << status.error_message();
  EXPECT_EQ(repository.OutboxEvents().size(), 1u);  // nothing written for the refused call
  EXPECT_EQ(admission.stats().refused_overloaded, 1);

  // An operator's read of one order has its own lane.
  orders::v1::GetOrderRequest get;
  get.set_id(created.order().id());
  orders::v1::Order order;
  auto read = common::NewClientContext({});
  EXPECT_TRUE(stub->GetOrder(read.get(), get, &order).ok());

  // The slot back, the same key goes through: the refusal stored nothing under it.
  held->Release();
  auto retry = common::NewClientContext({.idempotency_key = "k2"});
  EXPECT_TRUE(stub->CreateOrder(retry.get(), ValidRequest(), &response).ok());
}

// CreateOrder is answered through the callback API: admission decides on gRPC's thread, and a
// call that must wait for a slot waits on a worker, then does its work when the slot frees.
TEST(OrderGrpcAdmissionTest, AQueuedCreateWaitsOnAWorkerAndRunsWhenTheSlotFrees) {
  MemoryOrderRepository repository;
  OrderLogic logic{repository, nullptr};
  common::TokenAuthenticator auth;
  common::AdmissionController admission(
      {.limit = 1, .queue = 1, .max_queue_wait = absl::Seconds(30)});
  OrderGrpcService service{logic, auth, nullptr, &admission, /*worker_threads=*/2};
  auto server = common::GrpcServer::Start({}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = orders::v1::OrderService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  auto held =
      admission.Admit(common::AdmissionLane::kWork, "default", absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(held.ok());

  grpc::Status status;
  orders::v1::CreateOrderResponse response;
  std::thread caller([&] {
    auto context = common::NewClientContext({.timeout = absl::Seconds(60), .idempotency_key = "q"});
    status = stub->CreateOrder(context.get(), ValidRequest(), &response);
  });
  // Progress, not time: the call is in the queue.
  const absl::Time until = absl::Now() + absl::Seconds(15);
  while (admission.stats().queued == 0 && absl::Now() < until)
    absl::SleepFor(absl::Milliseconds(2));
  ASSERT_EQ(admission.stats().queued, 1);
  EXPECT_TRUE(repository.OutboxEvents().empty()) << "nothing written while it waits";
  held->Release();
  caller.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(response.order().id(), 0);
  EXPECT_EQ(repository.OutboxEvents().size(), 1u);
  EXPECT_EQ(admission.stats().in_flight, 0);
  EXPECT_EQ(admission.stats().admitted, 2);
}

}  // namespace
}  // namespace orders

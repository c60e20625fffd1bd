// Reads are bounded by the caller's deadline: with every pooled connection on loan, a GetOrder
// through the real gRPC adapter and PgOrderRepository (real PostgreSQL) answers the pool's
// RESOURCE_EXHAUSTED within about the caller's deadline (pg::WaitDeadline), not after a fixed
// bound, and the same read works once a connection is free.
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "order_service/order_grpc_service.h"
#include "order_service/order_logic.h"
#include "order_service/pg_order_repository.h"
#include "orders/v1/orders.grpc.pb.h"
#include "tests/support/order_builders.h"
#include "tests/support/order_db.h"
#include "tests/support/read_deadline.h"
#include "tests/support/status_matchers.h"

namespace orders {
namespace {

constexpr int kPoolSize = 2;

class OrderReadDeadlineTest : public testing_support::OrdersDbTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpOrdersDb("order_deadline", kPoolSize));
    repo_ = std::make_unique<PgOrderRepository>(*pool_);
    logic_ = std::make_unique<OrderLogic>(*repo_, nullptr);
    service_ = std::make_unique<OrderGrpcService>(*logic_, auth_);
    stub_ = testing_support::StartLoopbackStub<orders::v1::OrderService>(service_.get(), &server_);
    ASSERT_NE(stub_, nullptr);
  }

  grpc::Status GetOrder(int64_t id, absl::Duration timeout, orders::v1::Order* out) {
    orders::v1::GetOrderRequest request;
    request.set_id(id);
    auto context = common::NewClientContext({.timeout = timeout});
    return stub_->GetOrder(context.get(), request, out);
  }

  std::unique_ptr<PgOrderRepository> repo_;
  std::unique_ptr<OrderLogic> logic_;
  common::TokenAuthenticator auth_;
  std::unique_ptr<OrderGrpcService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<orders::v1::OrderService::Stub> stub_;
};

TEST_F(OrderReadDeadlineTest, ReadWithShortDeadlineEndsByItWhilePoolIsExhausted) {
  orders::v1::CreateOrderResponse created;
  {
    auto context = common::NewClientContext({.idempotency_key = "k1"});
    ASSERT_TRUE(stub_
                    ->CreateOrder(context.get(),
                                  testing_support::OrderOf("cust", "USD", {{"book", 1, 900}}),
                                  &created)
                    .ok());
  }
  const int64_t id = created.order().id();
  testing_support::ExpectReadBoundedByDeadline(
      *pool_, kPoolSize, absl::Milliseconds(400), [&](absl::Duration deadline) {
        orders::v1::Order read;
        grpc::Status status = GetOrder(id, deadline, &read);
        if (status.ok()) EXPECT_EQ(read.id(), id);
        return status;
      });
}

}  // namespace
}  // namespace orders

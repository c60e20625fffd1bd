// Reads are bounded by the caller's deadline: with every pooled connection on loan, a GetOrder
// through the real gRPC adapter and PgOrderRepository (real PostgreSQL) answers the pool's
// RESOURCE_EXHAUSTED within about the caller's deadline (pg::WaitDeadline), not after a fixed
// bound, and the same read works once a connection is free.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/client_context.h"
#include "common/pg/pool.h"
#include "common/pg/timeouts.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "order_service/order_grpc_service.h"
#include "order_service/order_logic.h"
#include "order_service/pg_order_repository.h"
#include "orders/v1/orders.grpc.pb.h"
#include "tests/support/order_builders.h"
#include "tests/support/order_db.h"
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
    // A bare server: common::GrpcServer brings gRPC reflection, whose descriptors this binary
    // already holds (grpc_std_proto).
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    stub_ = orders::v1::OrderService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
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
  const int64_t exhausted_before = pool_->usage().exhausted;
  std::vector<pg::Pool::Lease> held;  // every connection on loan
  for (int i = 0; i < kPoolSize; ++i) {
    ASSERT_OK_AND_ASSIGN(pg::Pool::Lease lease, pool_->Acquire(absl::Now() + absl::Seconds(5)));
    held.push_back(std::move(lease));
  }

  const absl::Duration deadline = absl::Milliseconds(400);
  orders::v1::Order read;
  const absl::Time start = absl::Now();
  grpc::Status status = GetOrder(id, deadline, &read);
  const absl::Duration took = absl::Now() - start;
  std::printf("read with a %s deadline, pool exhausted: answered after %s\n",
              absl::FormatDuration(deadline).c_str(), absl::FormatDuration(took).c_str());

  // The pool's answer, as for a keyed write, reached the caller before its own deadline fired.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(pool_->usage().exhausted, exhausted_before + 1);  // the pool wait is what ended
  EXPECT_GE(took, deadline - pg::kLockTimeoutMargin - absl::Milliseconds(100)) << took;
  EXPECT_LT(took, deadline + absl::Milliseconds(250)) << took;

  held.clear();
  ASSERT_TRUE(GetOrder(id, deadline, &read).ok());
  EXPECT_EQ(read.id(), id);
}

}  // namespace
}  // namespace orders

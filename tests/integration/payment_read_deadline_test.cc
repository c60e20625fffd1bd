// Reads are bounded by the caller's deadline: with every pooled connection on loan, a GetCharge
// through the real gRPC adapter and PgLedger (real PostgreSQL) answers the pool's
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
#include "payment_service/payment_grpc_service.h"
#include "payment_service/pg_ledger.h"
#include "payments/v1/payments.grpc.pb.h"
#include "tests/support/order_builders.h"
#include "tests/support/read_deadline.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"

namespace payment_service {
namespace {

constexpr int kPoolSize = 2;

class PaymentReadDeadlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(std::string db, testing_support::CreateTestDatabase("pay_deadline"));
    pool_ = std::make_unique<pg::Pool>(db, kPoolSize);
    ASSERT_OK_AND_ASSIGN(ledger_, PgLedger::Open(pool_.get()));
    payments_ = std::make_unique<Payments>(*ledger_, faults_);
    ASSERT_OK_AND_ASSIGN(auth_, common::TokenAuthenticator::Parse("secret=alice"));
    service_ = std::make_unique<PaymentGrpcService>(*payments_, auth_);
    stub_ =
        testing_support::StartLoopbackStub<payments::v1::PaymentService>(service_.get(), &server_);
    ASSERT_NE(stub_, nullptr);
  }

  grpc::Status GetCharge(int64_t id, absl::Duration timeout, payments::v1::Charge* out) {
    payments::v1::GetChargeRequest request;
    request.set_id(id);
    auto context = common::NewClientContext({.timeout = timeout, .bearer_token = "secret"});
    return stub_->GetCharge(context.get(), request, out);
  }

  FaultInjector faults_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<PgLedger> ledger_;
  std::unique_ptr<Payments> payments_;
  common::TokenAuthenticator auth_;
  std::unique_ptr<PaymentGrpcService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<payments::v1::PaymentService::Stub> stub_;
};

TEST_F(PaymentReadDeadlineTest, ReadWithShortDeadlineEndsByItWhilePoolIsExhausted) {
  payments::v1::Charge charge;
  {
    auto context = common::NewClientContext({.idempotency_key = "k1", .bearer_token = "secret"});
    ASSERT_TRUE(stub_
                    ->Charge(context.get(),
                             testing_support::ChargeOf(7, 500, "pm_card_visa", "USD", "cust"),
                             &charge)
                    .ok());
  }
  testing_support::ExpectReadBoundedByDeadline(
      *pool_, kPoolSize, absl::Milliseconds(400), [&](absl::Duration deadline) {
        payments::v1::Charge read;
        grpc::Status status = GetCharge(charge.id(), deadline, &read);
        if (status.ok()) EXPECT_EQ(read.id(), charge.id());
        return status;
      });
}

}  // namespace
}  // namespace payment_service

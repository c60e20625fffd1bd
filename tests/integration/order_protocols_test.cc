// What grpcurl relies on, spoken directly: server reflection lists and describes every service
// with no .proto at hand, and grpc.health.v1 answers SERVING once the database is reachable.
#include <sys/wait.h>

#include <set>

#include "common/client_context.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/support/health.h"
#include "tests/support/reflection.h"
#include "tests/support/service_stack.h"
#include "tests/support/wait.h"

namespace {

using testing_support::DescribeMethods;
using testing_support::HealthOf;
using testing_support::ListServices;

TEST(ProtocolsTest, ReflectionListsAndDescribesBothServicesAndHealthIsServing) {
  auto stack = testing_support::ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  const std::string order_addr = (*stack)->order_addr();
  const std::string payment_addr = (*stack)->payment_addr();

  std::set<std::string> order_services = ListServices(order_addr);
  EXPECT_TRUE(order_services.count("orders.v1.OrderService"));
  EXPECT_TRUE(order_services.count("grpc.health.v1.Health"));
  std::set<std::string> payment_services = ListServices(payment_addr);
  EXPECT_TRUE(payment_services.count("payments.v1.PaymentService"));
  EXPECT_TRUE(payment_services.count("payments.v1.PaymentFaultAdmin"));

  EXPECT_EQ(DescribeMethods(order_addr, "orders.v1.OrderService"),
            (std::set<std::string>{"CreateOrder", "GetOrder", "ListOrders", "CancelOrder",
                                   "SetShippingAddress", "GetOrderAnalytics", "PutImportChunk",
                                   "CommitImport"}));
  std::set<std::string> payment_methods =
      DescribeMethods(payment_addr, "payments.v1.PaymentService");
  for (const char* m : {"Charge", "Refund", "GetCharge", "ListCharges", "GetLedgerSummary"}) {
    EXPECT_TRUE(payment_methods.count(m)) << m;
  }

  // The readiness probe flips health to SERVING once it has reached the database.
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return HealthOf(order_addr, "") == grpc::health::v1::HealthCheckResponse::SERVING; },
      absl::Seconds(5), "order_service SERVING"));
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return HealthOf(payment_addr, "") == grpc::health::v1::HealthCheckResponse::SERVING; },
      absl::Seconds(5), "payment_service SERVING"));

  // SIGTERM: the service drains and exits cleanly.
  (*stack)->order()->Signal(SIGTERM);
  const int status = (*stack)->order()->WaitExit(absl::Seconds(10));
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace

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
#include "tests/support/service_stack.h"
#include "tests/support/wait.h"

namespace {

namespace reflection = grpc::reflection::v1alpha;

std::set<std::string> ListServices(const std::string& addr) {
  auto stub = reflection::ServerReflection::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  auto context = common::NewClientContext({});
  auto stream = stub->ServerReflectionInfo(context.get());
  reflection::ServerReflectionRequest request;
  request.set_list_services("");
  EXPECT_TRUE(stream->Write(request));
  stream->WritesDone();
  reflection::ServerReflectionResponse response;
  std::set<std::string> names;
  while (stream->Read(&response)) {
    for (const auto& s : response.list_services_response().service()) names.insert(s.name());
  }
  EXPECT_TRUE(stream->Finish().ok());
  return names;
}

// The methods of `service` as reflection describes them (what `grpcurl describe` prints).
std::set<std::string> DescribeMethods(const std::string& addr, const std::string& service) {
  auto stub = reflection::ServerReflection::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  auto context = common::NewClientContext({});
  auto stream = stub->ServerReflectionInfo(context.get());
  reflection::ServerReflectionRequest request;
  request.set_file_containing_symbol(service);
  EXPECT_TRUE(stream->Write(request));
  stream->WritesDone();
  reflection::ServerReflectionResponse response;
  std::set<std::string> methods;
  while (stream->Read(&response)) {
    for (const auto& bytes : response.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      EXPECT_TRUE(file.ParseFromString(bytes));
      for (const auto& s : file.service()) {
        if (file.package() + "." + s.name() != service) continue;
        for (const auto& m : s.method()) methods.insert(m.name());
      }
    }
  }
  EXPECT_TRUE(stream->Finish().ok());
  return methods;
}

grpc::health::v1::HealthCheckResponse::ServingStatus Health(const std::string& addr,
                                                            const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  auto context = common::NewClientContext({});
  if (!stub->Check(context.get(), request, &response).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

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
      [&] { return Health(order_addr, "") == grpc::health::v1::HealthCheckResponse::SERVING; },
      absl::Seconds(5), "order_service SERVING"));
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return Health(payment_addr, "") == grpc::health::v1::HealthCheckResponse::SERVING; },
      absl::Seconds(5), "payment_service SERVING"));

  // SIGTERM: the service drains and exits cleanly.
  (*stack)->order()->Signal(SIGTERM);
  const int status = (*stack)->order()->WaitExit(absl::Seconds(10));
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace

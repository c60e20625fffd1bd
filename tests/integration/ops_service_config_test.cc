// deploy/service_config.json on real channels to the real pair: accepted, calls succeed, its
// retryPolicy retries a transient Charge with the same key (one charge), and a broken config is
// rejected.
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/orders_client.h"
#include "common/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/validate_service_config.h"
#include "gtest/gtest.h"
#include "payments/v1/payments.grpc.pb.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"

namespace {

std::string ServiceConfigJson() {
  std::ifstream in(SERVICE_CONFIG_PATH);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::shared_ptr<grpc::Channel> ChannelWithConfig(const std::string& addr, const std::string& json) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(json);
  return grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
}

class OpsServiceConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing_support::StackOptions options;
    options.payment_args = {"--flaky_failures=2"};
    auto stack = testing_support::ServiceStack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
  }
  std::unique_ptr<testing_support::ServiceStack> stack_;
};

TEST_F(OpsServiceConfigTest, DocumentedConfigIsAcceptedByARealChannelAndCallsSucceed) {
  const std::string json = ServiceConfigJson();
  ASSERT_EQ(grpc::experimental::ValidateServiceConfigJSON(json), "");
  auto channel = ChannelWithConfig(stack_->order_addr(), json);
  auto stub = orders::v1::OrderService::NewStub(channel);

  const orders::v1::CreateOrderRequest request =
      testing_support::OrderOf("sc-cust", "USD", {{"mug", 2, 800}});
  orders::v1::CreateOrderResponse created;
  auto context = common::NewClientContext({.idempotency_key = "service-config-1"});
  grpc::Status status = stub->CreateOrder(context.get(), request, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();

  orders::v1::GetOrderRequest get;
  get.set_id(created.order().id());
  orders::v1::Order order;
  auto get_context = common::NewClientContext({});
  ASSERT_TRUE(stub->GetOrder(get_context.get(), get, &order).ok());
  orders::v1::ListOrdersRequest list;
  list.set_customer_id("sc-cust");
  orders::v1::ListOrdersResponse page;
  auto list_context = common::NewClientContext({});
  ASSERT_TRUE(stub->ListOrders(list_context.get(), list, &page).ok());
  EXPECT_EQ(page.orders_size(), 1);
  EXPECT_EQ(channel->GetLoadBalancingPolicyName(), "round_robin");

  // The client library takes the same config.
  orders_client::ClientOptions options;
  options.target = stack_->order_addr();
  options.service_config_json = json;
  auto client = orders_client::OrdersClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->GetOrder(created.order().id()).ok());
}

TEST_F(OpsServiceConfigTest, RetryPolicyRetriesATransientChargeWithTheSameKey) {
  const std::string json = ServiceConfigJson();
  // pm_card_flaky: UNAVAILABLE twice per key, then succeeds.
  payments::v1::ChargeRequest request =
      testing_support::ChargeOf(990001, 500, "pm_card_flaky", "USD", "sc-cust");

  // Without the config, the first answer is the caller's problem.
  auto plain = payments::v1::PaymentService::NewStub(
      grpc::CreateChannel(stack_->payment_addr(), grpc::InsecureChannelCredentials()));
  payments::v1::Charge charge;
  auto context = common::NewClientContext({.idempotency_key = "sc-charge-plain"});
  EXPECT_EQ(plain->Charge(context.get(), request, &charge).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // With it, one call from the application's point of view: gRPC retried with the same key.
  auto stub =
      payments::v1::PaymentService::NewStub(ChannelWithConfig(stack_->payment_addr(), json));
  request.set_order_id(990002);
  auto retried = common::NewClientContext({.idempotency_key = "sc-charge-retried"});
  grpc::Status status = stub->Charge(retried.get(), request, &charge);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(charge.status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
  auto charges = stack_->ChargesOf(990002);
  ASSERT_TRUE(charges.ok());
  EXPECT_EQ(charges->size(), 1u);
}

TEST_F(OpsServiceConfigTest, InvalidConfigIsRejected) {
  const std::string broken =
      R"({"methodConfig":[{"name":[{"service":"orders.v1.OrderService"}],)"
      R"("retryPolicy":{"maxAttempts":"many","retryableStatusCodes":["UNAVAILABLE"]}}]})";
  EXPECT_NE(grpc::experimental::ValidateServiceConfigJSON(broken), "");
  // A channel built with it anyway fails every call instead of running without the policy.
  auto stub = orders::v1::OrderService::NewStub(ChannelWithConfig(stack_->order_addr(), broken));
  orders::v1::GetOrderRequest get;
  get.set_id(1);
  orders::v1::Order order;
  auto context = common::NewClientContext({.timeout = absl::Seconds(3)});
  grpc::Status status = stub->GetOrder(context.get(), get, &order);
  EXPECT_FALSE(status.ok());
  std::printf("broken service config: %d %s\n", status.error_code(),
              status.error_message().c_str());
  // The client library refuses it up front.
  orders_client::ClientOptions options;
  options.target = stack_->order_addr();
  options.service_config_json = broken;
  EXPECT_EQ(orders_client::OrdersClient::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace

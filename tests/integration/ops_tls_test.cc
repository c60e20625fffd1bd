// TLS and mTLS on both services, with certificates generated for the test by the openssl tool:
// a client without a valid certificate is refused, one with a certificate signed by the
// configured CA gets through, and the order service reaches payments over mTLS (orders get PAID).
#include <sys/wait.h>

#include "absl/strings/str_cat.h"
#include "client/orders_client.h"
#include "common/client_context.h"
#include "common/tls.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "payments/v1/payments.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/ops_http.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"
#include "tests/support/wait.h"

namespace {

orders::v1::CreateOrderRequest AnOrder() {
  return testing_support::OrderOf("tls-cust", "EUR", {{"lamp", 1, 4200}});
}

class OpsTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_support::MakeTempDir("tls");
    ASSERT_TRUE(testing_support::MakeTestCertificates(dir_).ok());
  }
  std::string Pem(const std::string& name) const { return dir_ + "/" + name; }

  // A client of the order service with the given TLS settings; few, short attempts.
  std::unique_ptr<orders_client::OrdersClient> Client(const std::string& addr,
                                                      common::ClientTlsConfig tls,
                                                      absl::Duration patience = absl::Seconds(4)) {
    orders_client::ClientOptions options;
    options.target = addr;
    options.tls = tls;
    options.attempt_timeout = std::min(absl::Seconds(3), patience);
    options.overall_timeout = patience;
    options.max_attempts = patience > absl::Seconds(4) ? 10 : 2;
    auto client = orders_client::OrdersClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::string dir_;
};

TEST_F(OpsTlsTest, MutualTlsRefusesClientsWithoutAValidCertificateOnBothServices) {
  testing_support::StackOptions options;
  const std::vector<std::string> server_tls = {"--tls_cert=" + Pem("server.pem"),
                                               "--tls_key=" + Pem("server.key"),
                                               "--tls_client_ca=" + Pem("ca.pem")};
  options.payment_args = server_tls;
  options.order_args = server_tls;
  options.order_args.push_back("--payment_tls_ca=" + Pem("ca.pem"));
  options.order_args.push_back("--payment_tls_cert=" + Pem("client.pem"));
  options.order_args.push_back("--payment_tls_key=" + Pem("client.key"));
  auto stack = testing_support::ServiceStack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();

  const common::ClientTlsConfig good = {.ca_file = Pem("ca.pem"),
                                        .cert_file = Pem("client.pem"),
                                        .key_file = Pem("client.key"),
                                        .enabled = true};
  // The accepted client may wait longer: TLS handshakes are slow on a loaded machine.
  auto client = Client((*stack)->order_addr(), good, absl::Seconds(30));
  auto order = client->CreateOrder(AnOrder());
  ASSERT_TRUE(order.ok()) << order.status();
  // Charged through the relay's mTLS channel to payments.
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        auto o = client->GetOrder(order->id());
        return o.ok() && o->status() == orders::v1::ORDER_STATUS_PAID;
      },
      absl::Seconds(15), "order PAID over mTLS to payments"));

  struct Case {
    const char* what;
    common::ClientTlsConfig tls;
  };
  const std::vector<Case> refused = {
      {"plaintext", {}},
      {"TLS without a client certificate", {.ca_file = Pem("ca.pem"), .enabled = true}},
      {"a certificate from another CA",
       {.ca_file = Pem("ca.pem"),
        .cert_file = Pem("rogue-client.pem"),
        .key_file = Pem("rogue-client.key"),
        .enabled = true}},
      {"a client that does not trust the server's CA",
       {.ca_file = Pem("rogue-ca.pem"),
        .cert_file = Pem("client.pem"),
        .key_file = Pem("client.key"),
        .enabled = true}},
  };
  for (const Case& c : refused) {
    auto bad = Client((*stack)->order_addr(), c.tls);
    auto got = bad->GetOrder(order->id());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable)
        << c.what << ": " << got.status();
    auto created = bad->CreateOrder(AnOrder());
    EXPECT_FALSE(created.ok()) << c.what;
  }

  // Payments refuses a caller without a client certificate too.
  for (bool with_cert : {false, true}) {
    common::ClientTlsConfig tls = {.ca_file = Pem("ca.pem"), .enabled = true};
    if (with_cert) {
      tls.cert_file = Pem("client.pem");
      tls.key_file = Pem("client.key");
    }
    auto credentials = common::MakeChannelCredentials(tls);
    ASSERT_TRUE(credentials.ok());
    auto stub = payments::v1::PaymentService::NewStub(
        grpc::CreateChannel((*stack)->payment_addr(), *credentials));
    payments::v1::ListChargesRequest request;
    request.set_order_id(order->id());
    payments::v1::ListChargesResponse response;
    auto context = common::NewClientContext({.timeout = absl::Seconds(3)});
    grpc::Status status = stub->ListCharges(context.get(), request, &response);
    if (with_cert) {
      ASSERT_TRUE(status.ok()) << status.error_message();
      ASSERT_EQ(response.charges_size(), 1);
      EXPECT_EQ(response.charges(0).status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    }
  }
}

TEST_F(OpsTlsTest, ServerOnlyTlsAcceptsAnyClientThatTrustsItAndRefusesPlaintext) {
  testing_support::StackOptions options;
  options.order_args = {"--tls_cert=" + Pem("server.pem"), "--tls_key=" + Pem("server.key")};
  auto stack = testing_support::ServiceStack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto tls = Client((*stack)->order_addr(), {.ca_file = Pem("ca.pem"), .enabled = true},
                    absl::Seconds(30));
  auto order = tls->CreateOrder(AnOrder());
  ASSERT_TRUE(order.ok()) << order.status();
  // The name checked against the certificate can be set apart from the address.
  auto by_name = Client((*stack)->order_addr(),
                        {.ca_file = Pem("ca.pem"), .server_name = "localhost", .enabled = true});
  EXPECT_TRUE(by_name->GetOrder(order->id()).ok());
  auto wrong_name =
      Client((*stack)->order_addr(),
             {.ca_file = Pem("ca.pem"), .server_name = "orders.example.com", .enabled = true});
  EXPECT_FALSE(wrong_name->GetOrder(order->id()).ok());
  auto plain = Client((*stack)->order_addr(), {});
  EXPECT_EQ(plain->GetOrder(order->id()).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(OpsTlsTest, BadTlsConfigurationStopsTheServiceWithAClearMessage) {
  const std::string log = dir_ + "/bad.log";
  auto child = testing_support::ChildProcess::Start(
      PAYMENT_SERVICE_BIN, {"--port=0", "--store=memory", "--tls_cert=" + Pem("server.pem")}, log);
  ASSERT_TRUE(child.ok());
  const int status = child->WaitExit(absl::Seconds(10));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  auto text = common::ReadFileToString(log);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("--tls_cert needs --tls_key"), std::string::npos) << *text;
}

}  // namespace

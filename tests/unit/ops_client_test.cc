// The client library against an in-process OrderService that fails on script: one key per
// logical operation reused on every retry, transient codes retried with backoff under an overall
// deadline, RetryInfo honoured, deterministic codes never retried; and the documented service
// config (deploy/service_config.json) makes a plain gRPC channel retry the same way.
#include <atomic>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/orders_client.h"
#include "common/errors.h"
#include "common/grpc_metadata.h"
#include "common/idempotency.h"
#include "common/rpc_interceptor.h"
#include "common/status_mapper.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/validate_service_config.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;

constexpr char kPushbackPayload[] = "test/pushback-ms";

absl::Status WithPushback(absl::Status status, absl::string_view ms) {
  status.SetPayload(kPushbackPayload, absl::Cord(ms));
  return status;
}

// Answers each call with the next scripted status (OK once the script runs out), recording the
// idempotency key, attempt header and grpc-previous-rpc-attempts of every call.
class FlakyOrders : public orders::v1::OrderService::Service {
 public:
  struct Seen {
    std::string key;
    std::string attempt;
    std::string previous_attempts;
  };

  void Script(std::vector<absl::Status> answers) {
    absl::MutexLock lock(&mu_);
    script_ = std::move(answers);
    seen_.clear();
  }
  std::vector<Seen> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

  grpc::Status CreateOrder(grpc::ServerContext* context, const orders::v1::CreateOrderRequest*,
                           orders::v1::CreateOrderResponse* response) override {
    grpc::Status s = Next(*context);
    if (s.ok()) response->mutable_order()->set_id(7);
    return s;
  }
  grpc::Status GetOrder(grpc::ServerContext* context, const orders::v1::GetOrderRequest* request,
                        orders::v1::Order* order) override {
    grpc::Status s = Next(*context);
    if (s.ok()) order->set_id(request->id());
    return s;
  }
  grpc::Status CancelOrder(grpc::ServerContext* context, const orders::v1::CancelOrderRequest* r,
                           orders::v1::CancelOrderResponse* response) override {
    grpc::Status s = Next(*context);
    if (s.ok()) {
      response->mutable_order()->set_id(r->id());
      response->mutable_order()->set_status(orders::v1::ORDER_STATUS_CANCELLED);
      common::MarkReplayed(*context);
    }
    return s;
  }

 private:
  grpc::Status Next(grpc::ServerContext& context) {
    auto first = [&](absl::string_view name) {
      auto values = common::MetadataValues(context, name);
      return values.empty() ? std::string() : std::string(values.front());
    };
    absl::MutexLock lock(&mu_);
    seen_.push_back({first(common::kIdempotencyKeyHeader), first(common::kAttemptHeader),
                     first("grpc-previous-rpc-attempts")});
    if (seen_.size() > script_.size()) return grpc::Status::OK;
    const absl::Status& answer = script_[seen_.size() - 1];
    // A scripted pushback travels as the gRFC A6 trailer, as admission control sends it.
    if (auto pushback = answer.GetPayload(kPushbackPayload)) {
      context.AddTrailingMetadata(common::kRetryPushbackHeader, std::string(*pushback));
    }
    return common::ToGrpcStatus(answer, "orders.example");
  }

  absl::Mutex mu_;
  std::vector<absl::Status> script_ ABSL_GUARDED_BY(mu_);
  std::vector<Seen> seen_ ABSL_GUARDED_BY(mu_);
};

class OpsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<orders_client::OrdersClient> Client(orders_client::ClientOptions options = {}) {
    options.target = absl::StrCat("127.0.0.1:", port_);
    options.backoff = {absl::Milliseconds(5), absl::Milliseconds(40), 2.0};
    auto client = orders_client::OrdersClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  FlakyOrders service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

orders::v1::CreateOrderRequest AnOrder() {
  orders::v1::CreateOrderRequest request;
  request.set_customer_id("c");
  return request;
}

TEST(OpsIdempotencyKeyTest, RandomHex128) {
  std::set<std::string> keys;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = orders_client::NewIdempotencyKey();
    ASSERT_EQ(key.size(), 32u);
    ASSERT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 1000u);
}

TEST_F(OpsClientTest, TransientCodesAreRetriedWithTheSameKey) {
  service_.Script({absl::UnavailableError("down"), absl::DeadlineExceededError("slow"),
                   absl::AbortedError("busy"), absl::ResourceExhaustedError("full")});
  auto client = Client();
  orders_client::CallInfo info;
  auto order = client->CreateOrder(AnOrder(), {.info = &info});
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->id(), 7);
  EXPECT_EQ(info.attempts, 5);
  const auto seen = service_.seen();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].key.size(), 32u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].key, info.idempotency_key);
    EXPECT_EQ(seen[i].attempt, absl::StrCat(i + 1));
  }
  // The next logical operation gets a new key.
  ASSERT_TRUE(client->CreateOrder(AnOrder()).ok());
  EXPECT_NE(service_.seen().back().key, info.idempotency_key);
}

TEST_F(OpsClientTest, CallersKeyIsUsedAndReplayIsReported) {
  auto client = Client();
  orders_client::CallInfo info;
  auto order =
      client->CancelOrder(5, "changed my mind", {.idempotency_key = "my-key", .info = &info});
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(service_.seen().at(0).key, "my-key");
  EXPECT_EQ(info.idempotency_key, "my-key");
  EXPECT_TRUE(info.replayed);
}

TEST_F(OpsClientTest, DeterministicCodesAreNeverRetried) {
  for (absl::Status error : {common::ErrorWithReason(absl::StatusCode::kFailedPrecondition,
                                                     "IDEMPOTENCY_KEY_REUSED", "reused"),
                             absl::InvalidArgumentError("bad"), absl::NotFoundError("none"),
                             absl::PermissionDeniedError("no"), absl::UnauthenticatedError("who"),
                             absl::InternalError("bug")}) {
    service_.Script({error});
    auto client = Client();
    orders_client::CallInfo info;
    auto order = client->CreateOrder(AnOrder(), {.info = &info});
    ASSERT_FALSE(order.ok());
    EXPECT_EQ(order.status().code(), error.code());
    EXPECT_EQ(info.attempts, 1) << error;
    EXPECT_EQ(service_.seen().size(), 1u) << error;
  }
}

// gRPC refuses a message over the server's limit before any handler runs, with
// RESOURCE_EXHAUSTED and no ErrorInfo; the same message is refused every time, so the client
// returns it after one attempt (a RESOURCE_EXHAUSTED of the service itself is still retried, see
// TransientCodesAreRetriedWithTheSameKey).
TEST(OpsClientLimitTest, MessageOverTheServersLimitIsNotRetried) {
  FlakyOrders service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(1024);
  auto server = builder.BuildAndStart();
  ASSERT_GT(port, 0);
  orders_client::ClientOptions options;
  options.target = absl::StrCat("127.0.0.1:", port);
  options.backoff = {absl::Milliseconds(5), absl::Milliseconds(40), 2.0};
  auto client = orders_client::OrdersClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();

  orders::v1::CreateOrderRequest large = AnOrder();
  large.set_customer_id(std::string(4096, 'c'));
  orders_client::CallInfo info;
  auto order = (*client)->CreateOrder(large, {.info = &info});
  std::printf("over the limit: %s\n", order.status().ToString().c_str());
  EXPECT_EQ(order.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(common::IsMessageTooLarge(order.status()));
  EXPECT_FALSE(orders_client::IsRetryable(order.status()));
  EXPECT_EQ(info.attempts, 1);
  EXPECT_TRUE(service.seen().empty());
  // The same client and server, a message within the limit: accepted.
  EXPECT_TRUE((*client)->CreateOrder(AnOrder()).ok());
  server->Shutdown();
}

TEST_F(OpsClientTest, RetryInfoIsHonoured) {
  service_.Script({common::WithRetryDelay(absl::AbortedError("in use"), absl::Milliseconds(300))});
  auto client = Client();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(client->GetOrder(3).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(service_.seen().size(), 2u);
  EXPECT_EQ(service_.seen()[0].key, "");  // reads carry no key
}

TEST_F(OpsClientTest, ServerPushbackSetsTheWaitBeforeTheNextTry) {
  // Overloaded twice (RESOURCE_EXHAUSTED with grpc-retry-pushback-ms: 250), then served. The
  // backoff alone would wait at most 5 + 10 ms (see Client()); the pushback replaces it.
  const absl::Status overloaded = WithPushback(
      common::ErrorWithReason(absl::StatusCode::kResourceExhausted, "OVERLOADED", "full"), "250");
  service_.Script({overloaded, overloaded});
  auto client = Client();
  orders_client::CallInfo info;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(client->CreateOrder(AnOrder(), {.info = &info}).ok());
  const absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(info.attempts, 3);
  EXPECT_GE(waited, absl::Milliseconds(500));
  EXPECT_LT(waited, absl::Milliseconds(500) + absl::Milliseconds(200));
  std::printf("client wait for two pushbacks of 250 ms: %.1f ms\n",
              absl::ToDoubleMilliseconds(waited));
}

TEST_F(OpsClientTest, NegativePushbackMeansDoNotRetry) {
  service_.Script({WithPushback(absl::UnavailableError("draining"), "-1")});
  auto client = Client();
  orders_client::CallInfo info;
  auto order = client->GetOrder(1, {.info = &info});
  EXPECT_EQ(order.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(info.attempts, 1);
}

TEST_F(OpsClientTest, RetryThrottleStopsRetriesWhenMostCallsFail) {
  std::vector<absl::Status> always(1000, absl::UnavailableError("down"));
  service_.Script(always);
  auto client =
      Client({.max_attempts = 0, .retry_throttle = {.max_tokens = 10, .token_ratio = 0.1}});
  // Tokens 10, ratio 0.1 (as deploy/service_config.json): retries stop once 5 are spent.
  orders_client::CallInfo info;
  auto first = client->GetOrder(1, {.timeout = absl::Seconds(10), .info = &info});
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(info.attempts, 5);
  EXPECT_TRUE(info.throttled);
  // The next operation gets one try and no retry: the client adds no load to a failing server.
  auto second = client->GetOrder(1, {.timeout = absl::Seconds(10), .info = &info});
  EXPECT_EQ(info.attempts, 1);
  EXPECT_TRUE(info.throttled);
  EXPECT_EQ(service_.seen().size(), 6u);
  // Successes earn tokens back (0.1 each): 30 of them lift 4 tokens to 7, so a failure (6 left)
  // is retried again.
  service_.Script({});
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(client->GetOrder(1).ok());
  service_.Script({absl::UnavailableError("blip")});
  auto third = client->GetOrder(1, {.info = &info});
  EXPECT_TRUE(third.ok());
  EXPECT_EQ(info.attempts, 2);
  EXPECT_FALSE(info.throttled);
}

TEST_F(OpsClientTest, OverallDeadlineAndAttemptBudgetBoundRetries) {
  std::vector<absl::Status> always(1000, absl::UnavailableError("down"));
  service_.Script(always);
  auto client = Client({.max_attempts = 0});
  const absl::Time start = absl::Now();
  orders_client::CallInfo info;
  auto order = client->GetOrder(1, {.timeout = absl::Milliseconds(400), .info = &info});
  const absl::Duration took = absl::Now() - start;
  // The last attempt's error, or the overall deadline cutting the last attempt short (on a
  // loaded machine): a transient code either way, and the deadline holds.
  EXPECT_THAT(order.status().code(), ::testing::AnyOf(absl::StatusCode::kUnavailable,
                                                      absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(took, absl::Milliseconds(400) + absl::Seconds(1));
  EXPECT_GT(info.attempts, 3);

  service_.Script(always);
  auto limited = Client({.max_attempts = 3});
  auto again = limited->GetOrder(1, {.info = &info});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(info.attempts, 3);
}

std::string ServiceConfigJson() {
  std::ifstream in(SERVICE_CONFIG_PATH);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(OpsServiceConfigUnitTest, DocumentedConfigIsValidAndABrokenOneIsNot) {
  const std::string json = ServiceConfigJson();
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(grpc::experimental::ValidateServiceConfigJSON(json), "");
  EXPECT_NE(grpc::experimental::ValidateServiceConfigJSON(
                R"({"methodConfig": [{"name": [{"service": "orders.v1.OrderService"}],
      "retryPolicy": {"maxAttempts": 1, "initialBackoff": "soon"}}]})"),
            "");
  auto client = orders_client::OrdersClient::Create(
      {.target = "127.0.0.1:1", .service_config_json = "{not json"});
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
}

// A plain stub on a channel with the documented config: gRPC itself retries UNAVAILABLE,
// resending the same metadata, so the idempotency key is the same on every attempt.
TEST_F(OpsClientTest, ServiceConfigRetriesTransientCodesOnAPlainChannel) {
  service_.Script({absl::UnavailableError("down"), absl::AbortedError("in use")});
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(ServiceConfigJson());
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = orders::v1::OrderService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.AddMetadata("idempotency-key", "sc-key-1");
  orders::v1::CreateOrderRequest request = AnOrder();
  orders::v1::CreateOrderResponse response;
  grpc::Status status = stub->CreateOrder(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const auto seen = service_.seen();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& s : seen) EXPECT_EQ(s.key, "sc-key-1");
  EXPECT_EQ(seen[0].previous_attempts, "");
  EXPECT_EQ(seen[2].previous_attempts, "2");

  // FAILED_PRECONDITION is not in retryableStatusCodes.
  service_.Script({absl::FailedPreconditionError("reused")});
  grpc::ClientContext context2;
  context2.AddMetadata("idempotency-key", "sc-key-2");
  status = stub->CreateOrder(&context2, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(service_.seen().size(), 1u);

  // Nor is RESOURCE_EXHAUSTED: a policy chooses by code alone, and gRPC answers that code for a
  // message over the size limit, which no retry changes.
  service_.Script({absl::ResourceExhaustedError("Received message larger than max (9 vs. 8)")});
  grpc::ClientContext context3;
  context3.AddMetadata("idempotency-key", "sc-key-3");
  status = stub->CreateOrder(&context3, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(service_.seen().size(), 1u);
}

}  // namespace

// The observability pieces on their own: JSON lines, the metrics registry and its HTTP endpoint,
// the RPC interceptor over an in-process server, start-up configuration checks, env fallbacks.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/client_context.h"
#include "common/config_check.h"
#include "common/env.h"
#include "common/errors.h"
#include "common/grpc_metadata.h"
#include "common/grpc_server.h"
#include "common/idempotency.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/retry_pushback.h"
#include "common/rpc_interceptor.h"
#include "common/status_mapper.h"
#include "common/unparseable_request.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"
#include "gtest/gtest.h"
#include "orders/v1/orders.grpc.pb.h"
#include "tests/support/ops_http.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::MetricSum;

// Parses one log line as JSON (proving it is valid JSON) into a Struct.
google::protobuf::Struct ParseJson(const std::string& line) {
  google::protobuf::Struct out;
  auto status = google::protobuf::util::JsonStringToMessage(line, &out);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << line;
  return out;
}

TEST(OpsJsonLineTest, EscapesAndKeepsOrder) {
  const std::string line = common::JsonLine()
                               .Str("a", "quote\" back\\ nl\n tab\t ctl\x01")
                               .Int("n", -7)
                               .Num("x", 1.23456)
                               .Bool("b", true)
                               .Time("t", absl::FromUnixMillis(1700000000123))
                               .Build();
  EXPECT_EQ(line,
            "{\"a\":\"quote\\\" back\\\\ nl\\n tab\\t ctl\\u0001\",\"n\":-7,\"x\":1.235,"
            "\"b\":true,\"t\":\"2023-11-14T22:13:20.123Z\"}");
  auto parsed = ParseJson(line);
  EXPECT_EQ(parsed.fields().at("a").string_value(), "quote\" back\\ nl\n tab\t ctl\x01");
}

TEST(OpsRpcLogLineTest, CarriesTheListedFieldsAndIsValidJson) {
  common::RpcRecord r;
  r.time = absl::FromUnixSeconds(1700000000);
  r.service = "order_service";
  r.method = "/orders.v1.OrderService/CreateOrder";
  r.code = 9;
  r.latency = absl::Microseconds(3214);
  r.peer = "ipv4:127.0.0.1:4000";
  r.key_hash = common::ShortHash("secret-key");
  r.replayed = true;
  r.order_id = 17;
  r.attempt = 2;
  r.reason = "IDEMPOTENCY_KEY_REUSED";
  const std::string line = common::FormatRpcLogLine(r);
  auto json = ParseJson(line);
  EXPECT_EQ(json.fields().at("method").string_value(), r.method);
  EXPECT_EQ(json.fields().at("code").string_value(), "FAILED_PRECONDITION");
  EXPECT_DOUBLE_EQ(json.fields().at("latency_ms").number_value(), 3.214);
  EXPECT_EQ(json.fields().at("key_hash").string_value(), common::ShortHash("secret-key"));
  EXPECT_TRUE(json.fields().at("replayed").bool_value());
  EXPECT_EQ(json.fields().at("order_id").number_value(), 17);
  EXPECT_EQ(json.fields().at("attempt").number_value(), 2);
  EXPECT_EQ(json.fields().at("peer").string_value(), "ipv4:127.0.0.1:4000");
  EXPECT_THAT(line, Not(HasSubstr("secret-key")));
}

TEST(OpsKeyConflictTest, ReasonsAndCodes) {
  EXPECT_EQ(common::KeyConflictReason(9, "IDEMPOTENCY_KEY_REUSED", true), "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(common::KeyConflictReason(10, "IDEMPOTENCY_KEY_IN_USE", true),
            "IDEMPOTENCY_KEY_IN_USE");
  // Another FAILED_PRECONDITION reason is not a key conflict.
  EXPECT_EQ(common::KeyConflictReason(9, "ORDER_ALREADY_CANCELLED", true), "");
  // Without ErrorInfo, the code decides, for calls that carried a key.
  EXPECT_EQ(common::KeyConflictReason(10, "", true), "ABORTED");
  EXPECT_EQ(common::KeyConflictReason(10, "", false), "");
  EXPECT_EQ(common::KeyConflictReason(0, "", true), "");
}

TEST(OpsKeyConflictTest, ReasonIsReadFromStatusDetails) {
  grpc::Status status = common::ToGrpcStatus(
      common::ErrorWithReason(absl::StatusCode::kAborted, "IDEMPOTENCY_KEY_IN_USE", "busy"),
      "orders.example");
  EXPECT_EQ(common::ErrorReasonFromDetails(status.error_details()), "IDEMPOTENCY_KEY_IN_USE");
  EXPECT_EQ(common::ErrorReasonFromDetails(""), "");
  EXPECT_EQ(common::ErrorReasonFromDetails("not a proto \xff"), "");
}

TEST(OpsMetricsRegistryTest, SplitsMethodsAndNamesCodes) {
  EXPECT_EQ(common::SplitGrpcMethod("/orders.v1.OrderService/CreateOrder"),
            std::make_pair(std::string("orders.v1.OrderService"), std::string("CreateOrder")));
  EXPECT_EQ(common::GrpcCodeName(0), "OK");
  EXPECT_EQ(common::GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(common::GrpcCodeName(99), "CODE_99");
}

TEST(OpsMetricsRegistryTest, RecordsRpcsAndCollectorsAndServesThemOverHttp) {
  auto metrics = common::Metrics::Start({.host = "127.0.0.1", .port = 0});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_GT((*metrics)->port(), 0);
  int pending = 3;
  (*metrics)->AddCollector([&pending](common::MetricsWriter& w) {
    w.Gauge("test_pending", "pending things", pending);
    w.Counter("test_done_total", "done things", 10, {{"kind", "a"}});
    w.Counter("test_done_total", "done things", 5, {{"kind", "b"}});
  });
  const std::string method = "/orders.v1.OrderService/CreateOrder";
  (*metrics)->RpcStarted(method);
  (*metrics)->RpcStarted(method);
  (*metrics)->RpcFinished(method, 0, absl::Milliseconds(3), /*replayed=*/true, "");
  (*metrics)->RpcFinished(method, 9, absl::Milliseconds(1), false, "IDEMPOTENCY_KEY_REUSED");

  auto body = testing_support::HttpGet((*metrics)->port());
  ASSERT_TRUE(body.ok()) << body.status();
  auto samples = testing_support::ParseMetrics(*body);
  const std::vector<std::string> create = {"grpc_method=\"CreateOrder\""};
  EXPECT_EQ(MetricSum(samples, "grpc_server_started_total", create), 2);
  EXPECT_EQ(MetricSum(samples, "grpc_server_handled_total", {"grpc_code=\"OK\""}), 1);
  EXPECT_EQ(MetricSum(samples, "grpc_server_handled_total", {"grpc_code=\"FAILED_PRECONDITION\""}),
            1);
  EXPECT_EQ(MetricSum(samples, "grpc_server_in_flight", create), 0);
  EXPECT_EQ(MetricSum(samples, "grpc_server_handling_seconds_count", create), 2);
  EXPECT_EQ(MetricSum(samples, "idempotency_replays_total", create), 1);
  EXPECT_EQ(
      MetricSum(samples, "idempotency_key_conflicts_total", {"reason=\"IDEMPOTENCY_KEY_REUSED\""}),
      1);
  EXPECT_EQ(MetricSum(samples, "test_pending"), 3);
  EXPECT_EQ(MetricSum(samples, "test_done_total"), 15);
  EXPECT_GT(MetricSum(samples, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_THAT(*body, HasSubstr("# TYPE test_done_total counter"));

  pending = 7;  // collectors are read at scrape time
  EXPECT_EQ(MetricSum(testing_support::Scrape((*metrics)->port()), "test_pending"), 7);
  EXPECT_THAT((*metrics)->Render(), HasSubstr("test_pending 7"));
}

TEST(OpsMetricsRegistryTest, OffWithMinusOneAndRefusesABusyPort) {
  auto off = common::Metrics::Start({.port = -1});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ((*off)->port(), -1);
  (*off)->RpcStarted("/a.B/C");
  EXPECT_THAT((*off)->Render(), HasSubstr("grpc_server_started_total"));

  auto first = common::Metrics::Start({.port = 0});
  ASSERT_TRUE(first.ok());
  auto second = common::Metrics::Start({.port = (*first)->port()});
  EXPECT_FALSE(second.ok());
}

// An in-process OrderService that answers according to the idempotency key it is given.
class ScriptedOrders : public orders::v1::OrderService::Service {
 public:
  grpc::Status CreateOrder(grpc::ServerContext* context, const orders::v1::CreateOrderRequest*,
                           orders::v1::CreateOrderResponse* response) override {
    auto key = common::IdempotencyKeyOf(*context);
    if (!key.ok()) return common::ToGrpcStatus(key.status(), "orders.example");
    if (*key == "conflict-key") {
      return common::ToGrpcStatus(common::ErrorWithReason(absl::StatusCode::kFailedPrecondition,
                                                          "IDEMPOTENCY_KEY_REUSED", "reused"),
                                  "orders.example");
    }
    if (*key == "busy-key") {  // a refusal with RetryInfo and no header of its own
      return common::ToGrpcStatus(
          common::WithRetryDelay(absl::ResourceExhaustedError("busy"), absl::Milliseconds(250)),
          "orders.example");
    }
    if (*key == "own-header-key") {  // the handler sent the header itself (admission does)
      const absl::Status busy =
          common::WithRetryDelay(absl::ResourceExhaustedError("busy"), absl::Milliseconds(300));
      common::AddRetryPushback(*context, busy);
      return common::ToGrpcStatus(busy, "orders.example");
    }
    if (*key == "replay-key") common::MarkReplayed(*context);
    if (*key == "slow-key") {  // answers OK, but only after the caller's deadline
      // Well after it: on a loaded machine the caller's deadline timer can fire tens of ms late,
      // and an OK that arrives first is taken as OK (seen with 20 ms, tests running beside CI).
      while (absl::Now() <= absl::FromChrono(context->deadline()) + absl::Milliseconds(250)) {
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
    response->mutable_order()->set_id(4242);
    return grpc::Status::OK;
  }
};

class OpsInterceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto metrics = common::Metrics::Start({.port = -1});
    ASSERT_TRUE(metrics.ok());
    metrics_ = std::move(*metrics);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    // In common::GrpcServer's order: the observer records what the caller gets.
    creators.push_back(common::NewUnparseableRequestFactory("orders.example"));
    creators.push_back(common::NewRetryPushbackFactory());
    creators.push_back(common::NewRpcObserverFactory({.metrics = metrics_.get(),
                                                      .log_rpcs = true,
                                                      .service = "test",
                                                      .sink = [this](const std::string& line) {
                                                        absl::MutexLock lock(&mu_);
                                                        lines_.push_back(line);
                                                      }}));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_GT(port_, 0);
    stub_ = orders::v1::OrderService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  grpc::Status Create(const std::string& key) {
    auto context = common::NewClientContext({.idempotency_key = key});
    context->AddMetadata(common::kAttemptHeader, "3");
    orders::v1::CreateOrderRequest request;
    orders::v1::CreateOrderResponse response;
    return stub_->CreateOrder(context.get(), request, &response);
  }

  // The line is written after the answer is sent: wait for it (10 s bound by the clock, for a
  // loaded machine; it normally takes milliseconds).
  void WaitForALine() {
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (Lines().empty() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(10));
  }

  std::vector<std::string> Lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

  // A CreateOrder call that sends its headers and no request message: the caller half-closes
  // (`half_close`), or cancels after `cancel_after`. Returns the status the caller got.
  grpc::Status CallWithoutMessage(bool half_close, absl::Duration cancel_after) {
    grpc::GenericStub generic(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
    auto context = common::NewClientContext({.idempotency_key = "no-message-key"});
    grpc::CompletionQueue cq;
    auto call = generic.PrepareCall(context.get(), "/orders.v1.OrderService/CreateOrder", &cq);
    void* tag = nullptr;
    bool ok = false;
    call->StartCall(reinterpret_cast<void*>(1));
    EXPECT_TRUE(cq.Next(&tag, &ok));
    if (half_close) {
      call->WritesDone(reinterpret_cast<void*>(2));
      EXPECT_TRUE(cq.Next(&tag, &ok));
    } else {
      absl::SleepFor(cancel_after);
      context->TryCancel();
    }
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(3));
    EXPECT_TRUE(cq.Next(&tag, &ok));
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  ScriptedOrders service_;
  std::unique_ptr<common::Metrics> metrics_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<orders::v1::OrderService::Stub> stub_;
  absl::Mutex mu_;
  std::vector<std::string> lines_;
};

// Every answer with a RetryInfo delay carries it as grpc-retry-pushback-ms too (gRFC A6), once,
// whether or not the handler added the header itself; other answers carry none.
TEST_F(OpsInterceptorTest, EveryRetryInfoDelayIsAlsoSentAsPushbackMetadataOnce) {
  auto call = [&](const std::string& key, grpc::Status* status) {
    auto context = common::NewClientContext({.idempotency_key = key});
    orders::v1::CreateOrderRequest request;
    orders::v1::CreateOrderResponse response;
    *status = stub_->CreateOrder(context.get(), request, &response);
    std::vector<std::string> values;
    const auto& trailers = context->GetServerTrailingMetadata();
    for (auto [it, end] = trailers.equal_range(common::kRetryPushbackHeader); it != end; ++it) {
      values.emplace_back(it->second.data(), it->second.size());
    }
    return values;
  };
  grpc::Status status;
  EXPECT_THAT(call("busy-key", &status), ::testing::ElementsAre("250"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(common::RetryDelayOf(common::FromGrpcStatus(status)), absl::Milliseconds(250));
  EXPECT_THAT(call("own-header-key", &status), ::testing::ElementsAre("300"));
  EXPECT_THAT(call("conflict-key", &status), ::testing::IsEmpty());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(call("any-key", &status), ::testing::IsEmpty());
  EXPECT_TRUE(status.ok());
}

// The caller got DEADLINE_EXCEEDED: the handler's late OK is logged and counted as that, never as
// OK (the log keeps the handler's code in server_code).
TEST_F(OpsInterceptorTest, AnOkAfterTheCallersDeadlineIsCountedAsDeadlineExceeded) {
  auto context =
      // 1 s: long enough that a loaded machine still starts the handler before the deadline.
      common::NewClientContext({.timeout = absl::Seconds(1), .idempotency_key = "slow-key"});
  orders::v1::CreateOrderResponse response;
  grpc::Status status = stub_->CreateOrder(context.get(), {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  WaitForALine();
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  auto line = ParseJson(lines[0]);
  EXPECT_EQ(line.fields().at("code").string_value(), "DEADLINE_EXCEEDED");
  EXPECT_EQ(line.fields().at("reason").string_value(), "ANSWERED_AFTER_DEADLINE");
  EXPECT_EQ(line.fields().at("server_code").string_value(), "OK");
  const std::string text = metrics_->Render();
  EXPECT_THAT(text, HasSubstr("grpc_code=\"DEADLINE_EXCEEDED\""));
  EXPECT_THAT(text, Not(HasSubstr("grpc_code=\"OK\"")));
}

TEST_F(OpsInterceptorTest, LogsOneJsonLinePerCallWithHashedKeyOrderIdAndReplay) {
  ASSERT_TRUE(Create("plain-key-0123456789").ok());
  ASSERT_TRUE(Create("replay-key").ok());
  grpc::Status conflict = Create("conflict-key");
  ASSERT_EQ(conflict.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // The status is sent before the server finishes the call; wait for the third line.
  for (int i = 0; i < 100 && Lines().size() < 3; ++i) absl::SleepFor(absl::Milliseconds(10));
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 3u);
  for (const std::string& line : lines) {
    for (const char* raw : {"plain-key-0123456789", "replay-key", "conflict-key"}) {
      EXPECT_THAT(line, Not(HasSubstr(raw)));
    }
  }
  auto first = ParseJson(lines[0]);
  EXPECT_EQ(first.fields().at("method").string_value(), "/orders.v1.OrderService/CreateOrder");
  EXPECT_EQ(first.fields().at("code").string_value(), "OK");
  EXPECT_EQ(first.fields().at("key_hash").string_value(),
            common::ShortHash("plain-key-0123456789"));
  EXPECT_EQ(first.fields().at("order_id").number_value(), 4242);
  EXPECT_EQ(first.fields().at("attempt").number_value(), 3);
  EXPECT_FALSE(first.fields().at("replayed").bool_value());
  EXPECT_THAT(first.fields().at("peer").string_value(), HasSubstr("127.0.0.1"));
  EXPECT_GE(first.fields().at("latency_ms").number_value(), 0);
  EXPECT_TRUE(ParseJson(lines[1]).fields().at("replayed").bool_value());
  auto third = ParseJson(lines[2]);
  EXPECT_EQ(third.fields().at("code").string_value(), "FAILED_PRECONDITION");
  EXPECT_EQ(third.fields().at("reason").string_value(), "IDEMPOTENCY_KEY_REUSED");

  auto samples = testing_support::ParseMetrics(metrics_->Render());
  EXPECT_EQ(MetricSum(samples, "grpc_server_handled_total", {"grpc_code=\"OK\""}), 2);
  EXPECT_EQ(MetricSum(samples, "idempotency_replays_total"), 1);
  EXPECT_EQ(
      MetricSum(samples, "idempotency_key_conflicts_total", {"reason=\"IDEMPOTENCY_KEY_REUSED\""}),
      1);
  EXPECT_EQ(MetricSum(samples, "grpc_server_in_flight"), 0);
}

// A unary call that half-closes without its request message is bad input: INVALID_ARGUMENT with
// REQUEST_NOT_PARSEABLE (not gRPC's INTERNAL "No payload"), logged and counted as that.
TEST_F(OpsInterceptorTest, ACallThatSendsNoRequestMessageIsRefusedAsBadInput) {
  const grpc::Status status = CallWithoutMessage(/*half_close=*/true, absl::ZeroDuration());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_details(), HasSubstr(common::kRequestNotParseable));
  WaitForALine();
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_THAT(Lines()[0], HasSubstr("\"code\":\"INVALID_ARGUMENT\""));
}

// A caller that goes away after its headers and before its message (under overload: its deadline
// passed while the call waited in the transport) sent no bad input. The server still runs the
// call with no message; its log line and metrics say CANCELLED, never INVALID_ARGUMENT. The
// cancel is retried later each time until the server has seen such a call (the case fired).
TEST_F(OpsInterceptorTest, ACallerThatLeftBeforeItsMessageIsRecordedAsCancelledNotBadInput) {
  absl::Duration wait = absl::Microseconds(100);
  for (int attempt = 0; attempt < 40 && Lines().empty(); ++attempt) {
    EXPECT_EQ(CallWithoutMessage(/*half_close=*/false, wait).error_code(),
              grpc::StatusCode::CANCELLED);
    absl::SleepFor(absl::Milliseconds(20));  // the server's line follows the cancel
    wait = std::min(wait * 2, absl::Milliseconds(200));
  }
  const std::vector<std::string> lines = Lines();
  ASSERT_FALSE(lines.empty()) << "the server never saw a call before its cancel";
  for (const std::string& line : lines) {
    EXPECT_THAT(line, HasSubstr("\"code\":\"CANCELLED\""));
    EXPECT_THAT(line, Not(HasSubstr("REQUEST_NOT_PARSEABLE")));
  }
  auto samples = testing_support::ParseMetrics(metrics_->Render());
  EXPECT_EQ(MetricSum(samples, "grpc_server_handled_total", {"grpc_code=\"INVALID_ARGUMENT\""}), 0);
  EXPECT_GE(MetricSum(samples, "grpc_server_handled_total", {"grpc_code=\"CANCELLED\""}), 1);
}

TEST_F(OpsInterceptorTest, InvalidKeyIsCountedButNeverLoggedRaw) {
  const std::string bad(300, 'k');  // too long: INVALID_ARGUMENT
  grpc::Status status = Create(bad);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  WaitForALine();
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_THAT(Lines()[0], Not(HasSubstr(bad.substr(0, 40))));
  EXPECT_THAT(Lines()[0], HasSubstr("\"reason\":\"IDEMPOTENCY_KEY_INVALID\""));
}

// The RPC log reads each response's order id through a path cached per method; callers read the
// path outside the cache's lock while other threads meet methods not seen before. A flat hash
// map moved the paths when it grew: an order_service died (SIGSEGV in the path walk) at the
// start of an overload storm, when the first GetOrder probe grew the map under CreateOrder's
// responses.
TEST(OpsOrderIdPathsTest, APathStaysWhereItWasWhileOtherMethodsAreAdded) {
  common::OrderIdPaths paths;
  const std::string create = "/orders.v1.OrderService/CreateOrder";
  const std::vector<int>& path = paths.For(create);
  ASSERT_EQ(path, (std::vector<int>{1, 1}));  // CreateOrderResponse.order(1).id(1)
  const std::vector<int>* const where = &path;
  for (int i = 0; i < 1000; ++i) paths.For(absl::StrCat("/x.v1.Unknown/Method", i));
  EXPECT_EQ(paths.For("/orders.v1.OrderService/GetOrder"), (std::vector<int>{1}));  // Order.id
  EXPECT_EQ(&paths.For(create), where);
  EXPECT_EQ(path, (std::vector<int>{1, 1}));
}

TEST(OpsOrderIdPathsTest, ReadersAndNewMethodsConcurrently) {
  common::OrderIdPaths paths;
  const std::string create = "/orders.v1.OrderService/CreateOrder";
  std::atomic<int64_t> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::vector<int>& path = paths.For(create);
        paths.For(absl::StrCat("/x.v1.Unknown/T", t, "M", i));  // grows the cache meanwhile
        if (path != std::vector<int>{1, 1}) wrong.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(OpsConfigCheckTest, ReportsEveryProblemWithItsFlag) {
  absl::Status s = common::ConfigCheck()
                       .Port("port", 70000)
                       .Port("metrics_port", -1, /*allow_off=*/true)
                       .Port("other_port", -1)
                       .Probability("p", 1.5)
                       .Probability("ok_p", 0.25)
                       .Positive("lease", absl::ZeroDuration())
                       .Positive("age", absl::InfiniteDuration(), /*allow_infinite=*/true)
                       .AtLeast("pool_size", 0, 1)
                       .OneOf("role", "boss", {"api", "relay", "all"})
                       .ReadableFile("tls_cert", "/nonexistent/cert.pem")
                       .Requires("tls_key", true, "tls_cert", false)
                       .Status();
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const std::string m(s.message());
  EXPECT_THAT(m, HasSubstr("--port=70000: must be 0..65535"));
  EXPECT_THAT(m, HasSubstr("--other_port=-1"));
  EXPECT_THAT(m, Not(HasSubstr("metrics_port")));
  EXPECT_THAT(m, HasSubstr("--p=1.5: must be a probability in [0, 1]"));
  EXPECT_THAT(m, Not(HasSubstr("ok_p")));
  EXPECT_THAT(m, HasSubstr("--lease=0: must be a positive duration"));
  EXPECT_THAT(m, Not(HasSubstr("--age")));
  EXPECT_THAT(m, HasSubstr("--pool_size=0: must be at least 1"));
  EXPECT_THAT(m, HasSubstr("--role=boss: must be one of api, relay, all"));
  EXPECT_THAT(m, HasSubstr("--tls_cert=/nonexistent/cert.pem: cannot read the file"));
  EXPECT_THAT(m, HasSubstr("--tls_key needs --tls_cert"));
  EXPECT_TRUE(common::ConfigCheck().Port("port", 0).Status().ok());
}

// The one reading of every comma-separated list flag (--tokens, --failpoints, --chaos_methods).
TEST(OpsConfigCheckTest, ListEntriesAreTrimmedAndBlankOnesDropped) {
  EXPECT_EQ(common::ListEntries(" a , b=c,,\t, d@2 ,"),
            (std::vector<absl::string_view>{"a", "b=c", "d@2"}));
  EXPECT_TRUE(common::ListEntries("").empty());
  EXPECT_TRUE(common::ListEntries(" , ,").empty());
  EXPECT_EQ(common::ListEntries("a b"), (std::vector<absl::string_view>{"a b"}))
      << "whitespace inside an entry is the entry's own: its rule refuses it or not";
}

TEST(OpsConfigCheckTest, ServerConfigValidation) {
  common::ServerConfig config;
  EXPECT_TRUE(common::ValidateServerConfig(config).ok());
  config.tls.key_file = "/tmp/key.pem";
  config.keepalive.timeout = absl::ZeroDuration();
  absl::Status s = common::ValidateServerConfig(config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--tls_key needs --tls_cert"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("--keepalive_timeout=0"));
}

TEST(OpsEnvTest, FallbacksParseStrictly) {
  setenv("OPS_TEST_INT", "42", 1);
  setenv("OPS_TEST_BOOL", "off", 1);
  setenv("OPS_TEST_DURATION", "250ms", 1);
  setenv("OPS_TEST_DOUBLE", "0.25", 1);
  EXPECT_EQ(common::EnvIntOr("OPS_TEST_INT", 1), 42);
  EXPECT_EQ(common::EnvIntOr("OPS_TEST_UNSET_X", 1), 1);
  EXPECT_FALSE(common::EnvBoolOr("OPS_TEST_BOOL", true));
  EXPECT_EQ(common::EnvDurationOr("OPS_TEST_DURATION", absl::Seconds(1)), absl::Milliseconds(250));
  EXPECT_EQ(common::EnvDoubleOr("OPS_TEST_DOUBLE", 1), 0.25);
  setenv("OPS_TEST_BAD", "abc", 1);
  EXPECT_EXIT(common::EnvIntOr("OPS_TEST_BAD", 1), ::testing::ExitedWithCode(2),
              "OPS_TEST_BAD=abc: expected an integer");
  EXPECT_EXIT(common::EnvDurationOr("OPS_TEST_BAD", absl::Seconds(1)), ::testing::ExitedWithCode(2),
              "expected a duration");
}

}  // namespace

// The toolkit end to end before the real services exist: an in-process fake of OrderService and
// PaymentService (idempotent, or deliberately not), reached by the retrying client through the
// fault proxy over real gRPC, read back and judged by the checker. It proves the pieces fit: the
// proxy's faults bite on HTTP/2 connections, the client recovers with one key per order, the
// checker passes a correct server and catches a server that double-creates on retries.
#include <atomic>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/grpc_metadata.h"
#include "common/idempotency.h"
#include "common/status_mapper.h"
#include "gmock/gmock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "orders/v1/orders.grpc.pb.h"
#include "payments/v1/payments.grpc.pb.h"
#include "tests/network/checker.h"
#include "tests/network/fault_proxy.h"
#include "tests/network/retrying_client.h"

namespace network_test {
namespace {

using ::testing::HasSubstr;

// Both services over one in-memory state. Payment happens inline, or `pay_after` later from a
// background "relay" so that orders sit in CREATED for a while.
class FakeBackend final : public orders::v1::OrderService::Service,
                          public payments::v1::PaymentService::Service {
 public:
  struct Options {
    bool idempotent = true;
    bool require_customer = false;
    absl::Duration pay_after = absl::ZeroDuration();
  };
  explicit FakeBackend(Options options) : options_(options) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(static_cast<orders::v1::OrderService::Service*>(this));
    builder.RegisterService(static_cast<payments::v1::PaymentService::Service*>(this));
    server_ = builder.BuildAndStart();
    relay_ = std::thread([this] { Relay(); });
  }
  ~FakeBackend() override {
    stop_ = true;
    relay_.join();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int64_t creates_executed() const { return creates_executed_.load(); }

  grpc::Status CreateOrder(grpc::ServerContext* context,
                           const orders::v1::CreateOrderRequest* request,
                           orders::v1::CreateOrderResponse* response) override {
    absl::StatusOr<std::string> key = common::IdempotencyKeyOf(*context);
    if (!key.ok()) return common::ToGrpcStatus(key.status(), "orders.example");
    if (request->payment_method().rfind("pm_", 0) != 0) {
      return common::ToGrpcStatus(
          common::InvalidArgument("PAYMENT_METHOD_INVALID", "bad payment method",
                                  {{"payment_method", "must start with pm_"}}),
          "orders.example");
    }
    const std::string fingerprint = common::RequestFingerprint("CreateOrder", *request);
    absl::MutexLock lock(&mu_);
    if (options_.idempotent) {
      auto it = by_key_.find(*key);
      if (it != by_key_.end()) {
        if (it->second.first != fingerprint) {
          return common::ToGrpcStatus(
              common::ErrorWithReason(absl::StatusCode::kFailedPrecondition,
                                      "IDEMPOTENCY_KEY_REUSED", "different request"),
              "orders.example");
        }
        *response = it->second.second;
        common::MarkReplayed(*context);
        return grpc::Status::OK;
      }
    }
    creates_executed_++;
    orders::v1::Order order;
    order.set_id(static_cast<int64_t>(orders_.size()) + 1);
    order.set_customer_id(request->customer_id());
    *order.mutable_items() = request->items();
    int64_t amount = 0;
    for (const auto& item : request->items()) amount += item.quantity() * item.unit_price_cents();
    order.set_amount_cents(amount);
    order.set_currency(request->currency());
    order.set_payment_method(request->payment_method());
    order.set_status(orders::v1::ORDER_STATUS_CREATED);
    orders_.push_back(order);
    due_.push_back(absl::Now() + options_.pay_after);
    if (options_.pay_after == absl::ZeroDuration()) PayLocked(orders_.size() - 1);
    *response->mutable_order() = orders_.back();
    by_key_[*key] = {fingerprint, *response};
    return grpc::Status::OK;
  }

  grpc::Status ListOrders(grpc::ServerContext*, const orders::v1::ListOrdersRequest* request,
                          orders::v1::ListOrdersResponse* response) override {
    if (options_.require_customer && request->customer_id().empty()) {
      return common::ToGrpcStatus(
          common::InvalidArgument("CUSTOMER_REQUIRED", "customer_id is required",
                                  {{"customer_id", "required"}}),
          "orders.example");
    }
    absl::MutexLock lock(&mu_);
    std::vector<const orders::v1::Order*> matching;
    for (auto it = orders_.rbegin(); it != orders_.rend(); ++it) {  // newest first
      if (!request->customer_id().empty() && it->customer_id() != request->customer_id()) continue;
      if (request->status() != orders::v1::ORDER_STATUS_UNSPECIFIED &&
          it->status() != request->status()) {
        continue;
      }
      matching.push_back(&*it);
    }
    return Page(matching, request->page_size(), 20, 100, request->page_token(),
                response->mutable_orders(), response->mutable_next_page_token());
  }

  grpc::Status ListCharges(grpc::ServerContext*, const payments::v1::ListChargesRequest* request,
                           payments::v1::ListChargesResponse* response) override {
    absl::MutexLock lock(&mu_);
    std::vector<const payments::v1::Charge*> matching;
    for (const auto& c : charges_) {
      if (request->order_id() == 0 || c.order_id() == request->order_id()) matching.push_back(&c);
    }
    return Page(matching, request->page_size(), 50, 500, request->page_token(),
                response->mutable_charges(), response->mutable_next_page_token());
  }

  grpc::Status GetLedgerSummary(grpc::ServerContext*, const payments::v1::GetLedgerSummaryRequest*,
                                payments::v1::LedgerSummary* summary) override {
    absl::MutexLock lock(&mu_);
    int64_t captured = 0;
    for (const auto& c : charges_) {
      if (c.status() == payments::v1::CHARGE_STATUS_SUCCEEDED) captured += c.amount_cents();
    }
    summary->set_captured_cents(captured);
    return grpc::Status::OK;
  }

 private:
  template <typename T, typename Repeated>
  static grpc::Status Page(const std::vector<const T*>& all, int page_size, int default_size,
                           int max_size, const std::string& token, Repeated* out,
                           std::string* next) {
    int size = page_size <= 0 ? default_size : std::min(page_size, max_size);
    size_t offset = 0;
    if (!token.empty() && !absl::SimpleAtoi(token, &offset)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page token");
    }
    for (size_t i = offset; i < all.size() && i < offset + size; ++i) *out->Add() = *all[i];
    if (offset + size < all.size()) *next = absl::StrCat(offset + size);
    return grpc::Status::OK;
  }

  void PayLocked(size_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    orders::v1::Order& order = orders_[index];
    payments::v1::Charge charge;
    charge.set_id(static_cast<int64_t>(charges_.size()) + 1);
    charge.set_order_id(order.id());
    charge.set_amount_cents(order.amount_cents());
    charge.set_currency(order.currency());
    charge.set_charge_key(absl::StrCat("charge:d1:order:", order.id()));
    const bool declined = order.payment_method() == "pm_card_declined";
    charge.set_status(declined ? payments::v1::CHARGE_STATUS_DECLINED
                               : payments::v1::CHARGE_STATUS_SUCCEEDED);
    charges_.push_back(charge);
    order.set_charge_id(charge.id());
    order.set_status(declined ? orders::v1::ORDER_STATUS_PAYMENT_FAILED
                              : orders::v1::ORDER_STATUS_PAID);
  }

  void Relay() {
    while (!stop_) {
      absl::SleepFor(absl::Milliseconds(10));
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      for (size_t i = 0; i < orders_.size(); ++i) {
        if (orders_[i].status() == orders::v1::ORDER_STATUS_CREATED && due_[i] <= now) PayLocked(i);
      }
    }
  }

  const Options options_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> stop_{false};
  std::thread relay_;
  std::atomic<int64_t> creates_executed_{0};
  absl::Mutex mu_;
  std::vector<orders::v1::Order> orders_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> due_ ABSL_GUARDED_BY(mu_);
  std::vector<payments::v1::Charge> charges_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::pair<std::string, orders::v1::CreateOrderResponse>> by_key_
      ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<FaultProxy> ProxyTo(const std::string& address, uint64_t seed) {
  FaultProxy::Options options;
  options.upstream_port = std::stoi(address.substr(address.rfind(':') + 1));
  options.seed = seed;
  options.name = "client->order";
  auto proxy = FaultProxy::Start(options);
  EXPECT_TRUE(proxy.ok()) << proxy.status();
  return std::move(*proxy);
}

RetryingClient::Options ClientOptions(const FaultProxy& proxy) {
  RetryingClient::Options options;
  options.target = proxy.address();
  options.threads = 4;
  options.seed = 5;
  options.policy.attempt_timeout = absl::Seconds(1);
  options.policy.budget = absl::Seconds(15);
  return options;
}

ReadOptions Reader(const FakeBackend& backend) {
  ReadOptions options;
  options.order_target = backend.address();
  options.payment_target = backend.address();
  options.page_size = 7;  // several pages
  options.total_timeout = absl::Seconds(20);
  return options;
}

int64_t Replays(const ClientRecords& records) {
  return std::count_if(records.attempts.begin(), records.attempts.end(),
                       [](const AttemptRecord& a) { return a.replayed; });
}

// Drops every response for a while on the connections the client already holds (requests are
// delivered, answers lost), then heals. Returns the proxy's counters at the end.
void DropResponsesFor(FaultProxy& proxy, RetryingClient& client,
                      const std::vector<PlannedOrder>& plan, absl::Duration how_long) {
  // Warm up: every worker's connection is open before the fault.
  std::vector<PlannedOrder> warm(plan.begin(), plan.begin() + 4);
  std::vector<PlannedOrder> rest(plan.begin() + 4, plan.end());
  client.Run(warm);
  proxy.SetResponseDrop(1.0, absl::Milliseconds(100), kGrpcHandshakeClientBytes);
  std::thread healer([&] {
    absl::SleepFor(how_long);
    proxy.ClearResponseDrop();
  });
  client.Run(rest);
  healer.join();
}

TEST(ToolkitSelfTest, CorrectServiceSurvivesDroppedResponsesAndPassesTheChecker) {
  FakeBackend backend({});
  auto proxy = ProxyTo(backend.address(), 11);
  RetryingClient client(ClientOptions(*proxy));
  PlanOptions plan_options;
  plan_options.declined_fraction = 0.2;
  const auto plan = MakePlan(40, 21, plan_options);
  DropResponsesFor(*proxy, client, plan, absl::Milliseconds(800));
  client.RetryUnknown(absl::Seconds(10));
  ClientRecords records = client.records();

  std::vector<std::string> customers;
  for (const auto& p : plan) customers.push_back(p.customer_id);
  ASSERT_TRUE(WaitForDrain(Reader(backend), customers, absl::Seconds(10)).ok());
  auto report = CheckFinalState(Reader(backend), records);
  ASSERT_TRUE(report.ok()) << report.status();
  std::cout << report->Table() << "proxy: " << proxy->counters().DebugString() << "\n";
  EXPECT_TRUE(report->ok()) << report->Table();
  EXPECT_EQ(report->acknowledged, 40);
  EXPECT_EQ(report->orders_seen, 40);
  EXPECT_GT(report->recovered, 0);
  EXPECT_GT(Replays(records), 0) << "a delivered request whose answer was dropped is replayed";
  EXPECT_GT(proxy->counters().fault(FaultKind::kResponseDropped), 0);
  EXPECT_EQ(backend.creates_executed(), 40);
}

TEST(ToolkitSelfTest, CheckerCatchesAServiceThatIsNotIdempotent) {
  FakeBackend::Options broken;
  broken.idempotent = false;
  FakeBackend backend(broken);
  auto proxy = ProxyTo(backend.address(), 12);
  RetryingClient client(ClientOptions(*proxy));
  const auto plan = MakePlan(20, 22);
  DropResponsesFor(*proxy, client, plan, absl::Milliseconds(800));
  client.RetryUnknown(absl::Seconds(10));
  auto report = CheckFinalState(Reader(backend), client.records());
  ASSERT_TRUE(report.ok()) << report.status();
  std::cout << report->Table();
  EXPECT_FALSE(report->ok());
  EXPECT_GT(report->count(Rule::kDuplicated), 0);
  // The offending keys are named.
  for (const Violation& v : report->violations) {
    if (v.rule != Rule::kDuplicated) continue;
    EXPECT_THAT(v.key, HasSubstr("k-22-"));
    EXPECT_THAT(report->Table(), HasSubstr("VIOLATION duplicated key=" + v.key));
  }
}

TEST(ToolkitSelfTest, ResetsAndLatencyOnOpenConnections) {
  FakeBackend backend({});
  auto proxy = ProxyTo(backend.address(), 13);
  proxy->SetLatency(absl::Milliseconds(5), absl::Milliseconds(5));
  RetryingClient client(ClientOptions(*proxy));
  const auto plan = MakePlan(60, 23);
  std::atomic<bool> done{false};
  std::thread chaos([&] {
    for (int i = 0; i < 100 && !done; ++i) {
      absl::SleepFor(absl::Milliseconds(30));
      proxy->ResetOpenConnections(0.5);
    }
  });
  client.Run(plan);
  done = true;
  chaos.join();
  ASSERT_TRUE(proxy->ClearAll().ok());
  client.RetryUnknown(absl::Seconds(10));
  auto report = CheckFinalState(Reader(backend), client.records());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Table();
  EXPECT_EQ(report->acknowledged, 60);
  EXPECT_GT(proxy->counters().fault(FaultKind::kReset), 0);
}

TEST(ToolkitSelfTest, DeterministicErrorIsNotRetriedAndLeavesNothing) {
  FakeBackend backend({});
  auto proxy = ProxyTo(backend.address(), 14);
  RetryingClient client(ClientOptions(*proxy));
  auto plan = MakePlan(3, 24);
  plan[1].payment_method = "bogus";
  client.Run(plan);
  ClientRecords records = client.records();
  ASSERT_EQ(records.creates.at(plan[1].key).outcome, Outcome::kFailedDefinitely);
  EXPECT_EQ(records.creates.at(plan[1].key).attempts, 1);
  EXPECT_EQ(records.creates.at(plan[1].key).final_code, grpc::StatusCode::INVALID_ARGUMENT);
  auto report = CheckFinalState(Reader(backend), records);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Table();
  EXPECT_EQ(report->failed_definitely, 1);
  EXPECT_EQ(report->acknowledged, 2);
}

TEST(ToolkitSelfTest, ReaderFallsBackToPlannedCustomersAndWaitsForTheDrain) {
  FakeBackend::Options options;
  options.require_customer = true;
  options.pay_after = absl::Milliseconds(400);
  FakeBackend backend(options);
  auto proxy = ProxyTo(backend.address(), 15);
  RetryingClient client(ClientOptions(*proxy));
  const auto plan = MakePlan(10, 25);
  client.Run(plan);
  std::vector<std::string> customers;
  for (const auto& p : plan) customers.push_back(p.customer_id);
  // Right after the run the orders are still CREATED: a check now finds them stuck.
  auto early = CheckFinalState(Reader(backend), client.records(), absl::ZeroDuration());
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_GT(early->count(Rule::kStuck), 0);
  // A drain that is too short says so; a long enough one succeeds.
  EXPECT_EQ(WaitForDrain(Reader(backend), customers, absl::Milliseconds(1)).code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(WaitForDrain(Reader(backend), customers, absl::Seconds(10)).ok());
  auto snapshot = ReadSnapshot(Reader(backend), customers);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_FALSE(snapshot->all_customers);
  EXPECT_EQ(snapshot->orders.size(), 10u);
  auto report = CheckFinalState(Reader(backend), client.records());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Table();
}

}  // namespace
}  // namespace network_test

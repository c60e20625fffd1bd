// The gRPC adapter in process over the in-memory ledger: metadata in (token before key), the one
// status mapper out (domain payments.example), replay marker, fault admin conversions.
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "common/admission.h"
#include "common/auth.h"
#include "common/client_context.h"
#include "common/errors.h"
#include "common/grpc_server.h"
#include "common/status_mapper.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "payment_service/memory_ledger.h"
#include "payment_service/payment_grpc_service.h"

namespace payment_service {
namespace {

class PaymentGrpcAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto auth = common::TokenAuthenticator::Parse("secret=alice");
    ASSERT_TRUE(auth.ok());
    auth_ = *auth;
    service_ = std::make_unique<PaymentGrpcService>(payments_, auth_);
    admin_ = std::make_unique<FaultAdminGrpcService>(faults_, auth_);
    auto server = common::GrpcServer::Start({}, {service_.get(), admin_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials());
    stub_ = payments::v1::PaymentService::NewStub(channel);
    admin_stub_ = payments::v1::PaymentFaultAdmin::NewStub(channel);
  }

  grpc::Status Charge(const std::string& key, const std::string& token, bool* replayed,
                      payments::v1::Charge* out) {
    payments::v1::ChargeRequest request;
    request.set_order_id(3);
    request.set_amount_cents(300);
    request.set_currency("JPY");
    request.set_payment_method("pm_card_visa");
    auto context = common::NewClientContext({.idempotency_key = key, .bearer_token = token});
    grpc::Status status = stub_->Charge(context.get(), request, out);
    const auto& md = context->GetServerInitialMetadata();
    auto it = md.find("idempotent-replayed");
    *replayed = it != md.end() && it->second == "true";
    return status;
  }

  MemoryLedger ledger_;
  FaultInjector faults_;
  Payments payments_{ledger_, faults_};
  common::TokenAuthenticator auth_;
  std::unique_ptr<PaymentGrpcService> service_;
  std::unique_ptr<FaultAdminGrpcService> admin_;
  std::unique_ptr<common::GrpcServer> server_;
  std::unique_ptr<payments::v1::PaymentService::Stub> stub_;
  std::unique_ptr<payments::v1::PaymentFaultAdmin::Stub> admin_stub_;
};

TEST_F(PaymentGrpcAdapterTest, ReplayIsMarkedAndIdentical) {
  bool replayed = true;
  payments::v1::Charge first, second;
  ASSERT_TRUE(Charge("k1", "secret", &replayed, &first).ok());
  EXPECT_FALSE(replayed);
  ASSERT_TRUE(Charge("k1", "secret", &replayed, &second).ok());
  EXPECT_TRUE(replayed);
  EXPECT_EQ(first.SerializeAsString(), second.SerializeAsString());
}

// grpcurl sends no deadline unless told to: the call must still work (bounded waits inside).
TEST_F(PaymentGrpcAdapterTest, CallWithoutDeadlineWorks) {
  grpc::ClientContext context;
  context.AddMetadata("idempotency-key", "no-deadline");
  context.AddMetadata("authorization", "Bearer secret");
  payments::v1::ChargeRequest request;
  request.set_order_id(1);
  request.set_amount_cents(1);
  request.set_currency("USD");
  request.set_payment_method("pm_card_visa");
  payments::v1::Charge charge;
  grpc::Status status = stub_->Charge(&context, request, &charge);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(charge.status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
}

TEST_F(PaymentGrpcAdapterTest, TokenIsCheckedBeforeTheKey) {
  bool replayed = false;
  payments::v1::Charge out;
  grpc::Status no_token = Charge("", "", &replayed, &out);
  EXPECT_EQ(no_token.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const absl::Status parsed = common::FromGrpcStatus(no_token);
  EXPECT_EQ(common::ErrorReason(parsed).value_or(""), "UNAUTHENTICATED");
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(info.ParseFromString(std::string(*parsed.GetPayload(common::kErrorInfoUrl))));
  EXPECT_EQ(info.domain(), "payments.example");

  grpc::Status no_key = Charge("", "secret", &replayed, &out);
  EXPECT_EQ(no_key.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(common::ErrorReason(common::FromGrpcStatus(no_key)).value_or(""),
            "IDEMPOTENCY_KEY_MISSING");
  EXPECT_EQ(payments_.GetLedgerSummary("alice")->buckets_size(), 0);
}

// Issue 12, case 7: the ledger stored "c" for customer "c\0d" and replayed "c\0d". Text
// PostgreSQL cannot store is refused for every request, naming the field, and nothing is written.
TEST_F(PaymentGrpcAdapterTest, TextWithANulIsRefusedNamingTheFieldAndNothingIsWritten) {
  using namespace std::string_literals;
  payments::v1::ChargeRequest charge;
  charge.set_order_id(3);
  charge.set_amount_cents(300);
  charge.set_currency("JPY");
  charge.set_payment_method("pm_card_visa");
  charge.set_customer_id("c\0d"s);
  payments::v1::Charge out;
  auto context = common::NewClientContext({.idempotency_key = "k-nul", .bearer_token = "secret"});
  grpc::Status refused = stub_->Charge(context.get(), charge, &out);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(common::ErrorReason(common::FromGrpcStatus(refused)).value_or(""), "TEXT_NOT_STORABLE");
  EXPECT_EQ(common::ViolatedFields(common::FromGrpcStatus(refused)),
            std::vector<std::string>{"customer_id"});
  EXPECT_EQ(payments_.GetLedgerSummary("alice")->buckets_size(), 0);

  charge.set_customer_id("c");
  charge.set_payment_method("pm_card_visa\0"s);
  auto method_context =
      common::NewClientContext({.idempotency_key = "k-nul", .bearer_token = "secret"});
  grpc::Status method = stub_->Charge(method_context.get(), charge, &out);
  EXPECT_EQ(common::ViolatedFields(common::FromGrpcStatus(method)),
            std::vector<std::string>{"payment_method"});

  payments::v1::RefundRequest refund;
  refund.set_charge_key("charge:x:order:3");
  refund.set_reason("requested\0by customer"s);
  payments::v1::Refund refunded;
  auto refund_context =
      common::NewClientContext({.idempotency_key = "r-nul", .bearer_token = "secret"});
  grpc::Status refund_status = stub_->Refund(refund_context.get(), refund, &refunded);
  EXPECT_EQ(refund_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(common::ViolatedFields(common::FromGrpcStatus(refund_status)),
            std::vector<std::string>{"reason"});
  EXPECT_EQ(payments_.GetLedgerSummary("alice")->buckets_size(), 0) << "no tombstone either";

  payments::v1::ListChargesRequest list;
  list.set_page_token("\0"s);
  payments::v1::ListChargesResponse listed;
  auto list_context = common::NewClientContext({.bearer_token = "secret"});
  grpc::Status list_status = stub_->ListCharges(list_context.get(), list, &listed);
  EXPECT_EQ(common::ViolatedFields(common::FromGrpcStatus(list_status)),
            std::vector<std::string>{"page_token"});

  // The key stayed free: the corrected request charges, and keeps its text verbatim.
  charge.set_payment_method("pm_card_visa");
  charge.set_customer_id("c d ☕");
  auto fixed_context =
      common::NewClientContext({.idempotency_key = "k-nul", .bearer_token = "secret"});
  ASSERT_TRUE(stub_->Charge(fixed_context.get(), charge, &out).ok());
  EXPECT_EQ(out.customer_id(), "c d ☕");
}

TEST_F(PaymentGrpcAdapterTest, FaultAdminSetsAndReportsEveryKnob) {
  payments::v1::FaultConfig config;
  config.set_fail_before_charge(0.25);
  config.set_fail_after_charge(0.5);
  config.set_latency_ms(3);
  config.set_latency_jitter_ms(1);
  config.set_seed(99);
  config.set_flaky_failures(4);
  payments::v1::FaultConfig applied;
  auto set_context = common::NewClientContext({.bearer_token = "secret"});
  ASSERT_TRUE(admin_stub_->SetFaults(set_context.get(), config, &applied).ok());
  EXPECT_EQ(applied.SerializeAsString(), config.SerializeAsString());
  EXPECT_EQ(faults_.config().flaky_failures, 4);

  bool replayed = false;
  payments::v1::Charge out;
  for (int i = 0; i < 20; ++i) (void)Charge("k" + std::to_string(i), "secret", &replayed, &out);
  payments::v1::FaultState state;
  auto get_context = common::NewClientContext({.bearer_token = "secret"});
  ASSERT_TRUE(admin_stub_->GetFaults(get_context.get(), {}, &state).ok());
  EXPECT_EQ(state.config().SerializeAsString(), config.SerializeAsString());
  EXPECT_EQ(state.injected_latency(), faults_.counters().latency);
  EXPECT_GT(state.injected_fail_before_charge() + state.injected_fail_after_charge(), 0);
  EXPECT_EQ(state.injected_fail_before_charge(), faults_.counters().fail_before_charge);
}

// Payments sheds like orders: with the work lane full, a Charge is refused before the ledger with
// RESOURCE_EXHAUSTED OVERLOADED and pushback (what the relay backs off on), while GetCharge (the
// relay's and the reconciler's question) still runs on the priority lane.
TEST_F(PaymentGrpcAdapterTest, FullWorkLaneRefusesChargesWithPushbackBeforeTheLedger) {
  common::AdmissionController admission({.limit = 1, .queue = 0});
  service_ = std::make_unique<PaymentGrpcService>(payments_, auth_, &admission);
  auto server = common::GrpcServer::Start({}, {service_.get()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = payments::v1::PaymentService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  auto held =
      admission.Admit(common::AdmissionLane::kWork, "alice", absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(held.ok());
  payments::v1::ChargeRequest request;
  request.set_order_id(3);
  request.set_amount_cents(300);
  request.set_currency("JPY");
  request.set_payment_method("pm_card_visa");
  auto context = common::NewClientContext({.idempotency_key = "k", .bearer_token = "secret"});
  payments::v1::Charge charge;
  grpc::Status status = stub->Charge(context.get(), request, &charge);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const absl::Status domain = common::FromGrpcStatus(status);
  EXPECT_EQ(common::ErrorReason(domain), "OVERLOADED");
  EXPECT_GT(common::RetryDelayOf(domain), absl::ZeroDuration());
  EXPECT_NE(context->GetServerTrailingMetadata().find(common::kRetryPushbackHeader),
            context->GetServerTrailingMetadata().end());
  payments::v1::GetChargeRequest get;
  get.set_charge_key("k");
  auto read = common::NewClientContext({.bearer_token = "secret"});
  // NOT_FOUND: the refused charge left nothing in the ledger, and the read was not refused.
  EXPECT_EQ(stub->GetCharge(read.get(), get, &charge).error_code(), grpc::StatusCode::NOT_FOUND);
  held->Release();
  auto again = common::NewClientContext({.idempotency_key = "k", .bearer_token = "secret"});
  EXPECT_TRUE(stub->Charge(again.get(), request, &charge).ok());
}

}  // namespace
}  // namespace payment_service

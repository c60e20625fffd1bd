// The real payment_service binary over gRPC against a fresh PostgreSQL database per test:
// duplicates, lost replies, crashes at the failpoint, refunds before charges, authentication,
// bad input, health.
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/client_context.h"
#include "common/errors.h"
#include "common/status_mapper.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "payments/v1/payments.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/order_builders.h"
#include "tests/support/reflection.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

using payments::v1::ChargeRequest;
using testing_support::ChildProcess;

constexpr char kTokenA[] = "tok-alice";
constexpr char kTokenB[] = "tok-bob";

ChargeRequest Req(int64_t order_id, int64_t amount, const std::string& method = "pm_card_visa") {
  return testing_support::ChargeOf(order_id, amount, method, "USD", "cust-it");
}

// Money held, in the one currency these tests charge in (LedgerSummary.captured_totals).
int64_t Captured(const payments::v1::LedgerSummary& summary) {
  EXPECT_LE(summary.captured_totals_size(), 1) << summary.ShortDebugString();
  return summary.captured_totals().empty() ? 0 : summary.captured_totals(0).amount_minor_units();
}

struct ChargeCall {
  grpc::Status status;
  payments::v1::Charge charge;
  bool replayed = false;
};

bool Replayed(const grpc::ClientContext& context) {
  const auto& initial = context.GetServerInitialMetadata();
  auto it = initial.find("idempotent-replayed");
  return it != initial.end() && it->second == "true";
}

std::string ReasonOf(const grpc::Status& status) {
  return common::ErrorReason(common::FromGrpcStatus(status)).value_or("(none)");
}

std::string DomainOf(const grpc::Status& status) {
  auto payload = common::FromGrpcStatus(status).GetPayload(common::kErrorInfoUrl);
  google::rpc::ErrorInfo info;
  if (!payload || !info.ParseFromString(std::string(*payload))) return "(none)";
  return info.domain();
}

// A payment_service process on port 0 with its own database.
class PaymentServer {
 public:
  static absl::StatusOr<std::unique_ptr<PaymentServer>> Start(
      const std::string& db, const std::vector<std::string>& extra_args,
      const std::map<std::string, std::string>& env = {}) {
    std::unique_ptr<PaymentServer> server(new PaymentServer());
    server->dir_ = testing_support::MakeTempDir("paysvc");
    const std::string port_file = server->dir_ + "/port";
    std::vector<std::string> args = {"--port=0", "--port_file=" + port_file, "--database=" + db};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    auto child = ChildProcess::Start(PAYMENT_SERVICE_BIN, args, server->dir_ + "/log", env);
    if (!child.ok()) return child.status();
    server->child_.emplace(std::move(*child));
    auto port = testing_support::WaitForPortFile(port_file, absl::Seconds(30));
    if (!port.ok()) return port.status();
    server->addr_ = absl::StrCat("127.0.0.1:", *port);
    auto channel = grpc::CreateChannel(server->addr_, grpc::InsecureChannelCredentials());
    server->payments_ = payments::v1::PaymentService::NewStub(channel);
    server->admin_ = payments::v1::PaymentFaultAdmin::NewStub(channel);
    server->health_ = grpc::health::v1::Health::NewStub(channel);
    return server;
  }

  grpc::health::v1::HealthCheckResponse::ServingStatus Health() {
    grpc::health::v1::HealthCheckResponse response;
    auto context = common::NewClientContext({.timeout = absl::Seconds(2)});
    if (!health_->Check(context.get(), {}, &response).ok()) {
      return grpc::health::v1::HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  }

  ::testing::AssertionResult WaitServing() {
    return testing_support::Eventually(
        [&] { return Health() == grpc::health::v1::HealthCheckResponse::SERVING; },
        absl::Seconds(15), "payment_service health SERVING");
  }

  ChargeCall Charge(const std::string& key, const ChargeRequest& request,
                    const std::string& token = kTokenA,
                    absl::Duration timeout = absl::Seconds(10)) {
    ChargeCall call;
    auto context = common::NewClientContext(
        {.timeout = timeout, .idempotency_key = key, .bearer_token = token});
    call.status = payments_->Charge(context.get(), request, &call.charge);
    call.replayed = Replayed(*context);
    return call;
  }

  grpc::Status Refund(const std::string& refund_key, const std::string& charge_key,
                      payments::v1::Refund* refund, const std::string& token = kTokenA) {
    payments::v1::RefundRequest request;
    request.set_charge_key(charge_key);
    auto context = common::NewClientContext({.idempotency_key = refund_key, .bearer_token = token});
    return payments_->Refund(context.get(), request, refund);
  }

  payments::v1::LedgerSummary Summary(const std::string& token = kTokenA) {
    payments::v1::LedgerSummary summary;
    auto context = common::NewClientContext({.bearer_token = token});
    grpc::Status status = payments_->GetLedgerSummary(context.get(), {}, &summary);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return summary;
  }

  // Every charge of the caller, page by page.
  std::vector<payments::v1::Charge> ListAll(int page_size, int* pages) {
    std::vector<payments::v1::Charge> all;
    payments::v1::ListChargesRequest request;
    request.set_page_size(page_size);
    *pages = 0;
    while (true) {
      payments::v1::ListChargesResponse response;
      auto context = common::NewClientContext({.bearer_token = kTokenA});
      grpc::Status status = payments_->ListCharges(context.get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) return all;
      ++*pages;
      for (const auto& c : response.charges()) all.push_back(c);
      if (response.next_page_token().empty()) return all;
      request.set_page_token(response.next_page_token());
    }
  }

  payments::v1::PaymentService::Stub& payments() { return *payments_; }
  payments::v1::PaymentFaultAdmin::Stub& admin() { return *admin_; }
  ChildProcess& child() { return *child_; }
  const std::string& addr() const { return addr_; }

 private:
  PaymentServer() = default;
  std::string dir_, addr_;
  std::optional<ChildProcess> child_;
  std::unique_ptr<payments::v1::PaymentService::Stub> payments_;
  std::unique_ptr<payments::v1::PaymentFaultAdmin::Stub> admin_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

class PaymentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(db_, testing_support::CreateTestDatabase("pay_svc"));
  }

  void StartServer(const std::vector<std::string>& extra_args = {},
                   const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> args = {absl::StrCat("--tokens=", kTokenA, "=alice,", kTokenB, "=bob"),
                                     "--enable_fault_admin"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    server_.reset();
    auto server = PaymentServer::Start(db_, args, env);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->WaitServing());
  }

  std::string Scalar(const char* sql) {
    auto value = testing_support::QueryScalar(db_, sql);
    return value.ok() ? *value : value.status().ToString();
  }

  std::string db_;
  std::unique_ptr<PaymentServer> server_;
};

TEST_F(PaymentServiceTest, HealthIsServingAndReflectionListsTheServices) {
  StartServer();
  EXPECT_EQ(server_->Health(), grpc::health::v1::HealthCheckResponse::SERVING);

  const std::set<std::string> names = testing_support::ListServices(server_->addr());
  EXPECT_TRUE(names.contains("payments.v1.PaymentService"));
  EXPECT_TRUE(names.contains("payments.v1.PaymentFaultAdmin"));
  EXPECT_TRUE(names.contains("grpc.health.v1.Health"));
}

// 1,000 Charge calls over 100 keys, each key sent by 10 concurrent callers at once.
TEST_F(PaymentServiceTest, ThousandConcurrentDuplicatesChargeEachKeyOnce) {
  StartServer();
  constexpr int kKeys = 100, kDuplicates = 10, kKeysPerRound = 10;
  std::vector<std::set<int64_t>> ids(kKeys);
  std::vector<int> ok_calls(kKeys, 0), replays(kKeys, 0);
  std::atomic<int> retries{0}, failures{0};
  std::mutex mu;
  const absl::Time start = absl::Now();
  for (int round = 0; round < kKeys / kKeysPerRound; ++round) {
    std::latch go(kKeysPerRound * kDuplicates);
    std::vector<std::thread> threads;
    for (int k = round * kKeysPerRound; k < (round + 1) * kKeysPerRound; ++k) {
      for (int d = 0; d < kDuplicates; ++d) {
        threads.emplace_back([&, k] {
          go.arrive_and_wait();
          const std::string key = absl::StrCat("bulk-", k);
          ChargeCall call;
          for (int attempt = 1; attempt <= 20; ++attempt) {
            call = server_->Charge(key, Req(1000 + k, 100 + k));
            if (call.status.ok() ||
                !common::IsTransient(static_cast<absl::StatusCode>(call.status.error_code()))) {
              break;
            }
            ++retries;
            absl::SleepFor(absl::Milliseconds(10 * attempt));
          }
          std::lock_guard<std::mutex> lock(mu);
          if (!call.status.ok()) {
            ++failures;
            ADD_FAILURE() << key << ": " << call.status.error_message();
            return;
          }
          ++ok_calls[k];
          replays[k] += call.replayed ? 1 : 0;
          ids[k].insert(call.charge.id());
        });
      }
    }
    for (auto& t : threads) t.join();
  }
  const absl::Duration took = absl::Now() - start;

  std::set<int64_t> distinct;
  int total_ok = 0, total_replays = 0;
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(ids[k].size(), 1u) << "key " << k;
    EXPECT_EQ(ok_calls[k], kDuplicates) << "key " << k;
    EXPECT_EQ(replays[k], kDuplicates - 1) << "key " << k;
    distinct.insert(ids[k].begin(), ids[k].end());
    total_ok += ok_calls[k];
    total_replays += replays[k];
  }
  EXPECT_EQ(distinct.size(), 100u);
  EXPECT_EQ(failures.load(), 0);

  int pages = 0;
  std::vector<payments::v1::Charge> listed = server_->ListAll(37, &pages);
  EXPECT_EQ(listed.size(), 100u);
  EXPECT_EQ(pages, 3);
  std::set<int64_t> listed_ids;
  for (const auto& c : listed) listed_ids.insert(c.id());
  EXPECT_EQ(listed_ids, distinct);
  const payments::v1::LedgerSummary summary = server_->Summary();
  ASSERT_EQ(summary.buckets_size(), 1);
  EXPECT_EQ(summary.buckets(0).status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
  EXPECT_EQ(summary.buckets(0).count(), 100);
  const int64_t expected_cents = 100 * 100 + (99 * 100) / 2;  // sum of 100 + k for k < 100
  EXPECT_EQ(Captured(summary), expected_cents);
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "100");
  EXPECT_EQ(Scalar("SELECT count(DISTINCT charge_key) FROM charges"), "100");
  std::printf(
      "[figures] %d calls (%d keys x %d concurrent duplicates): ok=%d replayed=%d "
      "transient_retries=%d distinct_charge_ids=%zu listed=%zu in %d pages "
      "summary_succeeded=%lld captured_cents=%lld db_charges=%s in %s\n",
      kKeys * kDuplicates, kKeys, kDuplicates, total_ok, total_replays, retries.load(),
      distinct.size(), listed.size(), pages, static_cast<long long>(summary.buckets(0).count()),
      static_cast<long long>(Captured(summary)), Scalar("SELECT count(*) FROM charges").c_str(),
      absl::FormatDuration(took).c_str());
}

// "Charged, reply lost": the charge commits, the caller sees UNAVAILABLE; the retry with the
// same key, once the fault is off, gets the same charge back, marked as a replay.
TEST_F(PaymentServiceTest, ChargedReplyLostThenRetryGetsTheSameCharge) {
  StartServer({"--fail_after_charge=1.0"});
  ChargeCall lost = server_->Charge("lost-1", Req(42, 4200));
  EXPECT_EQ(lost.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(lost.status), "PROCESSOR_UNAVAILABLE");
  ChargeCall lost_again = server_->Charge("lost-1", Req(42, 4200));
  EXPECT_EQ(lost_again.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "1");
  const std::string committed_id = Scalar("SELECT id FROM charges WHERE charge_key = 'lost-1'");

  payments::v1::FaultState state;
  {
    auto context = common::NewClientContext({.bearer_token = kTokenA});
    ASSERT_TRUE(server_->admin().GetFaults(context.get(), {}, &state).ok());
  }
  EXPECT_EQ(state.injected_fail_after_charge(), 2);
  EXPECT_DOUBLE_EQ(state.config().fail_after_charge(), 1.0);

  payments::v1::FaultConfig off = state.config();
  off.set_fail_after_charge(0);
  payments::v1::FaultConfig applied;
  {
    auto context = common::NewClientContext({.bearer_token = kTokenA});
    ASSERT_TRUE(server_->admin().SetFaults(context.get(), off, &applied).ok());
  }
  EXPECT_EQ(applied.fail_after_charge(), 0);

  ChargeCall retry = server_->Charge("lost-1", Req(42, 4200));
  ASSERT_TRUE(retry.status.ok()) << retry.status.error_message();
  EXPECT_TRUE(retry.replayed);
  EXPECT_EQ(absl::StrCat(retry.charge.id()), committed_id);
  EXPECT_EQ(retry.charge.status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "1");
  std::printf(
      "[figures] fail_after_charge=1.0: 2 lost replies, then retry -> charge id %s "
      "(replayed=%d), db_charges=%s\n",
      committed_id.c_str(), retry.replayed, Scalar("SELECT count(*) FROM charges").c_str());
}

TEST_F(PaymentServiceTest, FailBeforeChargeWritesNothingAndCountsTheFault) {
  StartServer();
  payments::v1::FaultConfig faults;
  faults.set_fail_before_charge(1.0);
  faults.set_seed(7);
  payments::v1::FaultConfig applied;
  {
    auto context = common::NewClientContext({.bearer_token = kTokenA});
    ASSERT_TRUE(server_->admin().SetFaults(context.get(), faults, &applied).ok());
  }
  ChargeCall failed = server_->Charge("before-1", Req(1, 100));
  EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "0");
  // Reads are never faulted.
  EXPECT_EQ(server_->Summary().buckets_size(), 0);

  payments::v1::FaultState state;
  auto context = common::NewClientContext({.bearer_token = kTokenA});
  ASSERT_TRUE(server_->admin().GetFaults(context.get(), {}, &state).ok());
  EXPECT_EQ(state.injected_fail_before_charge(), 1);

  faults.set_fail_before_charge(2.0);  // not a probability
  auto bad_context = common::NewClientContext({.bearer_token = kTokenA});
  grpc::Status bad = server_->admin().SetFaults(bad_context.get(), faults, &applied);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ReasonOf(bad), "FAULT_CONFIG_INVALID");
}

TEST_F(PaymentServiceTest, FlakyMethodIsUnavailableTwiceThenCharges) {
  StartServer({"--flaky_failures=2"});
  for (int i = 0; i < 2; ++i) {
    ChargeCall failed = server_->Charge("flaky-1", Req(5, 500, "pm_card_flaky"));
    EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_TRUE(common::FromGrpcStatus(failed.status).GetPayload(common::kRetryInfoUrl));
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "0");
  ChargeCall ok = server_->Charge("flaky-1", Req(5, 500, "pm_card_flaky"));
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.charge.status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "1");
}

TEST_F(PaymentServiceTest, FaultAdminIsOffUnlessEnabled) {
  auto server = PaymentServer::Start(db_, {});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->WaitServing());
  payments::v1::FaultState state;
  auto context = common::NewClientContext({});
  EXPECT_EQ((*server)->admin().GetFaults(context.get(), {}, &state).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // Without tokens every caller is "default" and may charge.
  ChargeCall call = (*server)->Charge("open-1", Req(1, 100), "");
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(Scalar("SELECT caller FROM charges"), "default");
}

// The process dies at the failpoint after the charge commits; after a restart the retry with
// the same key gets the committed charge, marked as a replay.
TEST_F(PaymentServiceTest, KilledAfterCommitRestartAndRetryChargesOnce) {
  StartServer({"--failpoints=payment_after_charge_commit"});
  ChargeCall lost = server_->Charge("crash-1", Req(77, 7700));
  EXPECT_EQ(lost.status.error_code(), grpc::StatusCode::UNAVAILABLE) << lost.status.error_message();
  const int wait_status = server_->child().WaitExit(absl::Seconds(10));
  ASSERT_TRUE(WIFSIGNALED(wait_status)) << wait_status;
  EXPECT_EQ(WTERMSIG(wait_status), SIGKILL);
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "1");
  const std::string committed_id = Scalar("SELECT id FROM charges WHERE charge_key = 'crash-1'");

  StartServer();  // same database, no failpoint
  ChargeCall retry = server_->Charge("crash-1", Req(77, 7700));
  ASSERT_TRUE(retry.status.ok()) << retry.status.error_message();
  EXPECT_TRUE(retry.replayed);
  EXPECT_EQ(absl::StrCat(retry.charge.id()), committed_id);
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "1");
  std::printf(
      "[figures] killed at payment_after_charge_commit, restarted, retried: "
      "db_charges=%s replayed=%d same_id=%d\n",
      Scalar("SELECT count(*) FROM charges").c_str(), retry.replayed,
      absl::StrCat(retry.charge.id()) == committed_id);

  // The FAILPOINTS environment variable arms it too.
  StartServer({}, {{"FAILPOINTS", "payment_after_charge_commit"}});
  ChargeCall env_lost = server_->Charge("crash-2", Req(78, 7800));
  EXPECT_EQ(env_lost.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  const int env_wait = server_->child().WaitExit(absl::Seconds(10));
  ASSERT_TRUE(WIFSIGNALED(env_wait)) << env_wait;
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "2");
}

TEST_F(PaymentServiceTest, RefundBeforeChargeVoidsTheLateCharge) {
  StartServer();
  payments::v1::Refund refund;
  grpc::Status refunded = server_->Refund("refund-early", "order-9-charge", &refund);
  ASSERT_TRUE(refunded.ok()) << refunded.error_message();
  EXPECT_EQ(refund.status(), payments::v1::REFUND_STATUS_VOIDED_BEFORE_CHARGE);

  ChargeCall late = server_->Charge("order-9-charge", Req(9, 900));
  ASSERT_TRUE(late.status.ok()) << late.status.error_message();
  EXPECT_EQ(late.charge.status(), payments::v1::CHARGE_STATUS_VOIDED);
  EXPECT_FALSE(late.replayed);
  ChargeCall again = server_->Charge("order-9-charge", Req(9, 900));
  ASSERT_TRUE(again.status.ok());
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.charge.status(), payments::v1::CHARGE_STATUS_VOIDED);

  // A normal charge beside it, so "captured 0" is about this key, not an empty ledger.
  ASSERT_TRUE(server_->Charge("other", Req(10, 1000)).status.ok());
  const payments::v1::LedgerSummary summary = server_->Summary();
  EXPECT_EQ(Captured(summary), 1000);
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges WHERE charge_key = 'order-9-charge'"), "1");
  EXPECT_EQ(Scalar("SELECT status FROM charges WHERE charge_key = 'order-9-charge'"), "VOIDED");
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges WHERE charge_key = 'order-9-charge'"
                   " AND status IN ('SUCCEEDED', 'REFUNDED')"),
            "0");
  std::printf(
      "[figures] refund before charge: late charge status=VOIDED, captured for the key=0, "
      "captured overall=%lld\n",
      static_cast<long long>(Captured(summary)));
}

TEST_F(PaymentServiceTest, UnauthenticatedCallsAreRefusedAndWriteNothing) {
  StartServer();
  for (const std::string token : {"", "not-a-token"}) {
    ChargeCall charge = server_->Charge("auth-1", Req(1, 100), token);
    EXPECT_EQ(charge.status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << token;
    EXPECT_EQ(ReasonOf(charge.status), "UNAUTHENTICATED");
    EXPECT_EQ(DomainOf(charge.status), "payments.example");
    payments::v1::Refund refund;
    grpc::Status refunded = server_->Refund("auth-r", "auth-1", &refund, token);
    EXPECT_EQ(refunded.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    payments::v1::LedgerSummary summary;
    auto context = common::NewClientContext({.bearer_token = token});
    EXPECT_EQ(server_->payments().GetLedgerSummary(context.get(), {}, &summary).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    payments::v1::FaultState state;
    auto admin_context = common::NewClientContext({.bearer_token = token});
    EXPECT_EQ(server_->admin().GetFaults(admin_context.get(), {}, &state).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM refund_requests"), "0");
  // The same key with a good token is a first request; another caller's key space is separate.
  ChargeCall alice = server_->Charge("auth-1", Req(1, 100), kTokenA);
  ASSERT_TRUE(alice.status.ok());
  EXPECT_FALSE(alice.replayed);
  ChargeCall bob = server_->Charge("auth-1", Req(2, 200), kTokenB);
  ASSERT_TRUE(bob.status.ok());
  EXPECT_FALSE(bob.replayed);
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "2");
  EXPECT_EQ(Captured(server_->Summary(kTokenB)), 200);
}

struct BadCase {
  std::string name;
  grpc::StatusCode code;
  std::string reason;
  std::string field;  // expected BadRequest field, empty when none
};

TEST_F(PaymentServiceTest, BadInputIsRejectedWithCodeAndReasonAndWritesNothing) {
  StartServer();
  auto charge_with = [&](std::function<void(grpc::ClientContext&)> metadata,
                         const ChargeRequest& request) {
    auto context = common::NewClientContext({.bearer_token = kTokenA});
    metadata(*context);
    payments::v1::Charge charge;
    return server_->payments().Charge(context.get(), request, &charge);
  };
  auto with_key = [](const std::string& key) {
    return [key](grpc::ClientContext& c) { c.AddMetadata("idempotency-key", key); };
  };
  auto charge = [&](const ChargeRequest& request) {
    return charge_with(with_key("bad-input"), request);
  };
  ChargeRequest lower_currency = Req(1, 100);
  lower_currency.set_currency("usd");
  ChargeRequest unknown_currency = Req(1, 100);
  unknown_currency.set_currency("XXX");
  ChargeRequest no_method = Req(1, 100);
  no_method.set_payment_method("");

  std::vector<std::pair<BadCase, grpc::Status>> cases;
  cases.push_back({{"missing key", grpc::StatusCode::INVALID_ARGUMENT, "IDEMPOTENCY_KEY_MISSING",
                    "idempotency-key"},
                   charge_with([](grpc::ClientContext&) {}, Req(1, 100))});
  cases.push_back({{"empty key", grpc::StatusCode::INVALID_ARGUMENT, "IDEMPOTENCY_KEY_INVALID",
                    "idempotency-key"},
                   charge_with(with_key(""), Req(1, 100))});
  cases.push_back({{"key with a space", grpc::StatusCode::INVALID_ARGUMENT,
                    "IDEMPOTENCY_KEY_INVALID", "idempotency-key"},
                   charge_with(with_key("a b"), Req(1, 100))});
  cases.push_back({{"256-char key", grpc::StatusCode::INVALID_ARGUMENT, "IDEMPOTENCY_KEY_INVALID",
                    "idempotency-key"},
                   charge_with(with_key(std::string(256, 'k')), Req(1, 100))});
  cases.push_back({{"repeated key", grpc::StatusCode::INVALID_ARGUMENT, "IDEMPOTENCY_KEY_INVALID",
                    "idempotency-key"},
                   charge_with(
                       [](grpc::ClientContext& c) {
                         c.AddMetadata("idempotency-key", "k1");
                         c.AddMetadata("idempotency-key", "k2");
                       },
                       Req(1, 100))});
  cases.push_back({{"comma-joined key (a folded header)", grpc::StatusCode::INVALID_ARGUMENT,
                    "IDEMPOTENCY_KEY_INVALID", "idempotency-key"},
                   charge_with(with_key("P1,P1"), Req(1, 100))});
  {
    ChargeRequest unknown_method = Req(1, 100);
    unknown_method.set_payment_method("pm_card_unknown");
    cases.push_back({{"unknown pm_card_ method", grpc::StatusCode::INVALID_ARGUMENT,
                      "PAYMENT_METHOD_INVALID", "payment_method"},
                     charge(unknown_method)});
  }
  {
    payments::v1::ListChargesRequest list;
    list.set_page_size(501);
    payments::v1::ListChargesResponse out;
    auto context = common::NewClientContext({.bearer_token = kTokenA});
    cases.push_back({{"page_size over 500", grpc::StatusCode::INVALID_ARGUMENT,
                      "LIST_REQUEST_INVALID", "page_size"},
                     server_->payments().ListCharges(context.get(), list, &out)});
  }
  cases.push_back(
      {{"amount 0", grpc::StatusCode::INVALID_ARGUMENT, "AMOUNT_INVALID", "amount_cents"},
       charge(Req(1, 0))});
  cases.push_back(
      {{"negative amount", grpc::StatusCode::INVALID_ARGUMENT, "AMOUNT_INVALID", "amount_cents"},
       charge(Req(1, -100))});
  cases.push_back(
      {{"amount over 10^12", grpc::StatusCode::INVALID_ARGUMENT, "AMOUNT_INVALID", "amount_cents"},
       charge(Req(1, 1'000'000'000'001))});
  cases.push_back(
      {{"unknown currency", grpc::StatusCode::INVALID_ARGUMENT, "CURRENCY_UNSUPPORTED", "currency"},
       charge(unknown_currency)});
  cases.push_back({{"lower-case currency", grpc::StatusCode::INVALID_ARGUMENT,
                    "CURRENCY_UNSUPPORTED", "currency"},
                   charge(lower_currency)});
  cases.push_back({{"empty payment method", grpc::StatusCode::INVALID_ARGUMENT,
                    "PAYMENT_METHOD_INVALID", "payment_method"},
                   charge(no_method)});
  cases.push_back(
      {{"order_id 0", grpc::StatusCode::INVALID_ARGUMENT, "ORDER_ID_INVALID", "order_id"},
       charge(Req(0, 100))});
  {
    payments::v1::Refund refund;
    cases.push_back({{"refund without charge_key", grpc::StatusCode::INVALID_ARGUMENT,
                      "CHARGE_KEY_INVALID", "charge_key"},
                     server_->Refund("bad-refund", "", &refund)});
  }
  {
    payments::v1::GetChargeRequest get;
    get.set_id(424242);
    payments::v1::Charge out;
    auto context = common::NewClientContext({.bearer_token = kTokenA});
    cases.push_back({{"unknown charge id", grpc::StatusCode::NOT_FOUND, "CHARGE_NOT_FOUND", ""},
                     server_->payments().GetCharge(context.get(), get, &out)});
  }
  {
    payments::v1::ListChargesRequest list;
    list.set_page_token("garbage!");
    payments::v1::ListChargesResponse out;
    auto context = common::NewClientContext({.bearer_token = kTokenA});
    cases.push_back({{"garbage page token", grpc::StatusCode::INVALID_ARGUMENT,
                      "PAGE_TOKEN_INVALID", "page_token"},
                     server_->payments().ListCharges(context.get(), list, &out)});
  }

  // Issue 12, case 7: text PostgreSQL cannot store verbatim. The ledger stored "c" for customer
  // "c\0d" and replayed "c\0d"; now every such field is refused by name and nothing is written.
  {
    using namespace std::string_literals;
    ChargeRequest nul_customer = Req(1, 100);
    nul_customer.set_customer_id("c\0d"s);
    cases.push_back({{"customer_id with a NUL", grpc::StatusCode::INVALID_ARGUMENT,
                      "TEXT_NOT_STORABLE", "customer_id"},
                     charge(nul_customer)});
    ChargeRequest nul_method = Req(1, 100);
    nul_method.set_payment_method("pm_card_visa\0"s);
    cases.push_back({{"payment_method with a NUL", grpc::StatusCode::INVALID_ARGUMENT,
                      "TEXT_NOT_STORABLE", "payment_method"},
                     charge(nul_method)});
    payments::v1::RefundRequest refund;
    refund.set_charge_key("charge:x:order:1");
    refund.set_reason("requested\0by customer"s);
    payments::v1::Refund refunded;
    auto context =
        common::NewClientContext({.idempotency_key = "bad-refund", .bearer_token = kTokenA});
    cases.push_back({{"refund reason with a NUL", grpc::StatusCode::INVALID_ARGUMENT,
                      "TEXT_NOT_STORABLE", "reason"},
                     server_->payments().Refund(context.get(), refund, &refunded)});
  }

  for (const auto& [expected, status] : cases) {
    SCOPED_TRACE(expected.name);
    EXPECT_EQ(status.error_code(), expected.code) << status.error_message();
    const absl::Status parsed = common::FromGrpcStatus(status);
    EXPECT_EQ(common::ErrorReason(parsed).value_or("(none)"), expected.reason);
    EXPECT_EQ(DomainOf(status), "payments.example");
    if (!expected.field.empty()) {
      const std::vector<std::string> fields = common::ViolatedFields(parsed);
      EXPECT_NE(std::find(fields.begin(), fields.end(), expected.field), fields.end())
          << status.error_message();
    }
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM refund_requests"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM refunds"), "0");
  std::printf("[figures] %zu bad-input cases: each exact code and reason, rows written=%s\n",
              cases.size(), Scalar("SELECT count(*) FROM charges").c_str());

  // Nothing was stored under "bad-input": the fixed request succeeds as a first request.
  ChargeCall fixed = server_->Charge("bad-input", Req(1, 100));
  ASSERT_TRUE(fixed.status.ok()) << fixed.status.error_message();
  EXPECT_FALSE(fixed.replayed);
  // A different body under the now used key is a reuse.
  ChargeCall reused = server_->Charge("bad-input", Req(1, 101));
  EXPECT_EQ(reused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(reused.status), "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(Scalar("SELECT count(*) FROM charges"), "1");

  // Text that can be stored is stored verbatim, and its replay says the same.
  ChargeRequest unicode = Req(2, 100);
  unicode.set_customer_id("顧客 ☕");
  ChargeCall stored = server_->Charge("verbatim", unicode);
  ASSERT_TRUE(stored.status.ok()) << stored.status.error_message();
  EXPECT_EQ(Scalar("SELECT customer_id FROM charges WHERE charge_key = 'verbatim'"), "顧客 ☕");
  ChargeCall replayed = server_->Charge("verbatim", unicode);
  EXPECT_TRUE(replayed.replayed);
  EXPECT_EQ(replayed.charge.customer_id(), "顧客 ☕");
}

}  // namespace

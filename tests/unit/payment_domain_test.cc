// The payment domain over the in-memory ledger: test payment methods, injected faults, the
// deadline, and request rules of the audit reads.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "gtest/gtest.h"
#include "payment_service/memory_ledger.h"
#include "payment_service/payments.h"

namespace payment_service {
namespace {

payments::v1::ChargeRequest Req(const std::string& method = "pm_card_visa", int64_t amount = 100) {
  payments::v1::ChargeRequest r;
  r.set_order_id(1);
  r.set_amount_cents(amount);
  r.set_currency("EUR");
  r.set_payment_method(method);
  return r;
}

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

class PaymentDomainTest : public ::testing::Test {
 protected:
  int64_t Charges() {
    int64_t n = 0;
    const absl::StatusOr<payments::v1::LedgerSummary> summary = payments_.GetLedgerSummary("alice");
    EXPECT_TRUE(summary.ok());
    for (const auto& b : summary->buckets()) n += b.count();
    return n;
  }
  MemoryLedger ledger_;
  FaultInjector faults_;
  Payments payments_{ledger_, faults_};
};

TEST_F(PaymentDomainTest, TestPaymentMethodsDecide) {
  struct Case {
    std::string method;
    payments::v1::ChargeStatus status;
    std::string reason;
  };
  for (const Case& c :
       {Case{"pm_card_visa", payments::v1::CHARGE_STATUS_SUCCEEDED, ""},
        Case{"pm_card_amex", payments::v1::CHARGE_STATUS_SUCCEEDED, ""},
        Case{"pm_card_declined", payments::v1::CHARGE_STATUS_DECLINED, "card_declined"},
        Case{"pm_card_insufficient_funds", payments::v1::CHARGE_STATUS_DECLINED,
             "insufficient_funds"}}) {
    absl::StatusOr<ChargeOutcome> out =
        payments_.Charge({"alice", c.method}, Req(c.method), Soon());
    ASSERT_TRUE(out.ok()) << c.method << ": " << out.status();
    EXPECT_EQ(out->charge.status(), c.status) << c.method;
    EXPECT_EQ(out->charge.decline_reason(), c.reason) << c.method;
  }
}

TEST_F(PaymentDomainTest, FailBeforeChargeWritesNothing) {
  ASSERT_TRUE(faults_.Set({.fail_before_charge = 1.0}).ok());
  absl::StatusOr<ChargeOutcome> out = payments_.Charge({"alice", "k"}, Req(), Soon());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(common::ErrorReason(out.status()).value_or(""), "PROCESSOR_UNAVAILABLE");
  EXPECT_TRUE(out.status().GetPayload(common::kRetryInfoUrl).has_value());
  EXPECT_EQ(Charges(), 0);
  absl::StatusOr<RefundOutcome> refund = payments_.Refund(
      {"alice", "r"},
      [] {
        payments::v1::RefundRequest r;
        r.set_charge_key("k");
        return r;
      }(),
      Soon());
  EXPECT_EQ(refund.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Charges(), 0) << "no tombstone either";
  EXPECT_EQ(faults_.counters().fail_before_charge, 2);
}

TEST_F(PaymentDomainTest, FailAfterChargeCommitsThenTheRetryReplays) {
  ASSERT_TRUE(faults_.Set({.fail_after_charge = 1.0}).ok());
  absl::StatusOr<ChargeOutcome> lost = payments_.Charge({"alice", "k"}, Req(), Soon());
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Charges(), 1);
  ASSERT_TRUE(faults_.Set({}).ok());
  absl::StatusOr<ChargeOutcome> retry = payments_.Charge({"alice", "k"}, Req(), Soon());
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(Charges(), 1);
}

TEST_F(PaymentDomainTest, LatencyIsAddedBeforeCharging) {
  ASSERT_TRUE(faults_.Set({.latency_ms = 60}).ok());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(payments_.Charge({"alice", "slow"}, Req(), Soon()).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(55));
  EXPECT_EQ(faults_.counters().latency, 1);
}

TEST_F(PaymentDomainTest, PassedDeadlineChargesNothing) {
  absl::StatusOr<ChargeOutcome> late =
      payments_.Charge({"alice", "late"}, Req(), absl::Now() - absl::Seconds(1));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Charges(), 0);
}

TEST_F(PaymentDomainTest, ReadsAreNeverFaulted) {
  ASSERT_TRUE(payments_.Charge({"alice", "k"}, Req(), Soon()).ok());
  ASSERT_TRUE(faults_.Set({.fail_before_charge = 1.0, .fail_after_charge = 1.0}).ok());
  payments::v1::GetChargeRequest get;
  get.set_id(1);
  EXPECT_TRUE(payments_.GetCharge("alice", get).ok());
  EXPECT_TRUE(payments_.ListCharges("alice", {}).ok());
  EXPECT_TRUE(payments_.GetLedgerSummary("alice").ok());
  EXPECT_EQ(faults_.counters().fail_before_charge, 0);
  EXPECT_EQ(faults_.counters().fail_after_charge, 0);
}

// Issue 12, case 6: JPY 500 and USD 1250 held are not "1750": money is summed per currency.
TEST_F(PaymentDomainTest, LedgerSummaryKeepsMoneyPerCurrency) {
  payments::v1::ChargeRequest usd = Req("pm_card_visa", 1250);
  usd.set_currency("USD");
  payments::v1::ChargeRequest jpy = Req("pm_card_visa", 500);
  jpy.set_currency("JPY");
  ASSERT_TRUE(payments_.Charge({"alice", "k-usd"}, usd, Soon()).ok());
  ASSERT_TRUE(payments_.Charge({"alice", "k-jpy"}, jpy, Soon()).ok());
  const absl::StatusOr<payments::v1::LedgerSummary> summary = payments_.GetLedgerSummary("alice");
  ASSERT_TRUE(summary.ok());
  ASSERT_EQ(summary->captured_totals_size(), 2);
  EXPECT_EQ(summary->captured_totals(0).currency(), "JPY");
  EXPECT_EQ(summary->captured_totals(0).amount_minor_units(), 500);
  EXPECT_EQ(summary->captured_totals(1).currency(), "USD");
  EXPECT_EQ(summary->captured_totals(1).amount_minor_units(), 1250);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_EQ(summary->captured_cents(), 0) << "no single sum of two currencies";
  EXPECT_EQ(summary->buckets(0).amount_cents(), 0);
#pragma GCC diagnostic pop
  ASSERT_EQ(summary->buckets_size(), 1);
  EXPECT_EQ(summary->buckets(0).totals_size(), 2);
}

TEST_F(PaymentDomainTest, PageSizeIsCappedAndValidated) {
  for (int i = 0; i < kMaxPageSize + 2; ++i) {
    ASSERT_TRUE(payments_.Charge({"alice", absl::StrCat("k", i)}, Req(), Soon()).ok());
  }
  payments::v1::ListChargesRequest request;
  request.set_page_size(kMaxPageSize);
  absl::StatusOr<payments::v1::ListChargesResponse> page = payments_.ListCharges("alice", request);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->charges_size(), kMaxPageSize);
  EXPECT_FALSE(page->next_page_token().empty());
  EXPECT_EQ(payments_.ListCharges("alice", {})->charges_size(), kDefaultPageSize);

  // Outside 0..500 is refused with the field named, like ListOrders (never silently capped).
  for (int size : {-1, kMaxPageSize + 1, 100000}) {
    request.set_page_size(size);
    const absl::Status s = payments_.ListCharges("alice", request).status();
    EXPECT_EQ(common::ErrorReason(s).value_or(""), "LIST_REQUEST_INVALID") << size;
    EXPECT_EQ(common::ViolatedFields(s), std::vector<std::string>{"page_size"}) << size;
  }
  payments::v1::GetChargeRequest get;
  EXPECT_EQ(common::ErrorReason(payments_.GetCharge("alice", get).status()).value_or(""),
            "CHARGE_ID_INVALID");
}

// Found by fuzz_payment_requests (tests/fuzz/corpus/fuzz_payment_requests/list_far_future): a
// created_after outside google.protobuf.Timestamp's range was accepted, and PostgreSQL then
// refused the microseconds it became ("interval out of range") instead of a clear answer.
TEST_F(PaymentDomainTest, CreatedAfterOutsideTheTimestampRangeIsRefused) {
  struct Case {
    int64_t seconds;
    int32_t nanos;
  };
  for (Case c : {Case{INT64_MAX, 0}, Case{253'402'300'800, 0}, Case{-62'135'596'801, 0},
                 Case{0, -1}, Case{0, 1'000'000'000}}) {
    payments::v1::ListChargesRequest request;
    request.mutable_created_after()->set_seconds(c.seconds);
    request.mutable_created_after()->set_nanos(c.nanos);
    const absl::Status s = payments_.ListCharges("alice", request).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.seconds << " " << c.nanos;
    EXPECT_EQ(common::ErrorReason(s).value_or(""), "LIST_REQUEST_INVALID");
    EXPECT_EQ(common::ViolatedFields(s), std::vector<std::string>{"created_after"});
  }
  payments::v1::ListChargesRequest edge;
  edge.mutable_created_after()->set_seconds(253'402'300'799);
  edge.mutable_created_after()->set_nanos(999'999'999);
  EXPECT_TRUE(payments_.ListCharges("alice", edge).ok());
}

}  // namespace
}  // namespace payment_service

// One suite, two stores: the payment domain over the in-memory ledger and over the PostgreSQL
// ledger (a fresh database per test on the cluster of TEST_PG_CONNINFO) must answer the same.
#include <atomic>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/pg/connection.h"
#include "common/pg/pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "payment_service/faults.h"
#include "payment_service/memory_ledger.h"
#include "payment_service/payments.h"
#include "payment_service/pg_ledger.h"
#include "tests/support/deprecated_fields.h"
#include "tests/support/money.h"
#include "tests/support/order_builders.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"

namespace payment_service {
namespace {

using testing_support::AmountCents;
using testing_support::CapturedCents;
using testing_support::MoneyTexts;

using payments::v1::ChargeRequest;
using payments::v1::ChargeStatus;
using payments::v1::RefundRequest;

ChargeRequest Req(int64_t order_id, int64_t amount, const std::string& method = "pm_card_visa") {
  return testing_support::ChargeOf(order_id, amount, method, "USD", "cust-1");
}

RefundRequest RefundOf(const std::string& charge_key) {
  RefundRequest request;
  request.set_charge_key(charge_key);
  request.set_reason("requested_by_customer");
  return request;
}

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

std::string Reason(const absl::Status& status) {
  return common::ErrorReason(status).value_or("(none)");
}

// Count and amount of one status bucket of a summary, in the one currency it holds.
std::pair<int64_t, int64_t> Bucket(const payments::v1::LedgerSummary& summary,
                                   ChargeStatus status) {
  for (const auto& b : summary.buckets()) {
    if (b.status() != status) continue;
    EXPECT_LE(b.totals_size(), 1) << b.ShortDebugString();
    return {b.count(), b.totals().empty() ? 0 : b.totals(0).amount_minor_units()};
  }
  return {0, 0};
}

// Money held, in the one currency these tests charge in (LedgerSummary.captured_totals).
int64_t Captured(const payments::v1::LedgerSummary& summary) {
  EXPECT_LE(summary.captured_totals_size(), 1) << summary.ShortDebugString();
  return summary.captured_totals().empty() ? 0 : summary.captured_totals(0).amount_minor_units();
}

class LedgerSuite : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      ledger_ = std::make_unique<MemoryLedger>();
    } else {
      ASSERT_OK_AND_ASSIGN(conninfo_, testing_support::CreateTestDatabase("pay_ledger"));
      pool_ = std::make_unique<pg::Pool>(conninfo_, 12);
      absl::StatusOr<std::unique_ptr<PgLedger>> ledger = PgLedger::Open(pool_.get());
      ASSERT_TRUE(ledger.ok()) << ledger.status();
      ledger_ = *std::move(ledger);
    }
    payments_ = std::make_unique<Payments>(*ledger_, faults_);
  }

  absl::StatusOr<ChargeOutcome> Charge(const std::string& key, const ChargeRequest& request,
                                       const std::string& caller = "alice") {
    return payments_->Charge({caller, key}, request, Soon());
  }
  absl::StatusOr<RefundOutcome> Refund(const std::string& refund_key, const std::string& charge_key,
                                       const std::string& caller = "alice") {
    return payments_->Refund({caller, refund_key}, RefundOf(charge_key), Soon());
  }
  payments::v1::LedgerSummary Summary(const std::string& caller = "alice") {
    absl::StatusOr<payments::v1::LedgerSummary> summary = payments_->GetLedgerSummary(caller);
    EXPECT_TRUE(summary.ok()) << summary.status();
    return summary.ok() ? *summary : payments::v1::LedgerSummary();
  }

  FaultInjector faults_;
  std::string conninfo_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<Payments> payments_;
};

TEST_P(LedgerSuite, ChargeSucceedsAndIsReadable) {
  absl::StatusOr<ChargeOutcome> charged = Charge("k1", Req(7, 1250));
  ASSERT_TRUE(charged.ok()) << charged.status();
  EXPECT_FALSE(charged->replayed);
  const payments::v1::Charge& c = charged->charge;
  EXPECT_GT(c.id(), 0);
  EXPECT_EQ(c.status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
  EXPECT_EQ(c.order_id(), 7);
  EXPECT_EQ(c.amount_cents(), 1250);
  EXPECT_EQ(c.currency(), "USD");
  EXPECT_EQ(c.charge_key(), "k1");
  EXPECT_EQ(c.customer_id(), "cust-1");
  EXPECT_GT(c.create_time().seconds(), 0);

  payments::v1::GetChargeRequest get;
  get.set_id(c.id());
  absl::StatusOr<payments::v1::Charge> read = payments_->GetCharge("alice", get);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), c.SerializeAsString());

  get.set_id(c.id() + 1000);
  absl::StatusOr<payments::v1::Charge> missing = payments_->GetCharge("alice", get);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Reason(missing.status()), "CHARGE_NOT_FOUND");
}

// Asking what happened under a key, without side effects: the charge, a refund's tombstone, or
// NOT_FOUND (nothing taken); scoped to the caller.
TEST_P(LedgerSuite, GetChargeByKeyTellsWhatHappenedUnderAKey) {
  absl::StatusOr<ChargeOutcome> charged = Charge("charge:d1:order:7", Req(7, 1250));
  ASSERT_TRUE(charged.ok()) << charged.status();
  payments::v1::GetChargeRequest by_key;
  by_key.set_charge_key("charge:d1:order:7");
  absl::StatusOr<payments::v1::Charge> read = payments_->GetCharge("alice", by_key);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), charged->charge.SerializeAsString());
  EXPECT_EQ(Reason(payments_->GetCharge("bob", by_key).status()), "CHARGE_NOT_FOUND");

  // A refund before any charge leaves a tombstone: VOIDED under the key.
  ASSERT_TRUE(Refund("refund:d1:order:8", "charge:d1:order:8").ok());
  by_key.set_charge_key("charge:d1:order:8");
  read = payments_->GetCharge("alice", by_key);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->status(), payments::v1::CHARGE_STATUS_VOIDED);

  by_key.set_charge_key("charge:d1:order:9");
  absl::StatusOr<payments::v1::Charge> none = payments_->GetCharge("alice", by_key);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Reason(none.status()), "CHARGE_NOT_FOUND");
  // Asking wrote nothing: the key is still free for a first charge.
  absl::StatusOr<ChargeOutcome> later = Charge("charge:d1:order:9", Req(9, 100));
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->replayed);

  by_key.set_id(1);
  EXPECT_EQ(Reason(payments_->GetCharge("alice", by_key).status()), "CHARGE_ID_INVALID");
  payments::v1::GetChargeRequest bad_key;
  bad_key.set_charge_key("has space");
  EXPECT_EQ(Reason(payments_->GetCharge("alice", bad_key).status()), "CHARGE_KEY_INVALID");
}

TEST_P(LedgerSuite, ReplayReturnsTheSameBytes) {
  absl::StatusOr<ChargeOutcome> first = Charge("k1", Req(7, 1250));
  absl::StatusOr<ChargeOutcome> second = Charge("k1", Req(7, 1250));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(first->replayed);
  EXPECT_TRUE(second->replayed);
  EXPECT_EQ(second->charge.SerializeAsString(), first->charge.SerializeAsString());
  EXPECT_EQ(Bucket(Summary(), payments::v1::CHARGE_STATUS_SUCCEEDED).first, 1);
}

TEST_P(LedgerSuite, ReusedKeyIsRefusedAndNothingIsWritten) {
  ASSERT_TRUE(Charge("k1", Req(7, 1250)).ok());
  absl::StatusOr<ChargeOutcome> reused = Charge("k1", Req(7, 9999));
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(reused.status()), "IDEMPOTENCY_KEY_REUSED");
  const payments::v1::LedgerSummary summary = Summary();
  EXPECT_EQ(Bucket(summary, payments::v1::CHARGE_STATUS_SUCCEEDED),
            std::make_pair(int64_t{1}, int64_t{1250}));
  EXPECT_EQ(Captured(summary), 1250);
}

TEST_P(LedgerSuite, DeclineIsStoredAndReplaysAsDecline) {
  absl::StatusOr<ChargeOutcome> declined = Charge("d1", Req(8, 500, "pm_card_declined"));
  ASSERT_TRUE(declined.ok()) << declined.status();
  EXPECT_EQ(declined->charge.status(), payments::v1::CHARGE_STATUS_DECLINED);
  EXPECT_EQ(declined->charge.decline_reason(), "card_declined");
  absl::StatusOr<ChargeOutcome> again = Charge("d1", Req(8, 500, "pm_card_declined"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->charge.SerializeAsString(), declined->charge.SerializeAsString());

  absl::StatusOr<ChargeOutcome> poor = Charge("d2", Req(9, 700, "pm_card_insufficient_funds"));
  ASSERT_TRUE(poor.ok());
  EXPECT_EQ(poor->charge.status(), payments::v1::CHARGE_STATUS_DECLINED);
  EXPECT_EQ(poor->charge.decline_reason(), "insufficient_funds");
  const payments::v1::LedgerSummary summary = Summary();
  EXPECT_EQ(Bucket(summary, payments::v1::CHARGE_STATUS_DECLINED).first, 2);
  EXPECT_EQ(Captured(summary), 0);
}

TEST_P(LedgerSuite, RefundReturnsTheMoneyOnce) {
  absl::StatusOr<ChargeOutcome> charged = Charge("c1", Req(10, 4200));
  ASSERT_TRUE(charged.ok());
  absl::StatusOr<RefundOutcome> refunded = Refund("r1", "c1");
  ASSERT_TRUE(refunded.ok()) << refunded.status();
  EXPECT_FALSE(refunded->replayed);
  EXPECT_EQ(refunded->refund.status(), payments::v1::REFUND_STATUS_SUCCEEDED);
  EXPECT_EQ(refunded->refund.amount_cents(), 4200);
  EXPECT_EQ(refunded->refund.charge_id(), charged->charge.id());
  EXPECT_EQ(refunded->refund.charge_key(), "c1");

  absl::StatusOr<RefundOutcome> replay = Refund("r1", "c1");
  ASSERT_TRUE(replay.ok());
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->refund.SerializeAsString(), refunded->refund.SerializeAsString());

  // Another refund key for the same charge gets the same refund back: no double refund.
  absl::StatusOr<RefundOutcome> other = Refund("r2", "c1");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->replayed);
  EXPECT_EQ(other->refund.id(), refunded->refund.id());
  EXPECT_EQ(other->refund.amount_cents(), 4200);

  payments::v1::GetChargeRequest get;
  get.set_id(charged->charge.id());
  EXPECT_EQ(payments_->GetCharge("alice", get)->status(), payments::v1::CHARGE_STATUS_REFUNDED);
  // A replayed Charge still answers what it answered first.
  absl::StatusOr<ChargeOutcome> charge_replay = Charge("c1", Req(10, 4200));
  ASSERT_TRUE(charge_replay.ok());
  EXPECT_TRUE(charge_replay->replayed);
  EXPECT_EQ(charge_replay->charge.status(), payments::v1::CHARGE_STATUS_SUCCEEDED);

  const payments::v1::LedgerSummary summary = Summary();
  EXPECT_EQ(Captured(summary), 0);
  EXPECT_EQ(summary.refund_count(), 1);
  EXPECT_EQ(Bucket(summary, payments::v1::CHARGE_STATUS_REFUNDED),
            std::make_pair(int64_t{1}, int64_t{4200}));

  // The refund key now belongs to that refund: using it for another charge is a reuse.
  absl::StatusOr<RefundOutcome> reused = Refund("r1", "some-other-charge");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(reused.status()), "IDEMPOTENCY_KEY_REUSED");
}

TEST_P(LedgerSuite, RefundBeforeChargeVoidsTheLateCharge) {
  absl::StatusOr<RefundOutcome> early = Refund("r1", "late");
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(early->refund.status(), payments::v1::REFUND_STATUS_VOIDED_BEFORE_CHARGE);
  EXPECT_EQ(early->refund.amount_cents(), 0);

  absl::StatusOr<ChargeOutcome> late = Charge("late", Req(11, 3000));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_FALSE(late->replayed);
  EXPECT_EQ(late->charge.status(), payments::v1::CHARGE_STATUS_VOIDED);
  EXPECT_EQ(late->charge.id(), early->refund.charge_id());
  EXPECT_EQ(late->charge.order_id(), 11);

  absl::StatusOr<ChargeOutcome> again = Charge("late", Req(11, 3000));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->charge.status(), payments::v1::CHARGE_STATUS_VOIDED);
  absl::StatusOr<ChargeOutcome> different = Charge("late", Req(11, 3001));
  EXPECT_EQ(Reason(different.status()), "IDEMPOTENCY_KEY_REUSED");

  const payments::v1::LedgerSummary summary = Summary();
  EXPECT_EQ(Captured(summary), 0);
  EXPECT_EQ(Bucket(summary, payments::v1::CHARGE_STATUS_VOIDED).first, 1);
  EXPECT_EQ(Bucket(summary, payments::v1::CHARGE_STATUS_SUCCEEDED).first, 0);
  EXPECT_EQ(summary.refund_count(), 0);
  // A second refund of the voided key returns the same tombstone refund.
  absl::StatusOr<RefundOutcome> second = Refund("r2", "late");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->refund.id(), early->refund.id());
  EXPECT_EQ(second->refund.status(), payments::v1::REFUND_STATUS_VOIDED_BEFORE_CHARGE);
}

TEST_P(LedgerSuite, RefundOfDeclinedChargeHasNothingToRefund) {
  ASSERT_TRUE(Charge("d1", Req(12, 800, "pm_card_declined")).ok());
  absl::StatusOr<RefundOutcome> refund = Refund("r1", "d1");
  ASSERT_TRUE(refund.ok()) << refund.status();
  EXPECT_EQ(refund->refund.status(), payments::v1::REFUND_STATUS_NOTHING_TO_REFUND);
  EXPECT_EQ(refund->refund.amount_cents(), 0);
  EXPECT_EQ(Bucket(Summary(), payments::v1::CHARGE_STATUS_DECLINED).first, 1);
  EXPECT_EQ(Summary().refund_count(), 0);
}

TEST_P(LedgerSuite, ListChargesPaginatesInIdOrderAndFilters) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 7; ++i) {
    absl::StatusOr<ChargeOutcome> c =
        Charge(absl::StrCat("k", i), Req(i % 2 == 0 ? 1 : 2, 100 + i));
    ASSERT_TRUE(c.ok());
    ids.push_back(c->charge.id());
  }
  payments::v1::ListChargesRequest request;
  request.set_page_size(3);
  std::vector<int64_t> seen;
  std::vector<int> page_sizes;
  while (true) {
    absl::StatusOr<payments::v1::ListChargesResponse> page =
        payments_->ListCharges("alice", request);
    ASSERT_TRUE(page.ok()) << page.status();
    page_sizes.push_back(page->charges_size());
    for (const auto& c : page->charges()) seen.push_back(c.id());
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(page_sizes, (std::vector<int>{3, 3, 1}));
  std::printf("[figures] %s: listed %zu charges in pages of 3: %d/%d/%d\n", GetParam().c_str(),
              seen.size(), page_sizes[0], page_sizes[1], page_sizes[2]);

  payments::v1::ListChargesRequest by_order;
  by_order.set_order_id(2);
  absl::StatusOr<payments::v1::ListChargesResponse> odd = payments_->ListCharges("alice", by_order);
  ASSERT_TRUE(odd.ok());
  ASSERT_EQ(odd->charges_size(), 3);
  for (const auto& c : odd->charges()) EXPECT_EQ(c.order_id(), 2);
  EXPECT_TRUE(odd->next_page_token().empty());

  payments::v1::ListChargesRequest future;
  future.mutable_created_after()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  EXPECT_EQ(payments_->ListCharges("alice", future)->charges_size(), 0);
  payments::v1::ListChargesRequest past;
  past.mutable_created_after()->set_seconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(1)));
  EXPECT_EQ(payments_->ListCharges("alice", past)->charges_size(), 7);

  // A token is bound to its query.
  payments::v1::ListChargesRequest first_page;
  first_page.set_page_size(2);
  std::string token = payments_->ListCharges("alice", first_page)->next_page_token();
  ASSERT_FALSE(token.empty());
  by_order.set_page_token(token);
  absl::StatusOr<payments::v1::ListChargesResponse> mismatched =
      payments_->ListCharges("alice", by_order);
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Reason(mismatched.status()), "PAGE_TOKEN_INVALID");
  // ... and to its caller: alice's token is no key to bob's charges.
  first_page.set_page_token(token);
  absl::StatusOr<payments::v1::ListChargesResponse> other_caller =
      payments_->ListCharges("bob", first_page);
  EXPECT_EQ(Reason(other_caller.status()), "PAGE_TOKEN_INVALID");
  EXPECT_TRUE(payments_->ListCharges("alice", first_page).ok());
}

TEST_P(LedgerSuite, SummaryCountsAndSumsPerStatus) {
  ASSERT_TRUE(Charge("s1", Req(1, 100)).ok());
  ASSERT_TRUE(Charge("s2", Req(2, 200)).ok());
  ASSERT_TRUE(Charge("s3", Req(3, 300)).ok());
  ASSERT_TRUE(Charge("d1", Req(4, 400, "pm_card_declined")).ok());
  ASSERT_TRUE(Refund("r1", "s3").ok());
  ASSERT_TRUE(Refund("r2", "never-charged").ok());
  const payments::v1::LedgerSummary summary = Summary();
  EXPECT_EQ(Bucket(summary, payments::v1::CHARGE_STATUS_SUCCEEDED),
            std::make_pair(int64_t{2}, int64_t{300}));
  EXPECT_EQ(Bucket(summary, payments::v1::CHARGE_STATUS_DECLINED),
            std::make_pair(int64_t{1}, int64_t{400}));
  EXPECT_EQ(Bucket(summary, payments::v1::CHARGE_STATUS_REFUNDED),
            std::make_pair(int64_t{1}, int64_t{300}));
  EXPECT_EQ(Bucket(summary, payments::v1::CHARGE_STATUS_VOIDED).first, 1);
  EXPECT_EQ(Captured(summary), 300);
  EXPECT_EQ(summary.refund_count(), 1);
  ASSERT_EQ(summary.buckets_size(), 4);
  for (int i = 1; i < summary.buckets_size(); ++i) {
    EXPECT_LT(summary.buckets(i - 1).status(), summary.buckets(i).status());
  }
  std::printf("[figures] %s: summary %s\n", GetParam().c_str(), summary.ShortDebugString().c_str());
}

const payments::v1::LedgerSummary::Bucket& BucketOf(const payments::v1::LedgerSummary& summary,
                                                    ChargeStatus status) {
  for (const auto& b : summary.buckets()) {
    if (b.status() == status) return b;
  }
  return payments::v1::LedgerSummary::Bucket::default_instance();
}

// Issue 12, case 6: the summary added amounts of different currencies into one number (JPY 500
// and USD 1250 held "1750"). Sums are per currency, in minor units, the same in both stores.
TEST_P(LedgerSuite, SummarySumsPerCurrencyAndNeverAcrossCurrencies) {
  ChargeRequest jpy = Req(2, 500);
  jpy.set_currency("JPY");
  ChargeRequest jpy_refunded = Req(3, 700);
  jpy_refunded.set_currency("JPY");
  ChargeRequest eur_declined = Req(4, 900, "pm_card_declined");
  eur_declined.set_currency("EUR");
  ASSERT_TRUE(Charge("usd", Req(1, 1250)).ok());
  ASSERT_TRUE(Charge("jpy", jpy).ok());
  ASSERT_TRUE(Charge("jpy-2", jpy_refunded).ok());
  ASSERT_TRUE(Charge("eur", eur_declined).ok());
  ASSERT_TRUE(Refund("r1", "jpy-2").ok());
  ASSERT_TRUE(Refund("r2", "never-charged").ok());  // a tombstone: no currency, no money

  payments::v1::LedgerSummary summary = Summary();
  EXPECT_THAT(MoneyTexts(summary.captured_totals()), ::testing::ElementsAre("JPY 500", "USD 1250"));
  EXPECT_EQ(CapturedCents(summary), 0) << "two currencies have no single sum";
  const auto& succeeded = BucketOf(summary, payments::v1::CHARGE_STATUS_SUCCEEDED);
  EXPECT_EQ(succeeded.count(), 2);
  EXPECT_THAT(MoneyTexts(succeeded.totals()), ::testing::ElementsAre("JPY 500", "USD 1250"));
  EXPECT_EQ(AmountCents(succeeded), 0);
  const auto& refunded = BucketOf(summary, payments::v1::CHARGE_STATUS_REFUNDED);
  EXPECT_THAT(MoneyTexts(refunded.totals()), ::testing::ElementsAre("JPY 700"));
  EXPECT_EQ(AmountCents(refunded), 700);
  EXPECT_THAT(MoneyTexts(BucketOf(summary, payments::v1::CHARGE_STATUS_DECLINED).totals()),
              ::testing::ElementsAre("EUR 900"));
  const auto& voided = BucketOf(summary, payments::v1::CHARGE_STATUS_VOIDED);
  EXPECT_EQ(voided.count(), 1);
  EXPECT_TRUE(voided.totals().empty());

  // Net of refunds: refunding the USD charge leaves only yen held.
  ASSERT_TRUE(Refund("r3", "usd").ok());
  summary = Summary();
  EXPECT_THAT(MoneyTexts(summary.captured_totals()), ::testing::ElementsAre("JPY 500"));
  EXPECT_EQ(CapturedCents(summary), 500);
  EXPECT_EQ(summary.refund_count(), 2);
}

TEST_P(LedgerSuite, CallersAreScoped) {
  absl::StatusOr<ChargeOutcome> alice = Charge("shared-key", Req(1, 100), "alice");
  absl::StatusOr<ChargeOutcome> bob = Charge("shared-key", Req(2, 999), "bob");
  ASSERT_TRUE(alice.ok() && bob.ok());
  EXPECT_FALSE(bob->replayed);
  EXPECT_NE(alice->charge.id(), bob->charge.id());

  payments::v1::GetChargeRequest get;
  get.set_id(bob->charge.id());
  EXPECT_EQ(payments_->GetCharge("alice", get).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(payments_->GetCharge("bob", get).ok());
  payments::v1::ListChargesRequest all;
  absl::StatusOr<payments::v1::ListChargesResponse> list = payments_->ListCharges("alice", all);
  ASSERT_EQ(list->charges_size(), 1);
  EXPECT_EQ(list->charges(0).id(), alice->charge.id());
  EXPECT_EQ(Captured(Summary("alice")), 100);
  EXPECT_EQ(Captured(Summary("bob")), 999);

  // Bob's refund of "shared-key" refunds Bob's charge only.
  ASSERT_TRUE(Refund("r", "shared-key", "bob").ok());
  EXPECT_EQ(Captured(Summary("alice")), 100);
  EXPECT_EQ(Captured(Summary("bob")), 0);
}

TEST_P(LedgerSuite, ConcurrentSameKeyChargesChargeOnce) {
  constexpr int kThreads = 10;
  std::vector<absl::StatusOr<ChargeOutcome>> results(kThreads, absl::UnknownError("not run"));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      results[i] = Charge("race", Req(5, 5000));
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  std::set<int64_t> ids;
  int replays = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    ids.insert(r->charge.id());
    replays += r->replayed ? 1 : 0;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(replays, kThreads - 1);
  EXPECT_EQ(Bucket(Summary(), payments::v1::CHARGE_STATUS_SUCCEEDED).first, 1);
  std::printf("[figures] %s: %d concurrent same-key charges -> %zu charge, %d replays\n",
              GetParam().c_str(), kThreads, ids.size(), replays);
}

TEST_P(LedgerSuite, ChargeAndRefundRacingOnOneKeyAgree) {
  constexpr int kKeys = 20;
  int charged_then_refunded = 0, voided = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = absl::StrCat("race-", k);
    absl::StatusOr<ChargeOutcome> charge = absl::UnknownError("not run");
    absl::StatusOr<RefundOutcome> refund = absl::UnknownError("not run");
    std::thread a([&] { charge = Charge(key, Req(100 + k, 1000)); });
    std::thread b([&] { refund = Refund(absl::StrCat("refund-", k), key); });
    a.join();
    b.join();
    ASSERT_TRUE(charge.ok()) << charge.status();
    ASSERT_TRUE(refund.ok()) << refund.status();
    EXPECT_EQ(refund->refund.charge_id(), charge->charge.id());
    if (charge->charge.status() == payments::v1::CHARGE_STATUS_SUCCEEDED) {
      EXPECT_EQ(refund->refund.status(), payments::v1::REFUND_STATUS_SUCCEEDED);
      EXPECT_EQ(refund->refund.amount_cents(), 1000);
      ++charged_then_refunded;
    } else {
      EXPECT_EQ(charge->charge.status(), payments::v1::CHARGE_STATUS_VOIDED);
      EXPECT_EQ(refund->refund.status(), payments::v1::REFUND_STATUS_VOIDED_BEFORE_CHARGE);
      ++voided;
    }
  }
  const payments::v1::LedgerSummary summary = Summary();
  EXPECT_EQ(Captured(summary), 0);  // every key was refunded or voided
  EXPECT_EQ(summary.refund_count(), charged_then_refunded);
  std::printf(
      "[figures] %s: %d charge/refund races: %d charged+refunded, %d voided, "
      "captured=%lld\n",
      GetParam().c_str(), kKeys, charged_then_refunded, voided,
      static_cast<long long>(Captured(summary)));
}

TEST_P(LedgerSuite, FlakyMethodFailsThenSucceedsWithoutStoringFailures) {
  ASSERT_TRUE(faults_.Set({.flaky_failures = 2}).ok());
  for (int attempt = 1; attempt <= 2; ++attempt) {
    absl::StatusOr<ChargeOutcome> failed = Charge("flaky", Req(3, 300, "pm_card_flaky"));
    EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << attempt;
    EXPECT_EQ(Reason(failed.status()), "PROCESSOR_UNAVAILABLE");
    EXPECT_EQ(Summary().buckets_size(), 0) << "a failed attempt must not be stored";
  }
  absl::StatusOr<ChargeOutcome> third = Charge("flaky", Req(3, 300, "pm_card_flaky"));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->charge.status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
  absl::StatusOr<ChargeOutcome> fourth = Charge("flaky", Req(3, 300, "pm_card_flaky"));
  ASSERT_TRUE(fourth.ok());
  EXPECT_TRUE(fourth->replayed);
  EXPECT_EQ(faults_.counters().flaky, 2);
}

TEST_P(LedgerSuite, InvalidRequestIsNotStoredSoTheKeyStaysFree) {
  absl::StatusOr<ChargeOutcome> bad = Charge("fixme", Req(3, -5));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Reason(bad.status()), "AMOUNT_INVALID");
  absl::StatusOr<ChargeOutcome> fixed = Charge("fixme", Req(3, 5));
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_FALSE(fixed->replayed);
}

TEST_P(LedgerSuite, ReaperFreesOldRefundKeysButChargesStay) {
  ASSERT_TRUE(Charge("c1", Req(1, 100)).ok());
  ASSERT_TRUE(Refund("r1", "c1").ok());
  EXPECT_EQ(*ledger_->ReapRefundRecords(absl::Hours(1), 100), 0);
  absl::StatusOr<int64_t> reaped = ledger_->ReapRefundRecords(-absl::Hours(1), 100);
  ASSERT_TRUE(reaped.ok()) << reaped.status();
  EXPECT_EQ(*reaped, 1);
  // The key is new again: used for another charge it is no reuse (a tombstone there).
  absl::StatusOr<RefundOutcome> reused = Refund("r1", "c2");
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_EQ(reused->refund.status(), payments::v1::REFUND_STATUS_VOIDED_BEFORE_CHARGE);
  // The charge and its refund are the ledger: still there, still replayed, never refunded twice.
  absl::StatusOr<ChargeOutcome> replay = Charge("c1", Req(1, 100));
  ASSERT_TRUE(replay.ok());
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(Refund("r3", "c1")->refund.amount_cents(), 100);
  EXPECT_EQ(Summary().refund_count(), 1);
}

// PostgreSQL only: a key held by a running transaction makes a second request wait, and when the
// wait would outlast its deadline it gets ABORTED IDEMPOTENCY_KEY_IN_USE with RetryInfo.
// (The memory ledger holds no lock across calls; its serialisation is tested above.)
class PostgresLedgerSuite : public LedgerSuite {
 protected:
  // A session of its own that began a transaction and ran `query` with $1 = `key`, so it holds
  // what that locks or inserted until its COMMIT or ROLLBACK.
  void HoldInTransaction(const pg::Query& query, const std::string& key,
                         std::unique_ptr<pg::Connection>* session) {
    ASSERT_OK_AND_ASSIGN(*session, pg::Connection::Open(conninfo_));
    ASSERT_THAT((*session)->ExecScript("BEGIN"), testing_support::IsOk());
    ASSERT_THAT((*session)->Exec(query, {key}), testing_support::IsOk());
  }
  // A Charge under `key` whose deadline (300 ms) runs out while that session holds the key.
  // 1 s: the lock wait ends 250 ms (pg::LockTimeoutMargin) before the statement's end, room
  // enough for a descheduled backend on a loaded machine (57014 instead of 55P03 otherwise).
  absl::StatusOr<ChargeOutcome> ChargeBlockedBy(const std::string& key) {
    return payments_->Charge({"alice", key}, Req(1, 100), absl::Now() + absl::Seconds(1));
  }
};

TEST_P(PostgresLedgerSuite, KeyHeldPastTheDeadlineIsInUse) {
  ASSERT_TRUE(Charge("held", Req(1, 100)).ok());
  std::unique_ptr<pg::Connection> holder;
  ASSERT_NO_FATAL_FAILURE(HoldInTransaction(
      {"test_hold", "SELECT id FROM charges WHERE charge_key = $1 FOR UPDATE"}, "held", &holder));
  const absl::Time start = absl::Now();
  absl::StatusOr<ChargeOutcome> blocked = ChargeBlockedBy("held");
  const absl::Duration waited = absl::Now() - start;
  EXPECT_THAT(blocked,
              testing_support::StatusIs(absl::StatusCode::kAborted, "IDEMPOTENCY_KEY_IN_USE"));
  EXPECT_TRUE(blocked.status().GetPayload(common::kRetryInfoUrl).has_value());
  EXPECT_LT(waited, absl::Seconds(2));
  ASSERT_TRUE(holder->ExecScript("COMMIT").ok());
  absl::StatusOr<ChargeOutcome> after = Charge("held", Req(1, 100));
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->replayed);
  std::printf("[figures] postgres: lock held -> IDEMPOTENCY_KEY_IN_USE after %s\n",
              absl::FormatDuration(waited).c_str());
}

// A first request still running (its row inserted, not committed) makes the second wait on the
// unique key; past the deadline that is IDEMPOTENCY_KEY_IN_USE. If the first then rolls back
// (nothing was stored), the key is free and the retry is a first request.
TEST_P(PostgresLedgerSuite, UncommittedFirstRequestBlocksThenRollsBack) {
  std::unique_ptr<pg::Connection> first;
  ASSERT_NO_FATAL_FAILURE(HoldInTransaction({"test_pending",
                                             "INSERT INTO charges (caller, charge_key, status)"
                                             " VALUES ('alice', $1, 'PENDING')"},
                                            "pending", &first));
  EXPECT_THAT(ChargeBlockedBy("pending"),
              testing_support::StatusIs(absl::StatusCode::kAborted, "IDEMPOTENCY_KEY_IN_USE"));
  // Another caller's same key is not blocked by it.
  absl::StatusOr<ChargeOutcome> bob =
      payments_->Charge({"bob", "pending"}, Req(1, 100), absl::Now() + absl::Milliseconds(300));
  EXPECT_TRUE(bob.ok()) << bob.status();

  // The retry waits for the first, which rolls back meanwhile; the retry then charges.
  std::thread rollback([&] {
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_TRUE(first->ExecScript("ROLLBACK").ok());
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<ChargeOutcome> retry = Charge("pending", Req(1, 100));
  const absl::Duration waited = absl::Now() - start;
  rollback.join();
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(retry->replayed);
  EXPECT_EQ(retry->charge.status(), payments::v1::CHARGE_STATUS_SUCCEEDED);
  EXPECT_GE(waited, absl::Milliseconds(150));
  EXPECT_EQ(*testing_support::QueryScalar(conninfo_, "SELECT count(*) FROM charges"), "2");
}

std::string StoreName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Stores, LedgerSuite, ::testing::Values("memory", "postgres"), StoreName);
INSTANTIATE_TEST_SUITE_P(Stores, PostgresLedgerSuite, ::testing::Values("postgres"), StoreName);

}  // namespace
}  // namespace payment_service

// The reconciler against a prepared orders database (real PostgreSQL) and a scripted ledger: each
// mismatch kind is found, the safe ones are repaired, and a clean state reads all zeros.
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "gtest/gtest.h"
#include "order_service/order_logic.h"
#include "order_service/pg_order_repository.h"
#include "order_service/pg_outbox_store.h"
#include "order_service/pg_reconcile_store.h"
#include "order_service/reconciler.h"
#include "order_service/schema.h"
#include "tests/support/order_builders.h"
#include "tests/support/order_db.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_db.h"

namespace orders {
namespace {

// The ledger as payments would list it.
class LedgerGateway : public PaymentGateway {
 public:
  std::vector<payments::v1::Charge> charges;
  absl::StatusOr<payments::v1::Charge> Charge(const payments::v1::ChargeRequest&,
                                              const std::string&) override {
    return absl::UnimplementedError("not here");
  }
  absl::StatusOr<payments::v1::Refund> Refund(const payments::v1::RefundRequest&,
                                              const std::string&) override {
    return absl::UnimplementedError("not here");
  }
  absl::StatusOr<std::vector<payments::v1::Charge>> ListAllCharges() override { return charges; }
};

class ReconcileTest : public testing_support::OrdersDbTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpOrdersDb("reconcile", 4));
    repo_ = std::make_unique<PgOrderRepository>(*pool_);
    outbox_ = std::make_unique<PgOutboxStore>(*pool_);
    store_ = std::make_unique<PgReconcileStore>(*pool_);
    reconciler_ = std::make_unique<Reconciler>(*store_, ledger_);
    identity_ = *testing_support::QueryScalar(db_, "SELECT id FROM deployment_identity");
  }

  int64_t CreateOrder(const std::string& key, int64_t amount = 999) {
    auto r = repo_->CreateOrder({"t", "m", key, "fp"}, testing_support::OneItemOrder("c", amount),
                                amount, absl::Now() + absl::Seconds(5));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->response.order().id() : 0;
  }
  // Claims the order's next event and finishes it: PAID, or DEAD.
  void FinishNextEvent(bool paid) {
    auto claimed = outbox_->Claim("r/0", 1, absl::Seconds(30));
    ASSERT_TRUE(claimed.ok());
    ASSERT_EQ(claimed->size(), 1u);
    if (paid) {
      EventOutcome outcome{orders::v1::ORDER_STATUS_PAID, 77, ""};
      ASSERT_TRUE(*outbox_->Complete((*claimed)[0], "r/0", outcome));
    } else {
      ASSERT_TRUE(*outbox_->Bury((*claimed)[0], "r/0", "gave up"));
    }
  }
  void Cancel(int64_t id) {
    ASSERT_TRUE(repo_
                    ->CancelOrder({"t", "cancel", absl::StrCat("c", id), "fp"}, id, "r",
                                  absl::Now() + absl::Seconds(5))
                    .ok());
  }
  payments::v1::Charge& AddCharge(int64_t order_id, int64_t amount,
                                  payments::v1::ChargeStatus status) {
    payments::v1::Charge c;
    c.set_id(1000 + static_cast<int64_t>(ledger_.charges.size()));
    c.set_order_id(order_id);
    c.set_amount_cents(amount);
    c.set_currency("USD");
    c.set_status(status);
    c.set_charge_key(ChargeKeyForOrder(identity_, order_id));
    ledger_.charges.push_back(c);
    return ledger_.charges.back();
  }
  orders::v1::ReconcileReport Run(bool repair) {
    absl::StatusOr<orders::v1::ReconcileReport> r = reconciler_->Run(repair);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : orders::v1::ReconcileReport();
  }
  int64_t Mismatches(const orders::v1::ReconcileReport& r) {
    return r.order_not_paid_charge_succeeded() + r.cancelled_order_holds_money() +
           r.charge_without_order() + r.amount_or_currency_mismatch() +
           r.paid_order_without_charge();
  }

  std::string identity_;
  std::unique_ptr<PgOrderRepository> repo_;
  std::unique_ptr<PgOutboxStore> outbox_;
  std::unique_ptr<PgReconcileStore> store_;
  LedgerGateway ledger_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ReconcileTest, AgreeingOrdersAndLedgerReadAllZeros) {
  const int64_t paid = CreateOrder("paid");
  FinishNextEvent(true);
  AddCharge(paid, 999, payments::v1::CHARGE_STATUS_SUCCEEDED);
  const int64_t cancelled = CreateOrder("cancelled");
  FinishNextEvent(true);
  AddCharge(cancelled, 999, payments::v1::CHARGE_STATUS_REFUNDED);
  Cancel(cancelled);
  FinishNextEvent(true);     // the REFUND
  CreateOrder("in-flight");  // its CHARGE still PENDING: skipped
  orders::v1::ReconcileReport r = Run(true);
  EXPECT_EQ(Mismatches(r), 0) << r.DebugString();
  EXPECT_EQ(r.orders_checked(), 3);
  EXPECT_EQ(r.charges_checked(), 2);
  EXPECT_EQ(r.in_flight(), 1);
  EXPECT_EQ(r.repaired(), 0);
}

// Payments charged; the event went DEAD (a lost answer, given up on): the order is paid.
TEST_F(ReconcileTest, OrderNotPaidWhoseChargeSucceededIsFoundAndRepaired) {
  const int64_t id = CreateOrder("k");
  FinishNextEvent(false);
  const payments::v1::Charge charge = AddCharge(id, 999, payments::v1::CHARGE_STATUS_SUCCEEDED);
  orders::v1::ReconcileReport found = Run(false);
  EXPECT_EQ(found.order_not_paid_charge_succeeded(), 1);
  ASSERT_EQ(found.mismatches_size(), 1);
  EXPECT_EQ(found.mismatches(0).kind(), "ORDER_NOT_PAID_CHARGE_SUCCEEDED");
  EXPECT_EQ(found.mismatches(0).order_id(), id);
  EXPECT_FALSE(found.mismatches(0).repaired());
  EXPECT_EQ(Scalar(absl::StrCat("SELECT status FROM orders WHERE id = ", id)), "1");

  orders::v1::ReconcileReport repaired = Run(true);
  EXPECT_EQ(repaired.repaired(), 1);
  EXPECT_TRUE(repaired.mismatches(0).repaired());
  EXPECT_EQ(Scalar(absl::StrCat("SELECT status || '/' || charge_id FROM orders WHERE id = ", id)),
            absl::StrCat("2/", charge.id()));
  EXPECT_EQ(Scalar("SELECT status FROM outbox_events WHERE kind = 'CHARGE'"), "DONE");
  EXPECT_EQ(Scalar("SELECT count(*) FROM order_events WHERE kind = 'ORDER_PAID'"), "1");
  EXPECT_EQ(Mismatches(Run(false)), 0);
}

// A cancelled order whose refund went DEAD while the charge still holds the money.
TEST_F(ReconcileTest, CancelledOrderHoldingMoneyIsFoundAndItsRefundRequeued) {
  const int64_t id = CreateOrder("k");
  FinishNextEvent(true);
  AddCharge(id, 999, payments::v1::CHARGE_STATUS_SUCCEEDED);
  Cancel(id);
  FinishNextEvent(false);  // the REFUND goes DEAD
  orders::v1::ReconcileReport found = Run(false);
  EXPECT_EQ(found.cancelled_order_holds_money(), 1);
  EXPECT_EQ(found.mismatches(0).kind(), "CANCELLED_ORDER_HOLDS_MONEY");
  orders::v1::ReconcileReport repaired = Run(true);
  EXPECT_EQ(repaired.repaired(), 1);
  EXPECT_EQ(Scalar("SELECT status FROM outbox_events WHERE kind = 'REFUND'"), "PENDING");
  EXPECT_EQ(Scalar("SELECT payload::json->>'charge_key' FROM outbox_events WHERE kind = 'REFUND'"),
            ChargeKeyForOrder(identity_, id));
  // Now in flight: not reported again while the refund runs.
  orders::v1::ReconcileReport after = Run(false);
  EXPECT_EQ(after.in_flight(), 1);
  EXPECT_EQ(Mismatches(after), 0);
}

// The same kind when no REFUND event exists at all: one is written.
TEST_F(ReconcileTest, CancelledOrderHoldingMoneyWithNoRefundGetsOne) {
  const int64_t id = CreateOrder("k");
  FinishNextEvent(true);
  AddCharge(id, 999, payments::v1::CHARGE_STATUS_SUCCEEDED);
  Cancel(id);
  FinishNextEvent(true);
  ASSERT_EQ(Scalar("DELETE FROM outbox_events WHERE kind = 'REFUND' RETURNING 1"), "1");
  EXPECT_EQ(Run(true).repaired(), 1);
  EXPECT_EQ(Scalar("SELECT status || ' ' || payment_key FROM outbox_events WHERE kind = 'REFUND'"),
            absl::StrCat("PENDING ", RefundKeyForOrder(identity_, id)));
}

TEST_F(ReconcileTest, ChargeWithoutOrderIsReportedAndForeignChargesAreNotOurs) {
  AddCharge(424242, 500, payments::v1::CHARGE_STATUS_SUCCEEDED);
  AddCharge(1, 500, payments::v1::CHARGE_STATUS_SUCCEEDED);
  ledger_.charges.back().set_charge_key("charge:another-deployment:order:1");
  AddCharge(5151, 0, payments::v1::CHARGE_STATUS_VOIDED);  // a tombstone took nothing
  orders::v1::ReconcileReport r = Run(true);
  EXPECT_EQ(r.charge_without_order(), 1);
  EXPECT_EQ(r.foreign_charges(), 1);
  EXPECT_EQ(r.repaired(), 0) << "needs a person";
  ASSERT_EQ(r.mismatches_size(), 1);
  EXPECT_EQ(r.mismatches(0).charge_key(), ChargeKeyForOrder(identity_, 424242));
}

TEST_F(ReconcileTest, AmountOrCurrencyMismatchIsReported) {
  const int64_t a = CreateOrder("a", 999);
  FinishNextEvent(true);
  AddCharge(a, 1000, payments::v1::CHARGE_STATUS_SUCCEEDED);
  const int64_t b = CreateOrder("b", 999);
  FinishNextEvent(true);
  AddCharge(b, 999, payments::v1::CHARGE_STATUS_SUCCEEDED).set_currency("JPY");
  orders::v1::ReconcileReport r = Run(true);
  EXPECT_EQ(r.amount_or_currency_mismatch(), 2);
  EXPECT_EQ(Mismatches(r), 2);
}

TEST_F(ReconcileTest, PaidOrderWithoutChargeIsReported) {
  const int64_t paid = CreateOrder("paid");
  FinishNextEvent(true);  // PAID, but the ledger has nothing
  const int64_t refunded = CreateOrder("refunded");
  FinishNextEvent(true);
  AddCharge(refunded, 999, payments::v1::CHARGE_STATUS_REFUNDED);
  orders::v1::ReconcileReport r = Run(true);
  EXPECT_EQ(r.paid_order_without_charge(), 2);
  EXPECT_EQ(r.mismatches(0).order_id(), paid);
}

}  // namespace
}  // namespace orders

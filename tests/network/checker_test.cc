// The checker's pure core against a synthetic world: a correct final state passes, and each rule
// fails on a crafted violation and names the offending key.
#include "tests/network/checker.h"

#include <functional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace network_test {
namespace {

using ::testing::HasSubstr;

PlannedOrder Plan(const std::string& key, int64_t price, const std::string& method = "pm_card_visa",
                  bool cancel = false) {
  PlannedOrder p;
  p.key = key;
  p.customer_id = "c-" + key;
  p.items = {{"sku-1", 1, price}};
  p.payment_method = method;
  p.cancel = cancel;
  return p;
}

AttemptRecord Attempt(const std::string& key, int n, grpc::StatusCode code, int64_t order_id = 0,
                      Operation op = Operation::kCreate) {
  AttemptRecord a;
  a.key = key;
  a.op = op;
  a.attempt = n;
  a.code = code;
  a.order_id = order_id;
  return a;
}

KeyOutcome Outcome_(const std::string& key, Outcome outcome, int attempts, int failed,
                    int64_t order_id = 0, grpc::StatusCode final_code = grpc::StatusCode::OK,
                    Operation op = Operation::kCreate) {
  KeyOutcome o;
  o.key = key;
  o.op = op;
  o.outcome = outcome;
  o.attempts = attempts;
  o.failed_attempts = failed;
  o.order_id = order_id;
  o.final_code = final_code;
  return o;
}

ObservedOrder Order(int64_t id, const std::string& key, int64_t amount, OrderState status,
                    const std::string& method = "pm_card_visa") {
  ObservedOrder o;
  o.id = id;
  o.customer_id = "c-" + key;
  o.amount_cents = amount;
  o.currency = "USD";
  o.status = status;
  o.payment_method = method;
  return o;
}

ObservedCharge Charge(int64_t id, int64_t order_id, int64_t amount, ChargeState status) {
  ObservedCharge c;
  c.id = id;
  c.order_id = order_id;
  c.amount_cents = amount;
  c.currency = "USD";
  c.status = status;
  c.charge_key = "charge:d1:order:" + std::to_string(order_id);
  return c;
}

// A correct world: k1 paid after one failed attempt; k2 declined; k3 cancelled (refunded);
// k4 unknown (nothing there); k5 failed definitely (nothing there).
struct World {
  ClientRecords client;
  Snapshot snapshot;

  World() {
    client.planned = {Plan("k1", 1000), Plan("k2", 500, "pm_card_declined"),
                      Plan("k3", 700, "pm_card_visa", /*cancel=*/true), Plan("k4", 300),
                      Plan("k5", 200)};
    using C = grpc::StatusCode;
    client.attempts = {Attempt("k1", 1, C::UNAVAILABLE),
                       Attempt("k1", 2, C::OK, 101),
                       Attempt("k2", 1, C::OK, 102),
                       Attempt("k3", 1, C::OK, 103),
                       Attempt("k3", 1, C::OK, 103, Operation::kCancel),
                       Attempt("k4", 1, C::DEADLINE_EXCEEDED),
                       Attempt("k4", 2, C::UNAVAILABLE),
                       Attempt("k5", 1, C::INVALID_ARGUMENT)};
    client.creates["k1"] = Outcome_("k1", Outcome::kAcknowledged, 2, 1, 101);
    client.creates["k2"] = Outcome_("k2", Outcome::kAcknowledged, 1, 0, 102);
    client.creates["k3"] = Outcome_("k3", Outcome::kAcknowledged, 1, 0, 103);
    client.creates["k4"] = Outcome_("k4", Outcome::kUnknown, 2, 2, 0, C::UNAVAILABLE);
    client.creates["k5"] = Outcome_("k5", Outcome::kFailedDefinitely, 1, 1, 0, C::INVALID_ARGUMENT);
    client.cancels["k3"] =
        Outcome_("k3", Outcome::kAcknowledged, 1, 0, 103, C::OK, Operation::kCancel);
    snapshot.orders = {Order(101, "k1", 1000, OrderState::kPaid),
                       Order(102, "k2", 500, OrderState::kPaymentFailed, "pm_card_declined"),
                       Order(103, "k3", 700, OrderState::kCancelled)};
    snapshot.orders[0].charge_id = 1;
    snapshot.charges = {Charge(1, 101, 1000, ChargeState::kSucceeded),
                        Charge(2, 102, 500, ChargeState::kDeclined),
                        Charge(3, 103, 700, ChargeState::kRefunded)};
    snapshot.captured_cents = 1000;
  }

  CheckReport Check() const { return CheckInvariants(client, snapshot, snapshot); }
};

TEST(CheckerTest, CorrectWorldPasses) {
  World w;
  CheckReport r = w.Check();
  EXPECT_TRUE(r.ok()) << r.Table();
  EXPECT_EQ(r.planned, 5);
  EXPECT_EQ(r.attempted, 5);
  EXPECT_EQ(r.attempts, 8);
  EXPECT_EQ(r.acknowledged, 3);
  EXPECT_EQ(r.failed_definitely, 1);
  EXPECT_EQ(r.unknown, 1);
  EXPECT_EQ(r.recovered, 1);
  EXPECT_EQ(r.orders_seen, 3);
  EXPECT_EQ(r.charges_seen, 3);
  EXPECT_EQ(r.paid, 1);
  EXPECT_EQ(r.payment_failed, 1);
  EXPECT_EQ(r.cancelled, 1);
  EXPECT_EQ(r.captured_cents, 1000);
  const std::string table = r.Table();
  EXPECT_THAT(table, HasSubstr("exactly-once checker: OK"));
  for (const char* row : {"attempted", "acknowledged", "lost", "duplicated", "unexpected",
                          "recovered", "amount_mismatch", "stuck"}) {
    EXPECT_THAT(table, HasSubstr(row));
  }
}

TEST(CheckerTest, UnknownKeyMayHaveAnOrderOrNot) {
  World w;
  w.snapshot.orders.push_back(Order(104, "k4", 300, OrderState::kPaid));
  w.snapshot.charges.push_back(Charge(4, 104, 300, ChargeState::kSucceeded));
  w.snapshot.captured_cents = 1300;
  CheckReport r = w.Check();
  EXPECT_TRUE(r.ok()) << r.Table();
}

// A cancel that came before the charge: the Refund left a tombstone (VOIDED, no order id, no
// amount) under the order's charge key, and no Charge claimed it. It belongs to the cancelled
// order; a tombstone for an order that is not cancelled, or does not exist, is reported.
TEST(CheckerTest, RefundTombstoneBelongsToItsCancelledOrder) {
  World w;
  w.snapshot.charges.erase(w.snapshot.charges.begin() + 2);  // k3 was never charged
  ObservedCharge tombstone = Charge(9, 0, 0, ChargeState::kVoided);
  tombstone.currency = "";
  tombstone.charge_key = "charge:d1:order:103";
  w.snapshot.charges.push_back(tombstone);
  CheckReport r = w.Check();
  EXPECT_TRUE(r.ok()) << r.Table();

  w.snapshot.charges.back().charge_key = "charge:d1:order:101";  // a PAID order
  r = w.Check();
  EXPECT_EQ(r.count(Rule::kWrongStatus), 1) << r.Table();
  EXPECT_THAT(r.Table(), HasSubstr("key=k1"));

  w.snapshot.charges.back().charge_key = "charge:d1:order:999";  // no such order
  r = w.Check();
  EXPECT_EQ(r.count(Rule::kUnexpected), 1) << r.Table();
  EXPECT_THAT(r.Table(), HasSubstr("charge_key=charge:d1:order:999"));
}

struct Case {
  std::string name;
  std::function<void(World&)> mutate;
  Rule rule;
  std::string key;   // must be printed with the violation
  bool only = true;  // no other rule fires
};

class CheckerRuleTest : public ::testing::TestWithParam<Case> {};

TEST_P(CheckerRuleTest, FailsAndNamesTheKey) {
  const Case& c = GetParam();
  World w;
  c.mutate(w);
  CheckReport r = w.Check();
  const std::string table = r.Table();
  EXPECT_FALSE(r.ok());
  EXPECT_GE(r.count(c.rule), 1) << table;
  EXPECT_THAT(table, HasSubstr("FAIL"));
  EXPECT_THAT(table, HasSubstr(std::string("VIOLATION ") + RuleName(c.rule) + " key=" + c.key))
      << table;
  if (c.only) {
    EXPECT_EQ(static_cast<int64_t>(r.violations.size()), r.count(c.rule)) << table;
  }
}

// Finds an order or charge by id in the world.
ObservedOrder& O(World& w, int64_t id) {
  for (auto& o : w.snapshot.orders) {
    if (o.id == id) return o;
  }
  throw std::runtime_error("no order");
}
ObservedCharge& Ch(World& w, int64_t id) {
  for (auto& c : w.snapshot.charges) {
    if (c.id == id) return c;
  }
  throw std::runtime_error("no charge");
}

INSTANTIATE_TEST_SUITE_P(
    Rules, CheckerRuleTest,
    ::testing::Values(
        Case{"lost_acknowledged_order",
             [](World& w) {
               w.snapshot.orders.erase(w.snapshot.orders.begin());  // order 101
               w.snapshot.charges.erase(w.snapshot.charges.begin());
               w.snapshot.captured_cents = 0;
             },
             Rule::kLost, "k1"},
        Case{"two_orders_for_one_key",
             [](World& w) {
               w.snapshot.orders.push_back(Order(104, "k1", 1000, OrderState::kPaid));
               w.snapshot.charges.push_back(Charge(4, 104, 1000, ChargeState::kSucceeded));
               w.snapshot.captured_cents = 2000;
             },
             Rule::kDuplicated, "k1"},
        Case{"two_succeeded_charges_for_one_order",
             [](World& w) {
               w.snapshot.charges.push_back(Charge(4, 101, 1000, ChargeState::kSucceeded));
               w.snapshot.captured_cents = 2000;
             },
             Rule::kDuplicated, "k1", /*only=*/false},
        Case{"charged_then_refunded_and_charged_again",
             [](World& w) {
               w.snapshot.charges.push_back(Charge(4, 101, 1000, ChargeState::kRefunded));
             },
             Rule::kDuplicated, "k1"},
        Case{"order_of_an_unplanned_customer",
             [](World& w) {
               ObservedOrder o = Order(200, "stranger", 10, OrderState::kPaymentFailed);
               w.snapshot.orders.push_back(o);
             },
             Rule::kUnexpected, "customer=c-stranger"},
        Case{"charge_for_an_order_that_does_not_exist",
             [](World& w) {
               w.snapshot.charges.push_back(Charge(9, 999, 10, ChargeState::kDeclined));
             },
             Rule::kUnexpected, "charge_key=charge:d1:order:999"},
        Case{"order_for_a_key_never_attempted",
             [](World& w) {
               w.client.planned.push_back(Plan("k6", 50));
               w.snapshot.orders.push_back(Order(106, "k6", 50, OrderState::kPaid));
               w.snapshot.charges.push_back(Charge(6, 106, 50, ChargeState::kSucceeded));
               w.snapshot.captured_cents = 1050;
             },
             Rule::kUnexpected, "k6"},
        Case{"order_for_a_key_that_failed_definitely",
             [](World& w) {
               w.snapshot.orders.push_back(Order(105, "k5", 200, OrderState::kPaid));
               w.snapshot.charges.push_back(Charge(5, 105, 200, ChargeState::kSucceeded));
               w.snapshot.captured_cents = 1200;
             },
             Rule::kUnexpected, "k5"},
        Case{"order_amount_differs_from_plan",
             [](World& w) {
               O(w, 101).amount_cents = 999;
               Ch(w, 1).amount_cents = 999;
               w.snapshot.captured_cents = 999;
             },
             Rule::kAmountMismatch, "k1"},
        Case{"charge_amount_differs_from_order",
             [](World& w) { Ch(w, 3).amount_cents = 600; },  // refunded: no totals change
             Rule::kAmountMismatch, "k3"},
        Case{"charge_currency_differs_from_order", [](World& w) { Ch(w, 2).currency = "EUR"; },
             Rule::kAmountMismatch, "k2"},
        Case{"declined_order_holds_money",
             [](World& w) {
               Ch(w, 2).status = ChargeState::kSucceeded;
               // The ledger totals then disagree as well; the money_held line names the key.
             },
             Rule::kMoneyHeld, "k2", /*only=*/false},
        Case{"cancelled_order_holds_money",
             [](World& w) { Ch(w, 3).status = ChargeState::kSucceeded; }, Rule::kMoneyHeld, "k3",
             /*only=*/false},
        Case{"paid_order_without_its_charge",
             [](World& w) {
               Ch(w, 1).status = ChargeState::kDeclined;
               w.snapshot.captured_cents = 0;
             },
             Rule::kLedger, "k1", /*only=*/false},
        Case{"ledger_summary_disagrees_with_charges",
             [](World& w) { w.snapshot.captured_cents = 1234; }, Rule::kLedger, "*"},
        Case{"order_names_a_charge_it_does_not_have", [](World& w) { O(w, 101).charge_id = 77; },
             Rule::kLedger, "k1"},
        Case{"attempts_under_one_key_saw_different_ids",
             [](World& w) {
               w.client.attempts.push_back(Attempt("k1", 3, grpc::StatusCode::OK, 555));
             },
             Rule::kIdMismatch, "k1"},
        Case{"acknowledged_id_is_another_customers_order",
             [](World& w) {
               w.client.creates["k1"].order_id = 102;
               w.client.attempts[1].order_id = 102;
             },
             Rule::kIdMismatch, "k1"},
        Case{"card_that_succeeds_ended_payment_failed",
             [](World& w) {
               O(w, 101).status = OrderState::kPaymentFailed;
               O(w, 101).charge_id = 0;
               Ch(w, 1).status = ChargeState::kDeclined;
               w.snapshot.captured_cents = 0;
             },
             Rule::kWrongStatus, "k1"},
        Case{"acknowledged_cancel_but_order_paid",
             [](World& w) {
               O(w, 103).status = OrderState::kPaid;
               Ch(w, 3).status = ChargeState::kSucceeded;
               w.snapshot.captured_cents = 1700;
             },
             Rule::kWrongStatus, "k3"},
        Case{"order_still_created_after_drain",
             [](World& w) {
               O(w, 101).status = OrderState::kCreated;
               O(w, 101).charge_id = 0;
               w.snapshot.charges.erase(w.snapshot.charges.begin());
               w.snapshot.captured_cents = 0;
             },
             Rule::kStuck, "k1"},
        Case{"outbox_events_dead", [](World& w) { w.snapshot.outbox_dead = 2; }, Rule::kStuck,
             "*"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(CheckerTest, TwoReadsThatDisagreeFail) {
  World w;
  Snapshot second = w.snapshot;
  second.orders[1].status = OrderState::kPaid;  // k2 changed between the reads
  second.charges.pop_back();                    // a charge vanished
  CheckReport r = CheckInvariants(w.client, w.snapshot, second);
  EXPECT_EQ(r.count(Rule::kReadsDisagree), 2) << r.Table();
  EXPECT_THAT(r.Table(), HasSubstr("VIOLATION reads_disagree key=k2"));
  EXPECT_THAT(r.Table(), HasSubstr("VIOLATION reads_disagree key=charge_key=charge:d1:order:103"));
  Snapshot third = w.snapshot;
  third.orders.pop_back();
  r = CheckInvariants(w.client, w.snapshot, third);
  EXPECT_THAT(r.Table(), HasSubstr("VIOLATION reads_disagree key=k3"));
}

TEST(CheckerTest, SharedCustomerInThePlanIsReported) {
  World w;
  PlannedOrder p = Plan("k9", 10);
  p.customer_id = "c-k1";
  w.client.planned.push_back(p);
  CheckReport r = w.Check();
  EXPECT_GE(r.count(Rule::kUnexpected), 1);
  EXPECT_THAT(r.Table(), HasSubstr("plan error"));
}

TEST(CheckerTest, ExpectedStates) {
  PlannedOrder visa = Plan("a", 1);
  PlannedOrder declined = Plan("b", 1, "pm_card_insufficient_funds");
  EXPECT_EQ(ExpectedStates(visa, nullptr), std::set<OrderState>{OrderState::kPaid});
  EXPECT_EQ(ExpectedStates(declined, nullptr), std::set<OrderState>{OrderState::kPaymentFailed});
  KeyOutcome cancel;
  cancel.outcome = Outcome::kAcknowledged;
  EXPECT_EQ(ExpectedStates(visa, &cancel), std::set<OrderState>{OrderState::kCancelled});
  cancel.outcome = Outcome::kUnknown;
  EXPECT_EQ(ExpectedStates(visa, &cancel),
            (std::set<OrderState>{OrderState::kPaid, OrderState::kCancelled}));
  visa.expect_status = OrderState::kPaymentFailed;
  EXPECT_EQ(ExpectedStates(visa, nullptr), std::set<OrderState>{OrderState::kPaymentFailed});
}

// Two deployments on one payment account, both numbering orders from 101: world A under
// identity d1, world B under d2 with charges 4..6.
struct SharedAccount {
  World a, b;
  std::vector<ObservedCharge> account;

  SharedAccount() {
    for (ObservedCharge& c : b.snapshot.charges) {
      c.id += 3;
      c.charge_key = "charge:d2:order:" + std::to_string(c.order_id);
    }
    b.snapshot.orders[0].charge_id = 4;
    account = a.snapshot.charges;
    account.insert(account.end(), b.snapshot.charges.begin(), b.snapshot.charges.end());
  }

  CheckReport Check() const {
    std::vector<DeploymentState> deployments(2);
    const World* worlds[2] = {&a, &b};
    for (int i = 0; i < 2; ++i) {
      deployments[i].name = i == 0 ? "A" : "B";
      deployments[i].identity = i == 0 ? "d1" : "d2";
      deployments[i].client = worlds[i]->client;
      deployments[i].first = worlds[i]->snapshot;
      deployments[i].first.charges = account;
      deployments[i].first.captured_cents = 2000;
      deployments[i].second = deployments[i].first;
    }
    return CheckSharedPaymentAccount(deployments);
  }
};

TEST(CheckerTest, SharedAccountEachDeploymentWithItsOwnChargesPasses) {
  SharedAccount w;
  CheckReport r = w.Check();
  EXPECT_TRUE(r.ok()) << r.Table();
  EXPECT_EQ(r.acknowledged, 6);
  EXPECT_EQ(r.charges_seen, 6);
  EXPECT_EQ(r.captured_cents, 2000);
  EXPECT_EQ(r.cross_deployment_replays, 0);
}

TEST(CheckerTest, SharedAccountOrderPaidWithTheOtherDeploymentsChargeIsAReplay) {
  SharedAccount w;
  // B's order 101 got A's charge 1 (a derived key without the deployment identity, replayed).
  w.b.snapshot.orders[0].charge_id = 1;
  w.account.erase(w.account.begin() + 3);
  CheckReport r = w.Check();
  EXPECT_EQ(r.cross_deployment_replays, 1);
  EXPECT_GE(r.count(Rule::kDuplicated), 1);
  EXPECT_GE(r.count(Rule::kLedger), 1) << "B's PAID order has no charge of its own";
  EXPECT_THAT(r.Table(), HasSubstr("paid with charge 1 of deployment A"));
}

TEST(CheckerTest, SharedAccountChargeUnderNoDeploymentsKeyIsUnexpected) {
  SharedAccount w;
  ObservedCharge stray = Charge(7, 101, 900, ChargeState::kSucceeded);
  stray.charge_key = "charge:order:101";  // a key without a deployment identity
  w.account.push_back(stray);
  CheckReport r = w.Check();
  EXPECT_EQ(r.count(Rule::kUnexpected), 1) << r.Table();
  EXPECT_GE(r.count(Rule::kLedger), 1) << "the account holds money no deployment accounts for";
}

TEST(CheckerTest, SharedAccountViolationsNameTheirDeployment) {
  SharedAccount w;
  w.b.snapshot.orders[2].status = OrderState::kPaid;  // B's cancelled order reads PAID
  CheckReport r = w.Check();
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.Table(), HasSubstr("key=B:k3"));
  EXPECT_EQ(r.cross_deployment_replays, 0);
}
}  // namespace
}  // namespace network_test

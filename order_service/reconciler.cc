#include "order_service/reconciler.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace orders {
namespace {

constexpr int kPage = 1000;
constexpr int kMaxListed = 100;

bool MoneyMoved(payments::v1::ChargeStatus s) {
  return s == payments::v1::CHARGE_STATUS_SUCCEEDED || s == payments::v1::CHARGE_STATUS_REFUNDED;
}

class Report {
 public:
  explicit Report(orders::v1::ReconcileReport* r) : r_(r) {}
  // Counts a mismatch of `kind` and lists it (the first kMaxListed).
  orders::v1::ReconcileMismatch* Add(absl::string_view kind, int64_t order_id,
                                     const std::string& key, std::string detail) {
    ++counts_[kind];
    if (r_->mismatches_size() >= kMaxListed) return &overflow_;
    orders::v1::ReconcileMismatch* m = r_->add_mismatches();
    m->set_kind(std::string(kind));
    m->set_order_id(order_id);
    m->set_charge_key(key);
    m->set_detail(std::move(detail));
    return m;
  }

  // The per-kind counts into the report.
  void Finish() {
    r_->set_order_not_paid_charge_succeeded(counts_["ORDER_NOT_PAID_CHARGE_SUCCEEDED"]);
    r_->set_cancelled_order_holds_money(counts_["CANCELLED_ORDER_HOLDS_MONEY"]);
    r_->set_charge_without_order(counts_["CHARGE_WITHOUT_ORDER"]);
    r_->set_amount_or_currency_mismatch(counts_["AMOUNT_OR_CURRENCY_MISMATCH"]);
    r_->set_paid_order_without_charge(counts_["PAID_ORDER_WITHOUT_CHARGE"]);
  }

 private:
  orders::v1::ReconcileReport* r_;
  orders::v1::ReconcileMismatch overflow_;
  absl::flat_hash_map<std::string, int64_t> counts_;
};

}  // namespace

absl::StatusOr<orders::v1::ReconcileReport> Reconciler::Run(bool repair) {
  absl::StatusOr<std::string> identity = store_.DeploymentIdentity();
  if (!identity.ok()) return identity.status();
  const std::string ours = absl::StrCat("charge:", *identity, ":order:");
  absl::StatusOr<std::vector<payments::v1::Charge>> charges = payments_.ListAllCharges();
  if (!charges.ok()) return charges.status();

  orders::v1::ReconcileReport report;
  Report add(&report);
  absl::flat_hash_map<std::string, const payments::v1::Charge*> by_key;
  for (const payments::v1::Charge& c : *charges) {
    report.set_charges_checked(report.charges_checked() + 1);
    if (!absl::StartsWith(c.charge_key(), ours)) {
      if (absl::StartsWith(c.charge_key(), "charge:")) {
        report.set_foreign_charges(report.foreign_charges() + 1);
      }
      continue;
    }
    by_key[c.charge_key()] = &c;
  }
  absl::flat_hash_set<std::string> matched;
  for (int64_t after = 0;;) {
    absl::StatusOr<std::vector<OrderLedgerRow>> page = store_.OrdersAfter(after, kPage);
    if (!page.ok()) return page.status();
    for (const OrderLedgerRow& o : *page) {
      after = o.id;
      report.set_orders_checked(report.orders_checked() + 1);
      matched.insert(o.charge_key);
      if (o.in_flight) {
        report.set_in_flight(report.in_flight() + 1);
        continue;
      }
      auto it = by_key.find(o.charge_key);
      const payments::v1::Charge* c = it == by_key.end() ? nullptr : it->second;
      const bool holds = c != nullptr && c->status() == payments::v1::CHARGE_STATUS_SUCCEEDED;
      switch (o.status) {
        case orders::v1::ORDER_STATUS_CREATED:
        case orders::v1::ORDER_STATUS_PAYMENT_FAILED:
          if (holds) {
            auto* m = add.Add("ORDER_NOT_PAID_CHARGE_SUCCEEDED", o.id, o.charge_key,
                              absl::StrCat("order ", orders::v1::OrderStatus_Name(o.status),
                                           ", charge ", c->id(), " SUCCEEDED"));
            if (repair && o.status == orders::v1::ORDER_STATUS_CREATED) {
              absl::StatusOr<bool> done = store_.MarkPaid(o.id, c->id());
              if (!done.ok()) return done.status();
              m->set_repaired(*done);
              if (*done) report.set_repaired(report.repaired() + 1);
            }
          }
          break;
        case orders::v1::ORDER_STATUS_CANCELLED:
          if (holds) {
            auto* m =
                add.Add("CANCELLED_ORDER_HOLDS_MONEY", o.id, o.charge_key,
                        absl::StrCat("charge ", c->id(), " still SUCCEEDED: ", c->amount_cents(),
                                     " ", c->currency(), " held"));
            if (repair) {
              absl::StatusOr<bool> done = store_.QueueRefund(o.id);
              if (!done.ok()) return done.status();
              m->set_repaired(*done);
              if (*done) report.set_repaired(report.repaired() + 1);
            }
          }
          break;
        case orders::v1::ORDER_STATUS_PAID:
          if (!holds) {
            add.Add("PAID_ORDER_WITHOUT_CHARGE", o.id, o.charge_key,
                    c == nullptr ? std::string("no charge under the key")
                                 : absl::StrCat("charge ", c->id(), " is ",
                                                payments::v1::ChargeStatus_Name(c->status())));
          }
          break;
        default:
          break;
      }
      if (c != nullptr && MoneyMoved(c->status()) &&
          (c->amount_cents() != o.amount_minor || c->currency() != o.currency)) {
        add.Add("AMOUNT_OR_CURRENCY_MISMATCH", o.id, o.charge_key,
                absl::StrCat("order ", o.amount_minor, " ", o.currency, ", charge ",
                             c->amount_cents(), " ", c->currency()));
      }
    }
    if (static_cast<int>(page->size()) < kPage) break;
  }
  for (const auto& [key, c] : by_key) {
    if (matched.contains(key) || !MoneyMoved(c->status())) continue;
    add.Add("CHARGE_WITHOUT_ORDER", c->order_id(), key,
            absl::StrCat("charge ", c->id(), " ", payments::v1::ChargeStatus_Name(c->status()),
                         " for no order of this deployment"));
  }
  add.Finish();
  absl::MutexLock lock(&mu_);
  last_ = report;
  return report;
}

void Reconciler::Start(absl::Duration every, bool repair) {
  thread_ = std::thread([this, every, repair] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), every);
        if (stopping_) return;
      }
      absl::StatusOr<orders::v1::ReconcileReport> r = Run(repair);
      if (!r.ok()) {
        std::fprintf(stderr, "reconcile: %s\n", r.status().ToString().c_str());
        absl::MutexLock lock(&mu_);
        ++failed_runs_;
      }
    }
  });
}

void Reconciler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int64_t Reconciler::failed_runs() const {
  absl::MutexLock lock(&mu_);
  return failed_runs_;
}

std::optional<orders::v1::ReconcileReport> Reconciler::last() const {
  absl::MutexLock lock(&mu_);
  return last_;
}

}  // namespace orders

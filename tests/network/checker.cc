#include "tests/network/checker.h"

#include <algorithm>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "orders/v1/orders.grpc.pb.h"
#include "payments/v1/payments.grpc.pb.h"
#include "tests/support/deprecated_fields.h"

namespace network_test {

const char* ChargeStateName(ChargeState state) {
  switch (state) {
    case ChargeState::kUnspecified:
      return "UNSPECIFIED";
    case ChargeState::kSucceeded:
      return "SUCCEEDED";
    case ChargeState::kDeclined:
      return "DECLINED";
    case ChargeState::kVoided:
      return "VOIDED";
    case ChargeState::kRefunded:
      return "REFUNDED";
  }
  return "?";
}

const char* RuleName(Rule rule) {
  switch (rule) {
    case Rule::kLost:
      return "lost";
    case Rule::kDuplicated:
      return "duplicated";
    case Rule::kUnexpected:
      return "unexpected";
    case Rule::kAmountMismatch:
      return "amount_mismatch";
    case Rule::kMoneyHeld:
      return "money_held";
    case Rule::kLedger:
      return "ledger";
    case Rule::kIdMismatch:
      return "id_mismatch";
    case Rule::kWrongStatus:
      return "wrong_status";
    case Rule::kStuck:
      return "stuck";
    case Rule::kReadsDisagree:
      return "reads_disagree";
  }
  return "?";
}

bool IsDeclinedTestMethod(const std::string& payment_method) {
  return payment_method == "pm_card_declined" || payment_method == "pm_card_insufficient_funds";
}

std::set<OrderState> ExpectedStates(const PlannedOrder& order, const KeyOutcome* cancel) {
  if (order.expect_status) return {*order.expect_status};
  const OrderState base =
      IsDeclinedTestMethod(order.payment_method) ? OrderState::kPaymentFailed : OrderState::kPaid;
  if (cancel == nullptr) return {base};
  switch (cancel->outcome) {
    case Outcome::kAcknowledged:
      return {OrderState::kCancelled};
    case Outcome::kUnknown:
      return {base, OrderState::kCancelled};
    case Outcome::kFailedDefinitely:
      return {base};
  }
  return {base};
}

int64_t CheckReport::count(Rule rule) const {
  return std::count_if(violations.begin(), violations.end(),
                       [rule](const Violation& v) { return v.rule == rule; });
}

std::string CheckReport::Table() const {
  std::string out =
      absl::StrCat("exactly-once checker: ",
                   ok() ? "OK" : absl::StrCat("FAIL (", violations.size(), " violations)"), "\n");
  auto row = [&out](absl::string_view name, int64_t value) {
    absl::StrAppendFormat(&out, "  %-20s %10d\n", name, value);
  };
  row("planned", planned);
  row("attempted", attempted);
  row("attempts", attempts);
  row("acknowledged", acknowledged);
  row("failed_definitely", failed_definitely);
  row("unknown", unknown);
  row("recovered", recovered);
  row("orders_seen", orders_seen);
  row("paid", paid);
  row("payment_failed", payment_failed);
  row("cancelled", cancelled);
  row("charges_seen", charges_seen);
  row("captured_cents", captured_cents);
  out += "  -- violations --\n";
  for (int i = 0; i < kRuleCount; ++i) row(RuleName(Rule(i)), count(Rule(i)));
  for (const Violation& v : violations) {
    absl::StrAppend(&out, "  VIOLATION ", RuleName(v.rule), " key=", v.key);
    if (v.order_id != 0) absl::StrAppend(&out, " order=", v.order_id);
    absl::StrAppend(&out, ": ", v.detail, "\n");
  }
  return out;
}

namespace {

// The relay's derived charge key: "charge:<deployment>:order:<id>" (0 when it is not one).
int64_t OrderIdOfChargeKey(const std::string& charge_key) {
  const absl::string_view key = charge_key;
  const size_t order = key.rfind(":order:");
  int64_t id = 0;
  if (!absl::StartsWith(key, "charge:") || order == absl::string_view::npos ||
      !absl::SimpleAtoi(key.substr(order + 7), &id)) {
    return 0;
  }
  return id;
}

// A Refund's tombstone: VOIDED, no order, no amount (no Charge has claimed it yet).
bool IsTombstone(const ObservedCharge& c) {
  return c.status == ChargeState::kVoided && c.order_id == 0 && c.amount_cents == 0;
}

bool HoldsOrHeldMoney(ChargeState s) {
  return s == ChargeState::kSucceeded || s == ChargeState::kRefunded;
}

void CompareReads(const Snapshot& first, const Snapshot& second,
                  const std::map<std::string, std::string>& key_by_customer, CheckReport* report) {
  auto key_of = [&](const std::string& customer) {
    auto it = key_by_customer.find(customer);
    return it != key_by_customer.end() ? it->second : absl::StrCat("customer=", customer);
  };
  auto add = [&](std::string key, int64_t id, std::string detail) {
    report->violations.push_back(
        Violation{Rule::kReadsDisagree, std::move(key), id, std::move(detail)});
  };
  std::map<int64_t, const ObservedOrder*> a, b;
  for (const auto& o : first.orders) a[o.id] = &o;
  for (const auto& o : second.orders) b[o.id] = &o;
  for (const auto& [id, o] : a) {
    auto it = b.find(id);
    if (it == b.end()) {
      add(key_of(o->customer_id), id, "order in the first read only");
    } else if (o->status != it->second->status || o->amount_cents != it->second->amount_cents ||
               o->customer_id != it->second->customer_id) {
      add(key_of(o->customer_id), id,
          absl::StrCat("order changed between reads: ", OrderStateName(o->status), " ",
                       o->amount_cents, " -> ", OrderStateName(it->second->status), " ",
                       it->second->amount_cents));
    }
  }
  for (const auto& [id, o] : b) {
    if (!a.count(id)) add(key_of(o->customer_id), id, "order in the second read only");
  }
  std::map<int64_t, const ObservedCharge*> ca, cb;
  for (const auto& c : first.charges) ca[c.id] = &c;
  for (const auto& c : second.charges) cb[c.id] = &c;
  for (const auto& [id, c] : ca) {
    auto it = cb.find(id);
    if (it == cb.end()) {
      add(absl::StrCat("charge_key=", c->charge_key), c->order_id,
          absl::StrCat("charge ", id, " in the first read only"));
    } else if (c->status != it->second->status || c->amount_cents != it->second->amount_cents) {
      add(absl::StrCat("charge_key=", c->charge_key), c->order_id,
          absl::StrCat("charge ", id, " changed between reads: ", ChargeStateName(c->status),
                       " -> ", ChargeStateName(it->second->status)));
    }
  }
  for (const auto& [id, c] : cb) {
    if (!ca.count(id)) {
      add(absl::StrCat("charge_key=", c->charge_key), c->order_id,
          absl::StrCat("charge ", id, " in the second read only"));
    }
  }
  if (first.captured_cents != second.captured_cents) {
    add("*", 0,
        absl::StrCat("captured_cents changed between reads: ", first.captured_cents.value_or(-1),
                     " -> ", second.captured_cents.value_or(-1)));
  }
}

}  // namespace

CheckReport CheckInvariants(const ClientRecords& client, const Snapshot& first,
                            const Snapshot& second) {
  CheckReport report;
  auto add = [&report](Rule rule, std::string key, int64_t order_id, std::string detail) {
    report.violations.push_back(Violation{rule, std::move(key), order_id, std::move(detail)});
  };

  // The plan: keys and the customers that map orders back to them.
  std::map<std::string, const PlannedOrder*> plan_by_key;
  std::map<std::string, std::string> key_by_customer;
  for (const PlannedOrder& p : client.planned) {
    plan_by_key[p.key] = &p;
    auto [it, inserted] = key_by_customer.emplace(p.customer_id, p.key);
    if (!inserted && it->second != p.key) {
      add(Rule::kUnexpected, p.key, 0,
          absl::StrCat("plan error: customer ", p.customer_id, " is shared with key ", it->second,
                       "; orders cannot be mapped back to keys"));
    }
  }
  report.planned = static_cast<int64_t>(plan_by_key.size());
  auto key_of_customer = [&](const std::string& customer) -> std::string {
    auto it = key_by_customer.find(customer);
    return it != key_by_customer.end() ? it->second : "";
  };

  // What the client did.
  std::map<std::string, std::vector<const AttemptRecord*>> create_attempts;
  for (const AttemptRecord& a : client.attempts) {
    report.attempts++;
    if (a.op == Operation::kCreate) create_attempts[a.key].push_back(&a);
  }
  report.attempted = static_cast<int64_t>(create_attempts.size());
  for (const auto& [key, out] : client.creates) {
    switch (out.outcome) {
      case Outcome::kAcknowledged:
        report.acknowledged++;
        break;
      case Outcome::kFailedDefinitely:
        report.failed_definitely++;
        break;
      case Outcome::kUnknown:
        report.unknown++;
        break;
    }
  }
  // Recovered: acknowledged, and at least one attempt under the key failed first.
  for (const auto& [key, out] : client.creates) {
    if (out.outcome != Outcome::kAcknowledged) continue;
    auto it = create_attempts.find(key);
    bool failed_before = out.failed_attempts > 0;
    if (it != create_attempts.end()) {
      for (const AttemptRecord* a : it->second) failed_before |= a->code != grpc::StatusCode::OK;
    }
    if (failed_before) report.recovered++;
  }
  // Every successful attempt under one key saw the same order id (replays included).
  for (const auto& [key, attempts] : create_attempts) {
    std::set<int64_t> ids;
    for (const AttemptRecord* a : attempts) {
      if (a->code == grpc::StatusCode::OK) ids.insert(a->order_id);
    }
    if (ids.size() > 1) {
      add(Rule::kIdMismatch, key, *ids.begin(),
          absl::StrCat("attempts under one key saw different order ids: ",
                       absl::StrJoin(ids, ", ")));
    }
  }

  // Orders.
  std::map<int64_t, const ObservedOrder*> order_by_id;
  std::map<std::string, std::vector<const ObservedOrder*>> orders_by_key;
  for (const ObservedOrder& o : first.orders) {
    report.orders_seen++;
    const std::string key = key_of_customer(o.customer_id);
    const std::string shown = key.empty() ? absl::StrCat("customer=", o.customer_id) : key;
    if (!order_by_id.emplace(o.id, &o).second) {
      add(Rule::kDuplicated, shown, o.id, "order id listed twice in one read");
      continue;
    }
    if (o.status == OrderState::kPaid) report.paid++;
    if (o.status == OrderState::kPaymentFailed) report.payment_failed++;
    if (o.status == OrderState::kCancelled) report.cancelled++;
    if (o.status == OrderState::kCreated || o.status == OrderState::kUnspecified) {
      add(Rule::kStuck, shown, o.id,
          absl::StrCat("order still ", OrderStateName(o.status), " after the drain"));
    }
    if (key.empty()) {
      add(Rule::kUnexpected, shown, o.id, "order of a customer no planned order has");
      continue;
    }
    orders_by_key[key].push_back(&o);
  }
  for (const auto& [key, orders] : orders_by_key) {
    const PlannedOrder& p = *plan_by_key.at(key);
    if (orders.size() > 1) {
      std::vector<int64_t> ids;
      for (const ObservedOrder* o : orders) ids.push_back(o->id);
      add(Rule::kDuplicated, key, ids.front(),
          absl::StrCat(orders.size(), " orders for one key: ", absl::StrJoin(ids, ", ")));
    }
    auto created = client.creates.find(key);
    if (!create_attempts.count(key)) {
      add(Rule::kUnexpected, key, orders.front()->id, "order for a key that was never attempted");
    } else if (created != client.creates.end() &&
               created->second.outcome == Outcome::kFailedDefinitely) {
      add(Rule::kUnexpected, key, orders.front()->id,
          absl::StrCat("order exists although its create failed definitely (code ",
                       static_cast<int>(created->second.final_code), " ",
                       created->second.final_reason, ")"));
    }
    auto cancel_it = client.cancels.find(key);
    const std::set<OrderState> allowed =
        ExpectedStates(p, cancel_it == client.cancels.end() ? nullptr : &cancel_it->second);
    for (const ObservedOrder* o : orders) {
      if (o->amount_cents != p.amount_cents() || o->currency != p.currency ||
          (!o->payment_method.empty() && o->payment_method != p.payment_method)) {
        add(Rule::kAmountMismatch, key, o->id,
            absl::StrCat("order ", o->amount_cents, " ", o->currency, " ", o->payment_method,
                         " but planned ", p.amount_cents(), " ", p.currency, " ",
                         p.payment_method));
      }
      if (o->status != OrderState::kCreated && o->status != OrderState::kUnspecified &&
          !allowed.count(o->status)) {
        std::vector<std::string> names;
        for (OrderState s : allowed) names.push_back(OrderStateName(s));
        add(Rule::kWrongStatus, key, o->id,
            absl::StrCat("status ", OrderStateName(o->status), ", expected ",
                         absl::StrJoin(names, " or ")));
      }
    }
  }
  // Every acknowledged order is there, and is the order of its key.
  for (const auto& [key, out] : client.creates) {
    if (out.outcome != Outcome::kAcknowledged) continue;
    auto it = order_by_id.find(out.order_id);
    if (it == order_by_id.end()) {
      add(Rule::kLost, key, out.order_id, "acknowledged order is missing from the final read");
      continue;
    }
    auto plan = plan_by_key.find(key);
    if (plan != plan_by_key.end() && it->second->customer_id != plan->second->customer_id) {
      add(Rule::kIdMismatch, key, out.order_id,
          absl::StrCat("acknowledged id belongs to customer ", it->second->customer_id));
    }
  }

  // Charges.
  std::map<int64_t, std::vector<const ObservedCharge*>> charges_by_order;
  int64_t succeeded_sum = 0;
  for (const ObservedCharge& c : first.charges) {
    report.charges_seen++;
    if (c.status == ChargeState::kSucceeded) succeeded_sum += c.amount_cents;
    if (IsTombstone(c)) {
      // A Refund that came before any Charge under the key: it holds no money and voids a late
      // Charge. Its order is the one its key names, and only a cancelled order may have one.
      const int64_t order_id = OrderIdOfChargeKey(c.charge_key);
      auto it = order_by_id.find(order_id);
      if (it == order_by_id.end()) {
        add(Rule::kUnexpected, absl::StrCat("charge_key=", c.charge_key), order_id,
            absl::StrCat("tombstone ", c.id, " for an order that does not exist"));
      } else if (it->second->status != OrderState::kCancelled) {
        std::string key = key_of_customer(it->second->customer_id);
        if (key.empty()) key = absl::StrCat("customer=", it->second->customer_id);
        add(Rule::kWrongStatus, key, order_id,
            absl::StrCat("refund tombstone ", c.id, " for an order that is ",
                         OrderStateName(it->second->status), ", not CANCELLED"));
      }
      continue;
    }
    if (!order_by_id.count(c.order_id)) {
      add(Rule::kUnexpected, absl::StrCat("charge_key=", c.charge_key), c.order_id,
          absl::StrCat("charge ", c.id, " (", ChargeStateName(c.status), ", ", c.amount_cents,
                       ") for an order that does not exist"));
      continue;
    }
    charges_by_order[c.order_id].push_back(&c);
  }
  report.captured_cents = succeeded_sum;
  for (const auto& [order_id, charges] : charges_by_order) {
    const ObservedOrder& o = *order_by_id.at(order_id);
    std::string key = key_of_customer(o.customer_id);
    if (key.empty()) key = absl::StrCat("customer=", o.customer_id);
    int taken = 0, succeeded = 0;
    for (const ObservedCharge* c : charges) {
      taken += HoldsOrHeldMoney(c->status);
      succeeded += c->status == ChargeState::kSucceeded;
      if (c->amount_cents != o.amount_cents || c->currency != o.currency) {
        add(Rule::kAmountMismatch, key, order_id,
            absl::StrCat("charge ", c->id, " is ", c->amount_cents, " ", c->currency,
                         " but the order is ", o.amount_cents, " ", o.currency));
      }
    }
    if (taken > 1) {
      std::vector<std::string> ids;
      for (const ObservedCharge* c : charges) {
        ids.push_back(absl::StrCat(c->id, ":", ChargeStateName(c->status)));
      }
      add(Rule::kDuplicated, key, order_id,
          absl::StrCat(taken, " charges took money for one order: ", absl::StrJoin(ids, ", ")));
    }
    if (succeeded > 0 && o.status == OrderState::kPaymentFailed) {
      add(Rule::kMoneyHeld, key, order_id,
          "declined (PAYMENT_FAILED) order holds a succeeded charge");
    }
    if (succeeded > 0 && o.status == OrderState::kCancelled) {
      add(Rule::kMoneyHeld, key, order_id, "cancelled order holds a succeeded charge");
    }
  }
  int64_t paid_sum = 0;
  for (const auto& [id, o] : order_by_id) {
    if (o->status != OrderState::kPaid) continue;
    paid_sum += o->amount_cents;
    std::string key = key_of_customer(o->customer_id);
    if (key.empty()) key = absl::StrCat("customer=", o->customer_id);
    auto it = charges_by_order.find(id);
    const bool has_succeeded =
        it != charges_by_order.end() &&
        std::any_of(it->second.begin(), it->second.end(),
                    [](const ObservedCharge* c) { return c->status == ChargeState::kSucceeded; });
    if (!has_succeeded) add(Rule::kLedger, key, id, "PAID order without a succeeded charge");
    if (o->charge_id != 0 &&
        (it == charges_by_order.end() ||
         std::none_of(it->second.begin(), it->second.end(),
                      [o = o](const ObservedCharge* c) { return c->id == o->charge_id; }))) {
      add(Rule::kLedger, key, id,
          absl::StrCat("order names charge ", o->charge_id, ", which is not among its charges"));
    }
  }
  if (paid_sum != succeeded_sum) {
    add(Rule::kLedger, "*", 0,
        absl::StrCat("succeeded charges total ", succeeded_sum, " but PAID orders total ",
                     paid_sum));
  }
  if (first.captured_cents && *first.captured_cents != succeeded_sum) {
    add(Rule::kLedger, "*", 0,
        absl::StrCat("ledger summary captured_cents ", *first.captured_cents,
                     " but succeeded charges total ", succeeded_sum));
  }
  if (first.outbox_pending.value_or(0) != 0) {
    add(Rule::kStuck, "*", 0, absl::StrCat(*first.outbox_pending, " outbox events still pending"));
  }
  if (first.outbox_dead.value_or(0) != 0) {
    add(Rule::kStuck, "*", 0, absl::StrCat(*first.outbox_dead, " outbox events DEAD"));
  }

  CompareReads(first, second, key_by_customer, &report);
  return report;
}

// ---------------------------------------------------------------------------------------------
// Reading through the public APIs.

namespace {

// Calls `fn(timeout)` until it returns a status that is not transient or the deadline passes.
template <typename Fn>
grpc::Status CallWithRetry(const Fn& fn, absl::Duration call_timeout, absl::Time deadline) {
  absl::Duration pause = absl::Milliseconds(50);
  while (true) {
    grpc::Status s = fn(call_timeout);
    if (s.ok() || ClassifyStatus(s.error_code(), s.error_message()) != RetryDecision::kRetry ||
        absl::Now() + pause >= deadline) {
      return s;
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(500));
  }
}

absl::Status ToAbsl(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

std::shared_ptr<grpc::Channel> Channel(const std::string& target) {
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

ObservedOrder FromProto(const orders::v1::Order& o) {
  ObservedOrder out;
  out.id = o.id();
  out.customer_id = o.customer_id();
  out.amount_cents = o.amount_cents();
  out.currency = o.currency();
  out.status = static_cast<OrderState>(o.status());
  out.payment_method = o.payment_method();
  out.charge_id = o.charge_id();
  return out;
}

ObservedCharge FromProto(const payments::v1::Charge& c) {
  ObservedCharge out;
  out.id = c.id();
  out.order_id = c.order_id();
  out.amount_cents = c.amount_cents();
  out.currency = c.currency();
  out.status = static_cast<ChargeState>(c.status());
  out.charge_key = c.charge_key();
  return out;
}

constexpr int kMaxPages = 100000;

// Every order of `customer` ("" = all) with `status` (UNSPECIFIED = all), page by page.
// Every read of the checker: a deadline per attempt and the caller's token.
std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout, const std::string& token) {
  return common::NewClientContext({.timeout = timeout, .bearer_token = token});
}

grpc::Status ListAllOrders(orders::v1::OrderService::Stub& stub, const ReadOptions& options,
                           const std::string& customer, orders::v1::OrderStatus status,
                           absl::Time deadline, int max_orders, std::vector<ObservedOrder>* out) {
  std::string token;
  std::set<std::string> seen_tokens;
  for (int page = 0; page < kMaxPages; ++page) {
    orders::v1::ListOrdersRequest request;
    request.set_customer_id(customer);
    request.set_status(status);
    request.set_page_size(options.page_size);
    request.set_page_token(token);
    orders::v1::ListOrdersResponse response;
    grpc::Status s = CallWithRetry(
        [&](absl::Duration timeout) {
          auto context = NewContext(timeout, options.order_token);
          response.Clear();
          return stub.ListOrders(context.get(), request, &response);
        },
        options.call_timeout, deadline);
    if (!s.ok()) return s;
    for (const auto& o : response.orders()) out->push_back(FromProto(o));
    if (max_orders > 0 && static_cast<int>(out->size()) >= max_orders) return grpc::Status::OK;
    token = response.next_page_token();
    if (token.empty()) return grpc::Status::OK;
    if (!seen_tokens.insert(token).second) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "ListOrders returned a page token twice");
    }
    if (absl::Now() >= deadline) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "ListOrders: out of time paginating");
    }
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "ListOrders: too many pages");
}

// Orders for all customers when the server allows it; else per planned customer.
grpc::Status ReadOrders(const ReadOptions& options, const std::vector<std::string>& customers,
                        orders::v1::OrderStatus status, absl::Time deadline, int max_orders,
                        std::vector<ObservedOrder>* out, bool* all_customers) {
  auto stub = orders::v1::OrderService::NewStub(Channel(options.order_target));
  grpc::Status s = ListAllOrders(*stub, options, "", status, deadline, max_orders, out);
  *all_customers = true;
  if (s.error_code() != grpc::StatusCode::INVALID_ARGUMENT) return s;
  out->clear();
  *all_customers = false;
  for (const std::string& customer : customers) {
    s = ListAllOrders(*stub, options, customer, status, deadline, max_orders, out);
    if (!s.ok()) return s;
    if (max_orders > 0 && static_cast<int>(out->size()) >= max_orders) break;
  }
  return grpc::Status::OK;
}

// OutboxAdmin.GetOutboxStats on the order service: pending and DEAD events. A server without
// OutboxAdmin (UNIMPLEMENTED) leaves both unset.
grpc::Status ReadOutboxStats(const ReadOptions& options, absl::Time deadline,
                             std::optional<int64_t>* pending, std::optional<int64_t>* dead) {
  auto stub = orders::v1::OutboxAdmin::NewStub(Channel(options.order_target));
  orders::v1::OutboxStats stats;
  grpc::Status s = CallWithRetry(
      [&](absl::Duration timeout) {
        auto context = NewContext(timeout, options.order_token);
        stats.Clear();
        return stub->GetOutboxStats(context.get(), orders::v1::GetOutboxStatsRequest(), &stats);
      },
      options.call_timeout, deadline);
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) return grpc::Status::OK;
  if (!s.ok()) return s;
  *pending = stats.pending();
  *dead = stats.dead();
  return grpc::Status::OK;
}

}  // namespace

absl::StatusOr<Snapshot> ReadSnapshot(const ReadOptions& options,
                                      const std::vector<std::string>& planned_customers) {
  const absl::Time deadline = absl::Now() + options.total_timeout;
  Snapshot snapshot;
  grpc::Status s = ReadOrders(options, planned_customers, orders::v1::ORDER_STATUS_UNSPECIFIED,
                              deadline, 0, &snapshot.orders, &snapshot.all_customers);
  if (!s.ok()) return ToAbsl(s, "ListOrders");

  auto payments = payments::v1::PaymentService::NewStub(Channel(options.payment_target));
  std::string token;
  std::set<std::string> seen_tokens;
  for (int page = 0;; ++page) {
    if (page >= kMaxPages) return absl::InternalError("ListCharges: too many pages");
    payments::v1::ListChargesRequest request;
    request.set_order_id(0);
    request.set_page_size(500);
    request.set_page_token(token);
    payments::v1::ListChargesResponse response;
    s = CallWithRetry(
        [&](absl::Duration timeout) {
          auto context = NewContext(timeout, options.payment_token);
          response.Clear();
          return payments->ListCharges(context.get(), request, &response);
        },
        options.call_timeout, deadline);
    if (!s.ok()) return ToAbsl(s, "ListCharges");
    for (const auto& c : response.charges()) snapshot.charges.push_back(FromProto(c));
    token = response.next_page_token();
    if (token.empty()) break;
    if (!seen_tokens.insert(token).second) {
      return absl::InternalError("ListCharges returned a page token twice");
    }
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("ListCharges: out of time");
  }

  payments::v1::LedgerSummary summary;
  s = CallWithRetry(
      [&](absl::Duration timeout) {
        auto context = NewContext(timeout, options.payment_token);
        return payments->GetLedgerSummary(context.get(), payments::v1::GetLedgerSummaryRequest(),
                                          &summary);
      },
      options.call_timeout, deadline);
  if (s.ok()) {
    snapshot.captured_cents = testing_support::CapturedCents(summary);
  } else if (s.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
    return ToAbsl(s, "GetLedgerSummary");
  }
  s = ReadOutboxStats(options, deadline, &snapshot.outbox_pending, &snapshot.outbox_dead);
  if (!s.ok()) return ToAbsl(s, "GetOutboxStats");
  return snapshot;
}

absl::Status WaitForDrain(const ReadOptions& options,
                          const std::vector<std::string>& planned_customers,
                          absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  size_t still_created = 0;
  int64_t pending_events = 0, dead_events = 0;
  grpc::Status last;
  while (true) {
    const absl::Time deadline = std::min(until, absl::Now() + options.total_timeout);
    // The outbox first: with nothing pending and some event DEAD, nothing moves any more (the
    // orders of DEAD events stay CREATED until an operator re-queues them).
    std::optional<int64_t> pending, dead;
    last = ReadOutboxStats(options, deadline, &pending, &dead);
    if (last.ok()) {
      pending_events = pending.value_or(0);
      dead_events = dead.value_or(0);
      if (pending_events == 0 && dead_events > 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("outbox drained but ", dead_events, " events are DEAD"));
      }
      std::vector<ObservedOrder> created;
      bool all_customers = true;
      last = ReadOrders(options, planned_customers, orders::v1::ORDER_STATUS_CREATED, deadline,
                        /*max_orders=*/1, &created, &all_customers);
      if (last.ok()) {
        // A server that ignored the status filter still answers correctly here.
        still_created = std::count_if(created.begin(), created.end(), [](const ObservedOrder& o) {
          return o.status == OrderState::kCreated;
        });
        if (still_created == 0 && !created.empty()) {
          // The first page may hold other statuses if the filter was ignored: check fully.
          std::vector<ObservedOrder> all;
          last = ReadOrders(options, planned_customers, orders::v1::ORDER_STATUS_UNSPECIFIED,
                            deadline, 0, &all, &all_customers);
          if (last.ok()) {
            still_created = std::count_if(all.begin(), all.end(), [](const ObservedOrder& o) {
              return o.status == OrderState::kCreated;
            });
          }
        }
        // No order waits for its charge and the outbox is empty (a cancelled order's REFUND
        // runs after the order left CREATED).
        if (last.ok() && still_created == 0 && pending_events == 0) return absl::OkStatus();
      }
    }
    if (absl::Now() >= until) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (!last.ok()) return ToAbsl(last, "WaitForDrain");
  if (still_created == 0) {
    return absl::DeadlineExceededError(
        absl::StrCat("outbox not drained after ", absl::FormatDuration(timeout), ": ",
                     pending_events, " pending, ", dead_events, " DEAD"));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("orders still CREATED after ", absl::FormatDuration(timeout), ": at least ",
                   still_created, "; outbox ", pending_events, " pending, ", dead_events, " DEAD"));
}

Snapshot ChargesOfDeployment(const Snapshot& snapshot, const std::string& identity) {
  Snapshot out = snapshot;
  out.captured_cents.reset();
  out.charges.clear();
  const std::string infix = absl::StrCat(":", identity, ":order:");
  for (const ObservedCharge& c : snapshot.charges) {
    if (absl::StrContains(c.charge_key, infix)) out.charges.push_back(c);
  }
  return out;
}

CheckReport CheckSharedPaymentAccount(const std::vector<DeploymentState>& deployments) {
  CheckReport total;
  if (deployments.empty()) return total;
  // Charge id -> the deployment whose key it was made under.
  std::map<int64_t, size_t> owner;
  int64_t owned_succeeded = 0;
  for (size_t d = 0; d < deployments.size(); ++d) {
    const DeploymentState& dep = deployments[d];
    const Snapshot first = ChargesOfDeployment(dep.first, dep.identity);
    for (const ObservedCharge& c : first.charges) owner[c.id] = d;
    CheckReport r =
        CheckInvariants(dep.client, first, ChargesOfDeployment(dep.second, dep.identity));
    total.planned += r.planned;
    total.attempted += r.attempted;
    total.acknowledged += r.acknowledged;
    total.failed_definitely += r.failed_definitely;
    total.unknown += r.unknown;
    total.recovered += r.recovered;
    total.attempts += r.attempts;
    total.orders_seen += r.orders_seen;
    total.charges_seen += r.charges_seen;
    total.paid += r.paid;
    total.payment_failed += r.payment_failed;
    total.cancelled += r.cancelled;
    owned_succeeded += r.captured_cents;
    for (Violation v : r.violations) {
      v.key = absl::StrCat(dep.name, ":", v.key);
      total.violations.push_back(std::move(v));
    }
  }
  total.captured_cents = owned_succeeded;
  const Snapshot& account = deployments[0].first;
  int64_t succeeded = 0;
  for (const ObservedCharge& c : account.charges) {
    if (c.status == ChargeState::kSucceeded) succeeded += c.amount_cents;
    if (!owner.count(c.id)) {
      total.violations.push_back({Rule::kUnexpected, absl::StrCat("charge_key=", c.charge_key),
                                  c.order_id,
                                  absl::StrCat("charge ", c.id, " is under no deployment's key")});
    }
  }
  if (succeeded != owned_succeeded) {
    total.violations.push_back({Rule::kLedger, "*", 0,
                                absl::StrCat("the account's succeeded charges total ", succeeded,
                                             " but the deployments' own total ", owned_succeeded)});
  }
  if (account.captured_cents && *account.captured_cents != succeeded) {
    total.violations.push_back(
        {Rule::kLedger, "*", 0,
         absl::StrCat("ledger summary captured_cents ", *account.captured_cents,
                      " but succeeded charges total ", succeeded)});
  }
  for (size_t d = 0; d < deployments.size(); ++d) {
    for (const ObservedOrder& o : deployments[d].first.orders) {
      auto it = owner.find(o.charge_id);
      if (o.charge_id == 0 || it == owner.end() || it->second == d) continue;
      total.cross_deployment_replays++;
      total.violations.push_back(
          {Rule::kDuplicated, absl::StrCat(deployments[d].name, ":customer=", o.customer_id), o.id,
           absl::StrCat("paid with charge ", o.charge_id, " of deployment ",
                        deployments[it->second].name)});
    }
  }
  return total;
}

absl::StatusOr<CheckReport> CheckFinalState(const ReadOptions& options, const ClientRecords& client,
                                            absl::Duration pause) {
  std::vector<std::string> customers;
  for (const PlannedOrder& p : client.planned) customers.push_back(p.customer_id);
  absl::StatusOr<Snapshot> first = ReadSnapshot(options, customers);
  if (!first.ok()) return first.status();
  absl::SleepFor(pause);
  absl::StatusOr<Snapshot> second = ReadSnapshot(options, customers);
  if (!second.ok()) return second.status();
  return CheckInvariants(client, *first, *second);
}

}  // namespace network_test

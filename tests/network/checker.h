// The exactly-once checker. It reads the final state through the public
// APIs only (OrderService.ListOrders, PaymentService.ListCharges and GetLedgerSummary), twice,
// and checks it against what the retrying client did. Its core, CheckInvariants, is a pure
// function over plain structs so every rule is unit-tested without servers.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/network/retrying_client.h"

namespace network_test {

// Mirrors payments.v1.ChargeStatus numbering.
enum class ChargeState {
  kUnspecified = 0,
  kSucceeded = 1,
  kDeclined = 2,
  kVoided = 3,
  kRefunded = 4
};
const char* ChargeStateName(ChargeState state);

struct ObservedOrder {
  int64_t id = 0;
  std::string customer_id;
  int64_t amount_cents = 0;
  std::string currency;
  OrderState status = OrderState::kUnspecified;
  std::string payment_method;
  int64_t charge_id = 0;  // 0 until the payment service answered
};

struct ObservedCharge {
  int64_t id = 0;
  int64_t order_id = 0;
  int64_t amount_cents = 0;
  std::string currency;
  ChargeState status = ChargeState::kUnspecified;
  std::string charge_key;
};

// One read of the final state.
struct Snapshot {
  std::vector<ObservedOrder> orders;
  std::vector<ObservedCharge> charges;
  std::optional<int64_t> captured_cents;  // LedgerSummary.captured_cents
  // Outbox figures (OutboxAdmin.GetOutboxStats), when the server has it: must be 0.
  std::optional<int64_t> outbox_pending;
  std::optional<int64_t> outbox_dead;
  // False when ListOrders needed a customer and only the planned customers were read, so an
  // order of an unplanned customer could not be seen (charges still reveal its money).
  bool all_customers = true;
};

// The final statuses a planned order may end in, given what the client saw: the declined test
// methods (pm_card_declined, pm_card_insufficient_funds) end PAYMENT_FAILED, others PAID; an
// acknowledged cancel ends CANCELLED; an unacknowledged one may or may not have.
std::set<OrderState> ExpectedStates(const PlannedOrder& order, const KeyOutcome* cancel);
bool IsDeclinedTestMethod(const std::string& payment_method);

// Table columns; every violation counts in exactly one.
enum class Rule {
  kLost,            // an acknowledged order id is not there
  kDuplicated,      // more than one order per key, or more than one captured charge per order
  kUnexpected,      // an order or charge nobody attempted, or one for a key that failed definitely
                    // (a Refund's tombstone -- VOIDED, no order id -- belongs to the order its
                    // key charge:<deployment>:order:<id> names, which must exist and be CANCELLED)
  kAmountMismatch,  // order vs plan (amount, currency, method), charge vs order
  kMoneyHeld,       // a declined or cancelled order holds a succeeded charge
  kLedger,          // PAID without its charge; totals: captured != sum over PAID orders
  kIdMismatch,      // attempts under one key saw different order ids
  kWrongStatus,     // final status not one the plan allows
  kStuck,           // still CREATED after the drain (or outbox pending / DEAD)
  kReadsDisagree,   // the two final reads differ
};
inline constexpr int kRuleCount = 10;
const char* RuleName(Rule rule);

struct Violation {
  Rule rule = Rule::kLost;
  std::string key;  // the planned order's key; "customer=<id>" or "charge_key=<k>" when unplanned
  int64_t order_id = 0;
  std::string detail;
};

struct CheckReport {
  // What happened (not violations).
  int64_t planned = 0;
  int64_t attempted = 0;  // keys with at least one create attempt
  int64_t acknowledged = 0;
  int64_t failed_definitely = 0;
  int64_t unknown = 0;
  int64_t recovered = 0;  // acknowledged only after at least one failed attempt
  int64_t attempts = 0;
  int64_t orders_seen = 0;
  int64_t charges_seen = 0;
  int64_t paid = 0, payment_failed = 0, cancelled = 0;
  int64_t captured_cents = 0;  // sum of succeeded charges
  // Orders paid with a charge under another deployment's key (CheckSharedPaymentAccount only;
  // each is also a kDuplicated violation).
  int64_t cross_deployment_replays = 0;
  // Violations, by rule.
  std::vector<Violation> violations;

  int64_t count(Rule rule) const;
  bool ok() const { return violations.empty(); }
  // The counts table, then one line per violation with its key.
  std::string Table() const;
};

// The pure core. `first` and `second` are two reads of the final state taken after the drain.
CheckReport CheckInvariants(const ClientRecords& client, const Snapshot& first,
                            const Snapshot& second);

// --- Several deployments (each its own orders database and deployment identity) charging
// through one payment account. Their derived keys ("<kind>:<identity>:order:<id>") must never
// collide, though every deployment numbers its orders from 1.

// The charges under `identity`'s keys, with the ledger total left unset (it sums every
// deployment's money).
Snapshot ChargesOfDeployment(const Snapshot& snapshot, const std::string& identity);

struct DeploymentState {
  std::string name;      // prefixes its violations' keys ("A:key")
  std::string identity;  // the deployment identity of its orders database
  ClientRecords client;
  Snapshot first, second;  // two full reads (every charge of the account)
};

// Each deployment checked as if it were alone, against the charges under its own keys; then the
// account as a whole: a charge under no deployment's key is kUnexpected; the ledger summary must
// equal the succeeded charges of all deployments (kLedger); an order that names a charge under
// another deployment's key is a cross-deployment replay (kDuplicated, and counted in
// cross_deployment_replays). Counts are summed over the deployments.
CheckReport CheckSharedPaymentAccount(const std::vector<DeploymentState>& deployments);

// Reading the state through the public APIs.
struct ReadOptions {
  std::string order_target;    // host:port of OrderService (directly, not through a proxy)
  std::string payment_target;  // host:port of PaymentService
  std::string order_token;     // bearer tokens, when the services require them
  std::string payment_token;
  absl::Duration call_timeout = absl::Seconds(5);
  absl::Duration total_timeout = absl::Seconds(60);  // for one full read
  int page_size = 100;
};

// Reads every order (ListOrders with no customer; if the server insists on one, once per planned
// customer), every charge (ListCharges with order_id 0), the ledger summary and the outbox
// figures (OutboxAdmin.GetOutboxStats; left unset when the server has no OutboxAdmin),
// paginating to the end. Transient errors are retried within total_timeout.
absl::StatusOr<Snapshot> ReadSnapshot(const ReadOptions& options,
                                      const std::vector<std::string>& planned_customers);

// Polls until no order is CREATED and the outbox (OutboxAdmin.GetOutboxStats, when the server
// has it) holds no PENDING and no DEAD event, or the timeout passes. Returns DEADLINE_EXCEEDED
// with the count of still-CREATED orders (or pending events) in the message on timeout, and
// FAILED_PRECONDITION at once when only DEAD events are left (they never drain by themselves).
absl::Status WaitForDrain(const ReadOptions& options,
                          const std::vector<std::string>& planned_customers,
                          absl::Duration timeout);

// Two reads, `pause` apart, then CheckInvariants.
absl::StatusOr<CheckReport> CheckFinalState(const ReadOptions& options, const ClientRecords& client,
                                            absl::Duration pause = absl::Milliseconds(300));

}  // namespace network_test

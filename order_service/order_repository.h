// Storage of orders, their idempotency records and their outbox events. The PostgreSQL
// implementation is the real one; the in-memory one serves unit tests.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "orders/v1/orders.pb.h"

namespace orders {

// NOT_FOUND ORDER_NOT_FOUND: no order `id` in the caller's tenant (another tenant's order is not
// found either: AIP-193, no existence leak). Every store answers a missing order with this one.
inline absl::Status OrderNotFoundError(int64_t id) {
  return common::ErrorWithReason(absl::StatusCode::kNotFound, "ORDER_NOT_FOUND",
                                 absl::StrCat("no order ", id));
}

// Who asked, with which key, for what: (tenant, method, key) scopes a key; the fingerprint tells
// a retry of the same request from a different request under the same key.
struct IdempotencyScope {
  std::string tenant;
  std::string method;
  std::string key;
  std::string fingerprint;
};

struct CreateResult {
  orders::v1::CreateOrderResponse response;
  bool replayed = false;
};

struct CancelResult {
  orders::v1::CancelOrderResponse response;
  bool replayed = false;
};

struct ImportChunkResult {
  orders::v1::ImportChunk chunk;
  bool replayed = false;
};

struct ImportCommitResult {
  orders::v1::ImportSummary summary;
  bool replayed = false;
};

struct ListQuery {
  std::string customer_id;                                                // empty: all customers
  orders::v1::OrderStatus status = orders::v1::ORDER_STATUS_UNSPECIFIED;  // unspecified: all
  int page_size = 20;
  int64_t before_id = 0;  // 0: from the newest
};

struct OrderPage {
  std::vector<orders::v1::Order> orders;
  int64_t next_before_id = 0;  // 0: no more pages
};

class OrderRepository {
 public:
  virtual ~OrderRepository() = default;

  // In one transaction: the idempotency record, the order, its items and its CHARGE outbox event.
  // If the key was used before: the stored response (replayed = true) when the fingerprint
  // matches, FAILED_PRECONDITION IDEMPOTENCY_KEY_REUSED otherwise. A concurrent request with the
  // same key waits for the first until `deadline`, then gets ABORTED IDEMPOTENCY_KEY_IN_USE.
  virtual absl::StatusOr<CreateResult> CreateOrder(const IdempotencyScope& scope,
                                                   const orders::v1::CreateOrderRequest& request,
                                                   int64_t amount_cents, absl::Time deadline) = 0;

  // Every method's `deadline` is the caller's (absl::InfiniteFuture(): none). The wait for a
  // pooled connection ends by it (pg::WaitDeadline: at most pg::kMaxWait), then
  // RESOURCE_EXHAUSTED, for writes and reads alike; each transaction's statements end by it
  // (pg::SetLocalTimeouts), then DEADLINE_EXCEEDED. A deadline already past: DEADLINE_EXCEEDED.

  // NOT_FOUND ORDER_NOT_FOUND unless the order exists in the tenant.
  virtual absl::StatusOr<orders::v1::Order> GetOrder(const std::string& tenant, int64_t id,
                                                     absl::Time deadline) = 0;

  virtual absl::StatusOr<OrderPage> ListOrders(const std::string& tenant, const ListQuery& query,
                                               absl::Time deadline) = 0;

  // In one transaction: the idempotency record, the order CANCELLED, and a REFUND event (behind
  // any unfinished CHARGE; a CHARGE nobody holds is skipped, the refund's tombstone voids it).
  // NOT_FOUND ORDER_NOT_FOUND, FAILED_PRECONDITION ORDER_ALREADY_CANCELLED; key rules as above.
  virtual absl::StatusOr<CancelResult> CancelOrder(const IdempotencyScope& scope, int64_t id,
                                                   const std::string& reason,
                                                   absl::Time deadline) = 0;

  // Replaces the shipping address; FAILED_PRECONDITION ORDER_ALREADY_CANCELLED when cancelled.
  virtual absl::StatusOr<orders::v1::Order> SetShippingAddress(
      const std::string& tenant, int64_t id, const orders::v1::ShippingAddress& address,
      absl::Time deadline) = 0;

  // The projection as it stands (zeros and no as_of before the first event is applied). Money
  // comes per currency (paid_totals, cancelled_totals, ordered by currency code; the deprecated
  // paid_cents and cancelled_cents by FillDeprecatedAmounts), never summed across currencies.
  virtual absl::StatusOr<orders::v1::OrderAnalytics> GetAnalytics(const std::string& tenant,
                                                                  const std::string& customer_id,
                                                                  absl::Time deadline) = 0;

  // Stores a named chunk once: the same name and fingerprint replays; another fingerprint is
  // FAILED_PRECONDITION IMPORT_CHUNK_REUSED; once the import is committed, a chunk the commit did
  // not create (new, or stored at an index >= its chunk_count) is FAILED_PRECONDITION
  // IMPORT_ALREADY_COMMITTED, while a committed one still replays. Never interleaves with a
  // commit of the same import: waits for it until `deadline`, then ABORTED
  // IMPORT_COMMIT_IN_PROGRESS. `totals` are the chunk's orders' totals per currency
  // (common::AddToTotals), answered as the chunk's totals.
  virtual absl::StatusOr<ImportChunkResult> PutImportChunk(
      const std::string& tenant, const orders::v1::PutImportChunkRequest& request,
      const std::string& fingerprint,
      const google::protobuf::RepeatedPtrField<orders::v1::MoneyTotal>& totals,
      absl::Time deadline) = 0;

  // Creates the orders of chunks 0..chunk_count-1 (each with its CHARGE event) in one
  // transaction, once, with consecutive ids (summary.first_order_id..last_order_id hold these
  // orders and no other). FAILED_PRECONDITION IMPORT_INCOMPLETE when a chunk is missing,
  // IMPORT_EXTRA_CHUNKS when a chunk is stored at an index >= chunk_count (nothing is created);
  // committing again replays the summary (another chunk_count: IMPORT_ALREADY_COMMITTED). The
  // summary's money is per currency (totals), never summed across currencies.
  virtual absl::StatusOr<ImportCommitResult> CommitImport(const std::string& tenant,
                                                          const std::string& import_id,
                                                          int chunk_count, absl::Time deadline) = 0;
};

// The deprecated single-number amounts of an answer (OrderAnalytics.paid_cents and
// cancelled_cents, ImportChunk.amount_cents, ImportSummary.amount_cents), set from its
// per-currency totals by common::SingleCurrencyAmount: the amount when one currency is involved,
// 0 otherwise, as orders.proto documents. Both stores call it on what they answer (and store).
void FillDeprecatedAmounts(orders::v1::OrderAnalytics& analytics);
void FillDeprecatedAmounts(orders::v1::ImportChunk& chunk);
void FillDeprecatedAmounts(orders::v1::ImportSummary& summary);

// The payment key the relay sends for an order's charge or refund: derived from the event, never
// the client's key, so it is the same across relay retries, crashes and replicas, and salted with
// the deployment identity (one per orders database), so two deployments that charge through one
// payment account never share a key: "charge:<deployment>:order:<id>". The PostgreSQL store
// writes the same shape with its SQL function payment_key() (schema.cc, migration 4).
std::string ChargeKeyForOrder(absl::string_view deployment, int64_t order_id);
std::string RefundKeyForOrder(absl::string_view deployment, int64_t order_id);
// 32 random lower-case hex digits, as the schema's gen_random_uuid() without dashes.
std::string NewDeploymentIdentity();

}  // namespace orders

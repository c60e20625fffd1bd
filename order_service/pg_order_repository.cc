#include "order_service/pg_order_repository.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/failpoint.h"
#include "common/idempotency.h"
#include "common/pg/connection.h"
#include "common/pg/sql_state.h"
#include "common/pg/timeouts.h"
#include "google/protobuf/util/time_util.h"

namespace orders {
namespace {

using orders::v1::Order;

// Takes the key: inserts its record, or (ON CONFLICT) waits for a concurrent holder to finish.
// lock_timeout is set in the same statement so the wait ends before the caller's deadline.
constexpr pg::Query kClaimKey{"order_claim_key", R"sql(
INSERT INTO idempotency_keys (tenant, method, key, fingerprint)
SELECT $1::text, $2::text, $3::text, $4::bytea FROM (SELECT set_config('lock_timeout', $5, true)) AS cfg
ON CONFLICT DO NOTHING
RETURNING 1)sql"};

constexpr pg::Query kStoredResponse{"order_stored_response", R"sql(
SELECT fingerprint, response FROM idempotency_keys WHERE tenant = $1 AND method = $2 AND key = $3)sql"};

// The order, its items and its CHARGE event in one statement. The event's payload is the
// payments.v1.ChargeRequest as JSON.
constexpr pg::Query kInsertOrder{"order_insert", R"sql(
WITH o AS (
  INSERT INTO orders (id, tenant, customer_id, currency, amount_cents, payment_method, status)
  VALUES ($9, $1, $2, $3, $4, $5, 1)
  RETURNING id, created_at, charge_key),
i AS (
  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)
  SELECT o.id, t.line, t.sku, t.quantity, t.price
  FROM o, unnest($6::text[], $7::bigint[], $8::bigint[]) WITH ORDINALITY AS t(sku, quantity, price, line)),
e AS (
  INSERT INTO outbox_events (aggregate_id, kind, payment_key, payload)
  SELECT o.id, 'CHARGE', o.charge_key,
         json_build_object('order_id', o.id, 'amount_cents', $4::bigint, 'currency', $3::text,
                           'payment_method', $5::text, 'customer_id', $2::text)::text
  FROM o),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT $1, $2, o.id, 'ORDER_CREATED', $4 FROM o)
SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint FROM o)sql"};

// CreateOrder in one statement (one round trip, its own transaction) for one request or a group
// commit of many: each row takes its idempotency key and, only if it was free, writes the order,
// its items, its CHARGE event, its ORDER_CREATED event and the stored response. Order ids are
// reserved beforehand and responses built before the statement, so a stored answer commits with
// everything it describes. Keys are taken in a fixed order, so two batches never wait on each
// other in a cycle; a concurrent holder of a key makes its row wait (bounded by lock_timeout).
// For a key already taken, the statement also returns the stored fingerprint and response when
// the first request committed before its snapshot (otherwise the caller reads them afterwards).
constexpr pg::Query kCreateOrder{"order_create", R"sql(
WITH cfg AS (SELECT set_config('lock_timeout', $1, true)),
input AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                       $8::text[], $9::text[], $10::bigint[], $11::text[], $12::timestamptz[])
    AS t(tenant, method, key, fingerprint_hex, response_hex, order_id, customer_id, currency,
         amount_cents, payment_method, created_at)),
k AS (
  INSERT INTO idempotency_keys (tenant, method, key, fingerprint, response, order_id)
  SELECT tenant, method, key, decode(fingerprint_hex, 'hex'), decode(response_hex, 'hex'),
         order_id
  FROM input, cfg
  ORDER BY tenant, method, key
  ON CONFLICT DO NOTHING
  RETURNING order_id),
o AS (
  INSERT INTO orders (id, tenant, customer_id, currency, amount_cents, payment_method, status,
                      created_at, updated_at)
  SELECT i.order_id, i.tenant, i.customer_id, i.currency, i.amount_cents, i.payment_method, 1,
         i.created_at, i.created_at
  FROM input i JOIN k ON k.order_id = i.order_id
  RETURNING id, tenant, customer_id, currency, amount_cents, payment_method, charge_key),
i AS (
  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)
  SELECT t.order_id, t.line, t.sku, t.quantity, t.price
  FROM unnest($13::bigint[], $14::bigint[], $15::text[], $16::bigint[], $17::bigint[])
    AS t(order_id, line, sku, quantity, price)
  JOIN o ON o.id = t.order_id),
e AS (
  INSERT INTO outbox_events (aggregate_id, kind, payment_key, payload)
  SELECT o.id, 'CHARGE', o.charge_key,
         json_build_object('order_id', o.id, 'amount_cents', o.amount_cents,
                           'currency', o.currency, 'payment_method', o.payment_method,
                           'customer_id', o.customer_id)::text
  FROM o ORDER BY o.id),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT o.tenant, o.customer_id, o.id, 'ORDER_CREATED', o.amount_cents FROM o ORDER BY o.id)
SELECT i.order_id, k.order_id IS NOT NULL, s.fingerprint, s.response
FROM input i
LEFT JOIN k ON k.order_id = i.order_id
LEFT JOIN idempotency_keys s
  ON k.order_id IS NULL AND s.tenant = i.tenant AND s.method = i.method AND s.key = i.key)sql"};

// Order ids reserved in blocks: one round trip per block instead of one per order. Ids of a
// block a process never uses are simply skipped; ids are never reused. A block is consecutive
// (reserve_order_ids, schema.cc migration 5), so the statement returns its first id.
constexpr pg::Query kReserveIds{"order_reserve_ids", R"sql(
SELECT reserve_order_ids($1))sql"};

constexpr pg::Query kStoreResponse{"order_store_response", R"sql(
UPDATE idempotency_keys SET response = $4, order_id = $5
WHERE tenant = $1 AND method = $2 AND key = $3)sql"};

constexpr pg::Query kGetOrder{"order_get", R"sql(
SELECT id, customer_id, currency, amount_cents, payment_method, status, charge_id, decline_reason,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM updated_at) * 1000000)::bigint, shipping_address, cancel_reason
FROM orders WHERE tenant = $1 AND id = $2)sql"};

constexpr pg::Query kLockOrder{"order_lock", R"sql(
SELECT status FROM orders WHERE tenant = $1 AND id = $2 FOR UPDATE)sql"};

// Cancels, skips a CHARGE nobody holds (the REFUND's tombstone voids any late attempt), and
// enqueues the REFUND behind whatever is still running.
constexpr pg::Query kCancel{"order_cancel", R"sql(
WITH o AS (
  UPDATE orders SET status = 4, cancel_reason = $3, updated_at = now()
  WHERE tenant = $1 AND id = $2
  RETURNING *),
skip AS (
  UPDATE outbox_events
  SET status = 'DONE', done_at = clock_timestamp(),
      last_error = 'skipped: the order was cancelled before it was charged'
  WHERE aggregate_id = $2 AND kind = 'CHARGE' AND status IN ('PENDING', 'DEAD')
    AND (lease_until IS NULL OR lease_until < now()) AND EXISTS (SELECT 1 FROM o)),
e AS (
  INSERT INTO outbox_events (aggregate_id, kind, payment_key, payload)
  SELECT id, 'REFUND', payment_key('refund', id),
         json_build_object('charge_key', charge_key, 'reason', $3::text)::text
  FROM o),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT tenant, customer_id, id, 'ORDER_CANCELLED', amount_cents FROM o)
SELECT id, customer_id, currency, amount_cents, payment_method, status, charge_id, decline_reason,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM updated_at) * 1000000)::bigint, shipping_address, cancel_reason
FROM o)sql"};

constexpr pg::Query kSetAddress{"order_set_address", R"sql(
UPDATE orders SET shipping_address = $3, updated_at = now()
WHERE tenant = $1 AND id = $2 AND status <> 4)sql"};

constexpr pg::Query kListOrders{"order_list", R"sql(
SELECT id, customer_id, currency, amount_cents, payment_method, status, charge_id, decline_reason,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM updated_at) * 1000000)::bigint, shipping_address, cancel_reason
FROM orders
WHERE tenant = $1 AND ($2 = '' OR customer_id = $2) AND ($3 = 0 OR status = $3)
  AND ($4::bigint = 0 OR id < $4::bigint)
ORDER BY id DESC
LIMIT $5)sql"};

constexpr pg::Query kItems{"order_items", R"sql(
SELECT order_id, sku, quantity, unit_price_cents FROM order_items
WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, line)sql"};

google::protobuf::Timestamp FromMicros(int64_t micros) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(micros);
}

Order OrderFromRow(const pg::Result& r, int row) {
  Order order;
  order.set_id(r.Int(row, 0));
  order.set_customer_id(std::string(r.Text(row, 1)));
  order.set_currency(std::string(r.Text(row, 2)));
  order.set_amount_cents(r.Int(row, 3));
  order.set_payment_method(std::string(r.Text(row, 4)));
  order.set_status(static_cast<orders::v1::OrderStatus>(r.Int(row, 5)));
  order.set_charge_id(r.Int(row, 6));
  order.set_decline_reason(std::string(r.Text(row, 7)));
  *order.mutable_create_time() = FromMicros(r.Int(row, 8));
  *order.mutable_update_time() = FromMicros(r.Int(row, 9));
  const std::string address = r.Bytes(row, 10);
  if (!address.empty()) order.mutable_shipping_address()->ParseFromString(address);
  order.set_cancel_reason(std::string(r.Text(row, 11)));
  return order;
}

// Fills the items of `orders` with one query.
absl::Status AttachItems(pg::Connection& conn, std::vector<Order*> orders) {
  if (orders.empty()) return absl::OkStatus();
  std::vector<int64_t> ids;
  std::map<int64_t, Order*> by_id;
  for (Order* o : orders) {
    ids.push_back(o->id());
    by_id[o->id()] = o;
  }
  auto items = conn.Exec(kItems, {pg::ArrayLiteral(ids)});
  if (!items.ok()) return items.status();
  for (int row = 0; row < items->rows(); ++row) {
    Order* order = by_id[items->Int(row, 0)];
    auto* item = order->add_items();
    item->set_sku(std::string(items->Text(row, 1)));
    item->set_quantity(items->Int(row, 2));
    item->set_unit_price_cents(items->Int(row, 3));
  }
  return absl::OkStatus();
}

// The response stored under a used key, or IDEMPOTENCY_KEY_REUSED when the request differs.
absl::StatusOr<std::string> StoredResponseFor(pg::Connection& conn, const IdempotencyScope& scope) {
  auto stored = conn.Exec(kStoredResponse, {scope.tenant, scope.method, scope.key});
  if (!stored.ok()) return stored.status();
  if (stored->rows() == 0) {
    return absl::AbortedError("idempotency record vanished; retry with the same key");
  }
  return common::ReplayOrRefuse(stored->Bytes(0, 0), scope.fingerprint, stored->Bytes(0, 1));
}

// Takes the idempotency key inside the open transaction on `conn`. nullopt: the key is ours, go
// on. A string: the stored response of the first request, to replay. Errors: REUSED, IN_USE.
absl::StatusOr<std::optional<std::string>> ClaimKey(pg::Connection& conn,
                                                    const IdempotencyScope& scope,
                                                    absl::Time deadline) {
  auto claimed =
      conn.Exec(kClaimKey, {scope.tenant, scope.method, scope.key,
                            pg::Param::Bytes(scope.fingerprint), pg::DeadlineTimeout(deadline)});
  if (!claimed.ok()) return common::KeyInUseIfLocked(claimed.status());
  if (claimed->rows() == 1) return std::nullopt;
  // The key was used before, and that request has finished (we waited on its row lock).
  auto stored = StoredResponseFor(conn, scope);
  if (!stored.ok()) return stored.status();
  return std::optional<std::string>(*std::move(stored));
}

absl::Status StoreResponse(pg::Connection& conn, const IdempotencyScope& scope,
                           const google::protobuf::Message& response, int64_t order_id) {
  auto stored =
      conn.Exec(kStoreResponse, {scope.tenant, scope.method, scope.key,
                                 pg::Param::Bytes(response.SerializeAsString()), order_id});
  return stored.status();
}

}  // namespace

absl::StatusOr<Order> InsertOrderRow(pg::Connection& conn, const std::string& tenant,
                                     const orders::v1::CreateOrderRequest& request,
                                     int64_t amount_cents, int64_t id) {
  std::vector<std::string> skus;
  std::vector<int64_t> quantities, prices;
  for (const auto& item : request.items()) {
    skus.push_back(item.sku());
    quantities.push_back(item.quantity());
    prices.push_back(item.unit_price_cents());
  }
  auto inserted =
      conn.Exec(kInsertOrder, {tenant, request.customer_id(), request.currency(), amount_cents,
                               request.payment_method(), pg::ArrayLiteral(skus),
                               pg::ArrayLiteral(quantities), pg::ArrayLiteral(prices), id});
  if (!inserted.ok()) return inserted.status();
  Order order;
  order.set_id(inserted->Int(0, 0));
  order.set_customer_id(request.customer_id());
  *order.mutable_items() = request.items();
  order.set_amount_cents(amount_cents);
  order.set_currency(request.currency());
  order.set_status(orders::v1::ORDER_STATUS_CREATED);
  order.set_payment_method(request.payment_method());
  *order.mutable_create_time() = FromMicros(inserted->Int(0, 1));
  *order.mutable_update_time() = order.create_time();
  return order;
}

PgOrderRepository::PgOrderRepository(pg::Pool& pool, CreateBatchOptions batching)
    : pool_(pool),
      batcher_([this](const std::vector<PendingCreate*>& batch) { WriteBatch(batch); },
               std::max(1, batching.lanes), std::max(1, batching.max_batch)) {}

absl::StatusOr<int64_t> PgOrderRepository::ReserveOrderId(absl::Time deadline) {
  {
    absl::MutexLock lock(&ids_mu_);
    if (!reserved_ids_.empty()) {
      const int64_t id = reserved_ids_.front();
      reserved_ids_.pop_front();
      return id;
    }
  }
  auto conn = pool_.Acquire(deadline);
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kReserveIds, {kIdBlock});
  if (!rows.ok()) return rows.status();
  const int64_t first = rows->Int(0, 0);
  absl::MutexLock lock(&ids_mu_);
  for (int64_t id = first + 1; id < first + kIdBlock; ++id) reserved_ids_.push_back(id);
  return first;
}

absl::Status PgOrderRepository::WriteTogether(pg::Connection& conn,
                                              const std::vector<PendingCreate*>& batch,
                                              absl::Time deadline) {
  std::vector<std::string> tenants, methods, keys, fingerprints, responses, customers, currencies,
      payment_methods, created, skus;
  std::vector<int64_t> ids, amounts, item_orders, item_lines, quantities, prices;
  for (const PendingCreate* p : batch) {
    tenants.push_back(p->tenant);
    methods.push_back(p->method);
    keys.push_back(p->key);
    fingerprints.push_back(absl::BytesToHexString(p->fingerprint));
    responses.push_back(absl::BytesToHexString(p->response));
    ids.push_back(p->order_id);
    customers.push_back(p->customer_id);
    currencies.push_back(p->currency);
    amounts.push_back(p->amount_cents);
    payment_methods.push_back(p->payment_method);
    created.push_back(p->created_at);
    for (size_t line = 0; line < p->skus.size(); ++line) {
      item_orders.push_back(p->order_id);
      item_lines.push_back(static_cast<int64_t>(line) + 1);
      skus.push_back(p->skus[line]);
      quantities.push_back(p->quantities[line]);
      prices.push_back(p->prices[line]);
    }
  }
  // Its own transaction, so the caller's remaining time bounds the statement
  // (statement_timeout is read when a statement starts: set in the statement itself it would
  // only bound the next one) and never outlives it on a pooled connection.
  pg::Transaction tx(conn);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  if (absl::Status s = pg::SetLocalTimeouts(conn, deadline); !s.ok()) return s;
  auto rows = conn.Exec(
      kCreateOrder,
      {pg::DeadlineTimeout(deadline), pg::ArrayLiteral(tenants), pg::ArrayLiteral(methods),
       pg::ArrayLiteral(keys), pg::ArrayLiteral(fingerprints), pg::ArrayLiteral(responses),
       pg::ArrayLiteral(ids), pg::ArrayLiteral(customers), pg::ArrayLiteral(currencies),
       pg::ArrayLiteral(amounts), pg::ArrayLiteral(payment_methods), pg::ArrayLiteral(created),
       pg::ArrayLiteral(item_orders), pg::ArrayLiteral(item_lines), pg::ArrayLiteral(skus),
       pg::ArrayLiteral(quantities), pg::ArrayLiteral(prices)});
  if (!rows.ok()) return rows.status();
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  absl::flat_hash_map<int64_t, int> row_of;
  for (int r = 0; r < rows->rows(); ++r) row_of[rows->Int(r, 0)] = r;
  for (PendingCreate* p : batch) {
    auto it = row_of.find(p->order_id);
    if (it == row_of.end()) {
      p->written = absl::InternalError("the create statement returned no row for a request");
      continue;
    }
    p->written = rows->Bool(it->second, 1);
    if (!rows->IsNull(it->second, 2)) {
      p->stored = {rows->Bytes(it->second, 2), rows->Bytes(it->second, 3)};
    }
  }
  return absl::OkStatus();
}

void PgOrderRepository::WriteBatch(const std::vector<PendingCreate*>& batch) {
  absl::Time deadline = batch.front()->deadline;
  for (const PendingCreate* p : batch) deadline = std::min(deadline, p->deadline);
  auto conn = pool_.Acquire(deadline);
  if (!conn.ok()) {
    for (PendingCreate* p : batch) p->written = conn.status();
    return;
  }
  absl::Status together = WriteTogether(**conn, batch, deadline);
  if (together.ok()) return;
  if (batch.size() == 1) {
    batch.front()->written = together;
    return;
  }
  // One failure must not fail the others: each request is written alone. If the batch did
  // commit after all (its answer was lost), each finds its key taken and replays it.
  for (PendingCreate* p : batch) {
    absl::StatusOr<pg::Pool::Lease> fresh = absl::UnknownError("unused");
    pg::Connection* alone = &**conn;
    if ((*conn)->broken()) {
      fresh = pool_.Acquire(p->deadline);
      if (!fresh.ok()) {
        p->written = fresh.status();
        continue;
      }
      alone = &**fresh;
    }
    if (absl::Status one = WriteTogether(*alone, {p}, p->deadline); !one.ok()) p->written = one;
  }
}

absl::StatusOr<CreateResult> PgOrderRepository::CreateOrder(
    const IdempotencyScope& scope, const orders::v1::CreateOrderRequest& request,
    int64_t amount_cents, absl::Time deadline) {
  auto id = ReserveOrderId(deadline);
  if (!id.ok()) return id.status();

  // The answer, complete before the statement that stores it.
  const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  CreateResult result;
  Order* order = result.response.mutable_order();
  order->set_id(*id);
  order->set_customer_id(request.customer_id());
  *order->mutable_items() = request.items();
  order->set_amount_cents(amount_cents);
  order->set_currency(request.currency());
  order->set_status(orders::v1::ORDER_STATUS_CREATED);
  order->set_payment_method(request.payment_method());
  *order->mutable_create_time() = FromMicros(absl::ToUnixMicros(now));
  *order->mutable_update_time() = order->create_time();

  PendingCreate pending{
      .tenant = scope.tenant,
      .method = scope.method,
      .key = scope.key,
      .fingerprint = scope.fingerprint,
      .response = result.response.SerializeAsString(),
      .order_id = *id,
      .customer_id = request.customer_id(),
      .currency = request.currency(),
      .payment_method = request.payment_method(),
      .amount_cents = amount_cents,
      .created_at = absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", now, absl::UTCTimeZone()),
      .deadline = deadline};
  for (const auto& item : request.items()) {
    pending.skus.push_back(item.sku());
    pending.quantities.push_back(item.quantity());
    pending.prices.push_back(item.unit_price_cents());
  }
  common::Failpoint("order_before_commit");
  batcher_.Submit(pending);
  if (!pending.written.ok()) return common::KeyInUseIfLocked(pending.written.status());
  if (*pending.written) {
    common::Failpoint("order_after_commit");
    return result;
  }
  // The key was used before (we waited for that request to finish): replay or refuse. The
  // statement usually read the stored answer already; if the first request committed after the
  // statement's snapshot, it is read now.
  absl::StatusOr<std::string> stored;
  if (pending.stored) {
    stored = common::ReplayOrRefuse(pending.stored->fingerprint, scope.fingerprint,
                                    pending.stored->response);
  } else {
    auto conn = pool_.Acquire(deadline);
    if (!conn.ok()) return conn.status();
    stored = StoredResponseFor(**conn, scope);
  }
  if (!stored.ok()) return stored.status();
  CreateResult replay;
  replay.replayed = true;
  if (!replay.response.ParseFromString(*stored)) {
    return absl::InternalError("stored response is unreadable");
  }
  return replay;
}

absl::StatusOr<Order> PgOrderRepository::GetOrder(const std::string& tenant, int64_t id) {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kGetOrder, {tenant, id});
  if (!rows.ok()) return rows.status();
  if (rows->rows() == 0) {
    return common::ErrorWithReason(absl::StatusCode::kNotFound, "ORDER_NOT_FOUND",
                                   absl::StrCat("no order ", id));
  }
  Order order = OrderFromRow(*rows, 0);
  if (absl::Status s = AttachItems(**conn, {&order}); !s.ok()) return s;
  return order;
}

absl::StatusOr<OrderPage> PgOrderRepository::ListOrders(const std::string& tenant,
                                                        const ListQuery& query) {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  // One row more than asked tells whether another page exists.
  auto rows = (*conn)->Exec(kListOrders, {tenant, query.customer_id, static_cast<int>(query.status),
                                          query.before_id, query.page_size + 1});
  if (!rows.ok()) return rows.status();
  OrderPage page;
  const int n = std::min(rows->rows(), query.page_size);
  for (int row = 0; row < n; ++row) page.orders.push_back(OrderFromRow(*rows, row));
  if (rows->rows() > query.page_size) page.next_before_id = page.orders.back().id();
  std::vector<Order*> ptrs;
  for (auto& o : page.orders) ptrs.push_back(&o);
  if (absl::Status s = AttachItems(**conn, ptrs); !s.ok()) return s;
  return page;
}

}  // namespace orders

namespace orders {

absl::StatusOr<CancelResult> PgOrderRepository::CancelOrder(const IdempotencyScope& scope,
                                                            int64_t id, const std::string& reason,
                                                            absl::Time deadline) {
  auto conn = pool_.Acquire(deadline);
  if (!conn.ok()) return conn.status();
  pg::Transaction tx(**conn);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  if (absl::Status s = pg::SetLocalTimeouts(**conn, deadline); !s.ok()) return s;
  auto claim = ClaimKey(**conn, scope, deadline);
  if (!claim.ok()) return claim.status();
  CancelResult result;
  if (claim->has_value()) {
    result.replayed = true;
    if (!result.response.ParseFromString(**claim)) {
      return absl::InternalError("stored response is unreadable");
    }
    return result;
  }
  // Errors below roll the key back: they are deterministic, a retry gets them again.
  auto locked = (*conn)->Exec(kLockOrder, {scope.tenant, id});
  if (!locked.ok()) return locked.status();
  if (locked->rows() == 0) {
    return common::ErrorWithReason(absl::StatusCode::kNotFound, "ORDER_NOT_FOUND",
                                   absl::StrCat("no order ", id));
  }
  if (locked->Int(0, 0) == orders::v1::ORDER_STATUS_CANCELLED) {
    return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition, "ORDER_ALREADY_CANCELLED",
                                   absl::StrCat("order ", id, " was already cancelled"));
  }
  auto cancelled = (*conn)->Exec(kCancel, {scope.tenant, id, reason});
  if (!cancelled.ok()) return cancelled.status();
  Order* order = result.response.mutable_order();
  *order = OrderFromRow(*cancelled, 0);
  if (absl::Status s = AttachItems(**conn, {order}); !s.ok()) return s;
  if (absl::Status s = StoreResponse(**conn, scope, result.response, id); !s.ok()) return s;
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  return result;
}

absl::StatusOr<Order> PgOrderRepository::SetShippingAddress(
    const std::string& tenant, int64_t id, const orders::v1::ShippingAddress& address) {
  {
    auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
    if (!conn.ok()) return conn.status();
    auto updated =
        (*conn)->Exec(kSetAddress, {tenant, id, pg::Param::Bytes(address.SerializeAsString())});
    if (!updated.ok()) return updated.status();
    if (updated->affected() == 0) {
      auto order = GetOrder(tenant, id);  // NOT_FOUND, or it is cancelled
      if (!order.ok()) return order.status();
      return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition,
                                     "ORDER_ALREADY_CANCELLED",
                                     absl::StrCat("order ", id, " is cancelled"));
    }
  }
  return GetOrder(tenant, id);
}

}  // namespace orders

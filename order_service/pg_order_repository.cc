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
#include "common/failpoint_names.h"
#include "common/idempotency.h"
#include "common/pg/connection.h"
#include "common/pg/sql_state.h"
#include "common/pg/timeouts.h"
#include "google/protobuf/util/time_util.h"
#include "order_service/order_sql.h"

namespace orders {
namespace {

using orders::v1::Order;

const int kCancelled = StoredStatus(orders::v1::ORDER_STATUS_CANCELLED);

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
  order.set_status(OrderStatusFromStored(r.Int(row, 5)));
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
  auto items = conn.Exec(sql::kOrderItems, {pg::ArrayLiteral(ids)});
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
  auto stored = conn.Exec(sql::kStoredResponse, {scope.tenant, scope.method, scope.key});
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
  auto claimed = conn.Exec(
      sql::kClaimKey, {scope.tenant, scope.method, scope.key, pg::Param::Bytes(scope.fingerprint),
                       pg::DeadlineTimeout(deadline)});
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
      conn.Exec(sql::kStoreResponse, {scope.tenant, scope.method, scope.key,
                                      pg::Param::Bytes(response.SerializeAsString()), order_id});
  return stored.status();
}

// The order `id` of `tenant` with its items; NOT_FOUND ORDER_NOT_FOUND when there is none.
absl::StatusOr<Order> ReadOrder(pg::Connection& conn, const std::string& tenant, int64_t id) {
  auto rows = conn.Exec(sql::kGetOrder, {tenant, id});
  if (!rows.ok()) return rows.status();
  if (rows->rows() == 0) {
    return OrderNotFoundError(id);
  }
  Order order = OrderFromRow(*rows, 0);
  if (absl::Status s = AttachItems(conn, {&order}); !s.ok()) return s;
  return order;
}

}  // namespace

PendingCreate PgOrderRepository::Pending(const std::string& tenant,
                                         const orders::v1::CreateOrderRequest& request,
                                         int64_t amount_cents, int64_t id, absl::Time created) {
  PendingCreate pending;
  pending.tenant = tenant;
  pending.order_id = id;
  pending.customer_id = request.customer_id();
  pending.currency = request.currency();
  pending.payment_method = request.payment_method();
  pending.amount_cents = amount_cents;
  pending.created_at = absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", created, absl::UTCTimeZone());
  for (const auto& item : request.items()) {
    pending.skus.push_back(item.sku());
    pending.quantities.push_back(item.quantity());
    pending.prices.push_back(item.unit_price_cents());
  }
  return pending;
}

absl::Status PgOrderRepository::ExecCreate(pg::Connection& conn,
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
  auto rows = conn.Exec(
      sql::kCreateOrder,
      {pg::DeadlineTimeout(deadline), pg::ArrayLiteral(tenants), pg::ArrayLiteral(methods),
       pg::ArrayLiteral(keys), pg::ArrayLiteral(fingerprints), pg::ArrayLiteral(responses),
       pg::ArrayLiteral(ids), pg::ArrayLiteral(customers), pg::ArrayLiteral(currencies),
       pg::ArrayLiteral(amounts), pg::ArrayLiteral(payment_methods), pg::ArrayLiteral(created),
       pg::ArrayLiteral(item_orders), pg::ArrayLiteral(item_lines), pg::ArrayLiteral(skus),
       pg::ArrayLiteral(quantities), pg::ArrayLiteral(prices),
       StoredStatus(orders::v1::ORDER_STATUS_CREATED)});
  if (!rows.ok()) return rows.status();
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
  auto conn = pool_.Acquire(pg::WaitDeadline(deadline));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(sql::kReserveOrderIds, {kIdBlock});
  if (!rows.ok()) return rows.status();
  const int64_t first = rows->Int(0, 0);
  absl::MutexLock lock(&ids_mu_);
  for (int64_t id = first + 1; id < first + kIdBlock; ++id) reserved_ids_.push_back(id);
  return first;
}

absl::Status PgOrderRepository::WriteTogether(pg::Connection& conn,
                                              const std::vector<PendingCreate*>& batch,
                                              absl::Time deadline) {
  // Its own transaction, so the caller's remaining time bounds the statement
  // (statement_timeout is read when a statement starts: set in the statement itself it would
  // only bound the next one) and never outlives it on a pooled connection.
  pg::Transaction tx(conn);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  if (absl::Status s = pg::SetLocalTimeouts(conn, deadline); !s.ok()) return s;
  if (absl::Status s = ExecCreate(conn, batch, deadline); !s.ok()) return s;
  return tx.Commit();
}

void PgOrderRepository::WriteBatch(const std::vector<PendingCreate*>& batch) {
  absl::Time deadline = batch.front()->deadline;
  for (const PendingCreate* p : batch) deadline = std::min(deadline, p->deadline);
  auto conn = pool_.Acquire(pg::WaitDeadline(deadline));
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
      fresh = pool_.Acquire(pg::WaitDeadline(p->deadline));
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

  PendingCreate pending = Pending(scope.tenant, request, amount_cents, *id, now);
  pending.method = scope.method;
  pending.key = scope.key;
  pending.fingerprint = scope.fingerprint;
  pending.response = result.response.SerializeAsString();
  pending.deadline = deadline;
  common::Failpoint(common::failpoints::kOrderBeforeCommit);
  batcher_.Submit(pending);
  if (!pending.written.ok()) return common::KeyInUseIfLocked(pending.written.status());
  if (*pending.written) {
    common::Failpoint(common::failpoints::kOrderAfterCommit);
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
    auto conn = pool_.Acquire(pg::WaitDeadline(deadline));
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

absl::StatusOr<Order> PgOrderRepository::GetOrder(const std::string& tenant, int64_t id,
                                                  absl::Time deadline) {
  auto tx = pg::DeadlineTransaction::Begin(pool_, deadline);
  if (!tx.ok()) return tx.status();
  return ReadOrder((*tx)->conn(), tenant, id);
}

absl::StatusOr<OrderPage> PgOrderRepository::ListOrders(const std::string& tenant,
                                                        const ListQuery& query,
                                                        absl::Time deadline) {
  auto tx = pg::DeadlineTransaction::Begin(pool_, deadline);
  if (!tx.ok()) return tx.status();
  pg::Connection& conn = (*tx)->conn();
  // One row more than asked tells whether another page exists.
  auto rows = conn.Exec(sql::kListOrders, {tenant, query.customer_id, StoredStatus(query.status),
                                           query.before_id, query.page_size + 1});
  if (!rows.ok()) return rows.status();
  OrderPage page;
  const int n = std::min(rows->rows(), query.page_size);
  for (int row = 0; row < n; ++row) page.orders.push_back(OrderFromRow(*rows, row));
  if (rows->rows() > query.page_size) page.next_before_id = page.orders.back().id();
  std::vector<Order*> ptrs;
  for (auto& o : page.orders) ptrs.push_back(&o);
  if (absl::Status s = AttachItems(conn, ptrs); !s.ok()) return s;
  return page;
}

}  // namespace orders

namespace orders {

absl::StatusOr<CancelResult> PgOrderRepository::CancelOrder(const IdempotencyScope& scope,
                                                            int64_t id, const std::string& reason,
                                                            absl::Time deadline) {
  auto conn = pool_.Acquire(pg::WaitDeadline(deadline));
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
  auto locked = (*conn)->Exec(sql::kLockOrder, {scope.tenant, id});
  if (!locked.ok()) return locked.status();
  if (locked->rows() == 0) {
    return OrderNotFoundError(id);
  }
  if (OrderStatusFromStored(locked->Int(0, 0)) == orders::v1::ORDER_STATUS_CANCELLED) {
    return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition, "ORDER_ALREADY_CANCELLED",
                                   absl::StrCat("order ", id, " was already cancelled"));
  }
  auto cancelled = (*conn)->Exec(sql::kCancelOrder, {scope.tenant, id, reason, kCancelled});
  if (!cancelled.ok()) return cancelled.status();
  Order* order = result.response.mutable_order();
  *order = OrderFromRow(*cancelled, 0);
  if (absl::Status s = AttachItems(**conn, {order}); !s.ok()) return s;
  if (absl::Status s = StoreResponse(**conn, scope, result.response, id); !s.ok()) return s;
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  return result;
}

absl::StatusOr<Order> PgOrderRepository::SetShippingAddress(
    const std::string& tenant, int64_t id, const orders::v1::ShippingAddress& address,
    absl::Time deadline) {
  auto tx = pg::DeadlineTransaction::Begin(pool_, deadline);
  if (!tx.ok()) return tx.status();
  pg::Connection& conn = (*tx)->conn();
  auto updated = conn.Exec(sql::kSetAddress,
                           {tenant, id, pg::Param::Bytes(address.SerializeAsString()), kCancelled});
  if (!updated.ok()) return updated.status();
  auto order = ReadOrder(conn, tenant, id);  // NOT_FOUND when nothing was updated for want of it
  if (!order.ok()) return order.status();
  if (updated->affected() == 0) {
    return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition, "ORDER_ALREADY_CANCELLED",
                                   absl::StrCat("order ", id, " is cancelled"));
  }
  if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
  return order;
}

}  // namespace orders

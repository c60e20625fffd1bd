#include "order_service/memory_order_repository.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/currency.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "google/protobuf/util/time_util.h"

namespace orders {

absl::StatusOr<std::optional<std::string>> MemoryOrderRepository::ClaimKey(
    const IdempotencyScope& scope) {
  auto it = keys_.find(std::make_tuple(scope.tenant, scope.method, scope.key));
  if (it == keys_.end()) return std::nullopt;
  absl::StatusOr<std::string> stored =
      common::ReplayOrRefuse(it->second.fingerprint, scope.fingerprint, it->second.response);
  if (!stored.ok()) return stored.status();
  return std::optional<std::string>(*std::move(stored));
}

// The protocol of common/idempotency.h on the in-memory key table: the mutex stands in for the
// transaction and the key's row lock, so no request with the same key is ever still running.
template <typename Result, typename Write>
absl::StatusOr<Result> MemoryOrderRepository::KeyedWriteLocked(const IdempotencyScope& scope,
                                                               Write write) {
  Result result;
  auto claim = ClaimKey(scope);
  if (!claim.ok()) return claim.status();
  if (claim->has_value()) {
    result.replayed = true;
    result.response.ParseFromString(**claim);
    return result;
  }
  absl::Status written = write(result.response);
  if (!written.ok()) return written;
  keys_[std::make_tuple(scope.tenant, scope.method, scope.key)] = {
      scope.fingerprint, result.response.SerializeAsString()};
  return result;
}

absl::StatusOr<CreateResult> MemoryOrderRepository::CreateOrder(
    const IdempotencyScope& scope, const orders::v1::CreateOrderRequest& request,
    int64_t amount_cents, absl::Time) {
  absl::MutexLock lock(&mu_);
  return KeyedWriteLocked<CreateResult>(scope,
                                        [&](orders::v1::CreateOrderResponse& response)
                                            ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
                                              auto order =
                                                  InsertLocked(scope.tenant, request, amount_cents);
                                              if (!order.ok()) return order.status();
                                              *response.mutable_order() = *order;
                                              return absl::OkStatus();
                                            });
}

absl::StatusOr<orders::v1::Order> MemoryOrderRepository::InsertLocked(
    const std::string& tenant, const orders::v1::CreateOrderRequest& request,
    int64_t amount_cents) {
  orders::v1::Order stored;
  orders::v1::Order* order = &stored;
  order->set_id(next_id_++);
  order->set_customer_id(request.customer_id());
  *order->mutable_items() = request.items();
  order->set_amount_cents(amount_cents);
  order->set_currency(request.currency());
  order->set_status(orders::v1::ORDER_STATUS_CREATED);
  order->set_payment_method(request.payment_method());
  *order->mutable_create_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  *order->mutable_update_time() = order->create_time();
  orders_[order->id()] = {tenant, *order};
  outbox_.emplace_back("CHARGE", ChargeKeyForOrder(deployment_, order->id()));
  return stored;
}

absl::StatusOr<orders::v1::Order> MemoryOrderRepository::GetOrder(const std::string& tenant,
                                                                  int64_t id,
                                                                  absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  StoredOrder* found = FindLocked(tenant, id);
  if (found == nullptr) return OrderNotFoundError(id);
  return found->order;
}

absl::StatusOr<OrderPage> MemoryOrderRepository::ListOrders(const std::string& tenant,
                                                            const ListQuery& query,
                                                            absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  OrderPage page;
  for (auto it = orders_.rbegin(); it != orders_.rend(); ++it) {
    const auto& [id, stored] = *it;
    if (stored.tenant != tenant) continue;
    if (query.before_id != 0 && id >= query.before_id) continue;
    if (!query.customer_id.empty() && stored.order.customer_id() != query.customer_id) continue;
    if (query.status != orders::v1::ORDER_STATUS_UNSPECIFIED &&
        stored.order.status() != query.status) {
      continue;
    }
    if (static_cast<int>(page.orders.size()) == query.page_size) {
      page.next_before_id = page.orders.back().id();
      break;
    }
    page.orders.push_back(stored.order);
  }
  return page;
}

absl::StatusOr<CancelResult> MemoryOrderRepository::CancelOrder(const IdempotencyScope& scope,
                                                                int64_t id,
                                                                const std::string& reason,
                                                                absl::Time) {
  absl::MutexLock lock(&mu_);
  return KeyedWriteLocked<CancelResult>(
      scope,
      [&](orders::v1::CancelOrderResponse& response)
          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
            StoredOrder* found = FindLocked(scope.tenant, id);
            if (found == nullptr) return OrderNotFoundError(id);
            orders::v1::Order& order = found->order;
            if (order.status() == orders::v1::ORDER_STATUS_CANCELLED) {
              return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition,
                                             "ORDER_ALREADY_CANCELLED",
                                             absl::StrCat("order ", id, " was already cancelled"));
            }
            order.set_status(orders::v1::ORDER_STATUS_CANCELLED);
            order.set_cancel_reason(reason);
            *response.mutable_order() = order;
            outbox_.emplace_back("REFUND", RefundKeyForOrder(deployment_, id));
            return absl::OkStatus();
          });
}

absl::StatusOr<orders::v1::Order> MemoryOrderRepository::SetShippingAddress(
    const std::string& tenant, int64_t id, const orders::v1::ShippingAddress& address,
    absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  StoredOrder* found = FindLocked(tenant, id);
  if (found == nullptr) return OrderNotFoundError(id);
  if (found->order.status() == orders::v1::ORDER_STATUS_CANCELLED) {
    return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition, "ORDER_ALREADY_CANCELLED",
                                   absl::StrCat("order ", id, " is cancelled"));
  }
  *found->order.mutable_shipping_address() = address;
  return found->order;
}

// The fake projects synchronously: it is always caught up.
absl::StatusOr<orders::v1::OrderAnalytics> MemoryOrderRepository::GetAnalytics(
    const std::string& tenant, const std::string& customer_id, absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  orders::v1::OrderAnalytics a;
  a.set_customer_id(customer_id);
  for (const auto& [id, stored] : orders_) {
    const auto& o = stored.order;
    if (stored.tenant != tenant || o.customer_id() != customer_id) continue;
    a.set_order_count(a.order_count() + 1);
    // Orders here are never charged (no relay); a PAID one, should a test make one, counts as
    // paid. Money per currency, as the PostgreSQL projection keeps it.
    if (o.status() == orders::v1::ORDER_STATUS_PAID) {
      a.set_paid_count(a.paid_count() + 1);
      common::AddToTotals(a.mutable_paid_totals(), o.currency(), o.amount_cents());
    }
    if (o.status() == orders::v1::ORDER_STATUS_CANCELLED) {
      a.set_cancelled_count(a.cancelled_count() + 1);
      common::AddToTotals(a.mutable_cancelled_totals(), o.currency(), o.amount_cents());
    }
  }
  // Caught up: every event committed so far is counted (the watermark is the read's time).
  *a.mutable_as_of() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  FillDeprecatedAmounts(a);
  return a;
}

absl::StatusOr<ImportChunkResult> MemoryOrderRepository::PutImportChunk(
    const std::string& tenant, const orders::v1::PutImportChunkRequest& request,
    const std::string& fingerprint,
    const google::protobuf::RepeatedPtrField<orders::v1::MoneyTotal>& totals, absl::Time) {
  absl::MutexLock lock(&mu_);
  auto name = std::make_tuple(tenant, request.import_id(), request.chunk_index());
  ImportChunkResult result;
  auto commit = commits_.find({tenant, request.import_id()});
  // Only a chunk the commit created may replay after it: any other answer of OK would claim
  // orders that will never exist.
  const bool committed = commit != commits_.end();
  const bool in_commit = committed && request.chunk_index() < commit->second.first;
  if (auto it = chunks_.find(name); it != chunks_.end()) {
    if (it->second.fingerprint != fingerprint) {
      return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition, "IMPORT_CHUNK_REUSED",
                                     "chunk already stored with different orders");
    }
    if (!committed || in_commit) {
      result.chunk = it->second.response;
      result.replayed = true;
      return result;
    }
  }
  if (committed) {
    return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition,
                                   "IMPORT_ALREADY_COMMITTED", "import already committed",
                                   {{"import_id", request.import_id()}});
  }
  result.chunk.set_import_id(request.import_id());
  result.chunk.set_chunk_index(request.chunk_index());
  result.chunk.set_order_count(request.orders_size());
  *result.chunk.mutable_totals() = totals;
  FillDeprecatedAmounts(result.chunk);
  chunks_[name] = {fingerprint, request, result.chunk};
  return result;
}

absl::StatusOr<ImportCommitResult> MemoryOrderRepository::CommitImport(const std::string& tenant,
                                                                       const std::string& import_id,
                                                                       int chunk_count,
                                                                       absl::Time) {
  absl::MutexLock lock(&mu_);
  ImportCommitResult result;
  if (auto it = commits_.find({tenant, import_id}); it != commits_.end()) {
    if (it->second.first != chunk_count) {
      return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition,
                                     "IMPORT_ALREADY_COMMITTED", "import already committed",
                                     {{"import_id", import_id}});
    }
    result.summary = it->second.second;
    result.replayed = true;
    return result;
  }
  // A chunk the commit would leave out would have been answered OK and then ignored.
  std::vector<int> extra;
  for (auto it = chunks_.lower_bound({tenant, import_id, chunk_count});
       it != chunks_.end() && std::get<0>(it->first) == tenant &&
       std::get<1>(it->first) == import_id && extra.size() < 20;
       ++it) {
    extra.push_back(std::get<2>(it->first));
  }
  if (!extra.empty()) {
    return common::ErrorWithReason(
        absl::StatusCode::kFailedPrecondition, "IMPORT_EXTRA_CHUNKS",
        absl::StrCat("import ", import_id, " holds chunks at index ", chunk_count,
                     " or above; commit them all or use a new import_id"),
        {{"extra_chunks", absl::StrJoin(extra, ",")}});
  }
  std::vector<int> missing;
  for (int i = 0; i < chunk_count && missing.size() < 20; ++i) {
    if (!chunks_.contains({tenant, import_id, i})) missing.push_back(i);
  }
  if (!missing.empty()) {
    return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition, "IMPORT_INCOMPLETE",
                                   absl::StrCat("import ", import_id, " misses chunks"),
                                   {{"missing_chunks", absl::StrJoin(missing, ",")}});
  }
  auto& summary = result.summary;
  summary.set_import_id(import_id);
  summary.set_chunk_count(chunk_count);
  // Ids come from next_id_ under mu_, so the import's orders get consecutive ones.
  for (int i = 0; i < chunk_count; ++i) {
    for (const auto& request : chunks_[{tenant, import_id, i}].request.orders()) {
      int64_t amount = 0;
      for (const auto& item : request.items()) amount += item.quantity() * item.unit_price_cents();
      auto order = InsertLocked(tenant, request, amount);
      if (summary.first_order_id() == 0) summary.set_first_order_id(order->id());
      summary.set_last_order_id(order->id());
      summary.set_order_count(summary.order_count() + 1);
      common::AddToTotals(summary.mutable_totals(), request.currency(), amount);
    }
  }
  FillDeprecatedAmounts(summary);
  commits_[{tenant, import_id}] = {chunk_count, summary};
  return result;
}

std::vector<std::pair<std::string, std::string>> MemoryOrderRepository::OutboxEvents() const {
  absl::MutexLock lock(&mu_);
  return outbox_;
}

}  // namespace orders

// PgOrderRepository's imports (named chunks, then one commit that creates their orders: seed 003,
// pattern 4) and the analytics projection's read side. Statements: order_sql.h.

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/currency.h"
#include "common/errors.h"
#include "common/pg/connection.h"
#include "common/pg/sql_state.h"
#include "common/pg/timeouts.h"
#include "google/protobuf/util/time_util.h"
#include "order_service/order_sql.h"
#include "order_service/pg_order_repository.h"
#include "order_service/validation.h"

namespace orders {
namespace {

absl::Status AlreadyCommitted(const std::string& import_id) {
  return common::ErrorWithReason(absl::StatusCode::kFailedPrecondition, "IMPORT_ALREADY_COMMITTED",
                                 absl::StrCat("import ", import_id, " was already committed"),
                                 {{"import_id", import_id}});
}

// The import's lock could not be taken before the deadline: a commit of it is running.
absl::Status LockFailed(const absl::Status& status) {
  if (pg::SqlStateOf(status) != pg::sql_state::kLockNotAvailable) return status;
  return common::WithRetryDelay(
      common::ErrorWithReason(absl::StatusCode::kAborted, "IMPORT_COMMIT_IN_PROGRESS",
                              "this import is being committed; retry"),
      absl::Seconds(1));
}

}  // namespace

absl::StatusOr<orders::v1::OrderAnalytics> PgOrderRepository::GetAnalytics(
    const std::string& tenant, const std::string& customer_id, absl::Time deadline) {
  auto tx = pg::DeadlineTransaction::Begin(pool_, deadline);
  if (!tx.ok()) return tx.status();
  auto rows = (*tx)->conn().Exec(sql::kGetAnalytics, {tenant, customer_id});
  if (!rows.ok()) return rows.status();
  orders::v1::OrderAnalytics a;
  a.set_customer_id(customer_id);
  if (rows->rows() == 0) return absl::InternalError("analytics read returned no row");
  *a.mutable_as_of() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(rows->Int(0, 5));
  if (rows->IsNull(0, 0)) return a;  // nothing projected for this customer yet
  a.set_order_count(rows->Int(0, 0));
  a.set_paid_count(rows->Int(0, 1));
  a.set_payment_failed_count(rows->Int(0, 2));
  a.set_cancelled_count(rows->Int(0, 3));
  a.set_events_applied(rows->Int(0, 4));
  for (int row = 0; row < rows->rows(); ++row) {
    if (rows->IsNull(row, 6)) continue;
    const absl::string_view currency = rows->Text(row, 6);
    common::AddToTotals(a.mutable_paid_totals(), currency, rows->Int(row, 7));
    common::AddToTotals(a.mutable_cancelled_totals(), currency, rows->Int(row, 8));
  }
  FillDeprecatedAmounts(a);
  return a;
}

absl::StatusOr<ImportChunkResult> PgOrderRepository::PutImportChunk(
    const std::string& tenant, const orders::v1::PutImportChunkRequest& request,
    const std::string& fingerprint,
    const google::protobuf::RepeatedPtrField<orders::v1::MoneyTotal>& totals, absl::Time deadline) {
  auto conn = pool_.Acquire(pg::WaitDeadline(deadline));
  if (!conn.ok()) return conn.status();
  ImportChunkResult result;
  result.chunk.set_import_id(request.import_id());
  result.chunk.set_chunk_index(request.chunk_index());
  result.chunk.set_order_count(request.orders_size());
  *result.chunk.mutable_totals() = totals;
  FillDeprecatedAmounts(result.chunk);
  pg::Transaction tx(**conn);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  if (absl::Status s = pg::SetLocalTimeouts(**conn, deadline); !s.ok()) return s;
  auto locked = (*conn)->Exec(sql::kLockImportShared,
                              {tenant, request.import_id(), pg::DeadlineTimeout(deadline)});
  if (!locked.ok()) return LockFailed(locked.status());
  auto committed = (*conn)->Exec(sql::kImportCommitted, {tenant, request.import_id()});
  if (!committed.ok()) return committed.status();
  if (committed->rows() == 0) {
    auto inserted =
        (*conn)->Exec(sql::kPutChunk,
                      {tenant, request.import_id(), request.chunk_index(),
                       pg::Param::Bytes(fingerprint), pg::Param::Bytes(request.SerializeAsString()),
                       pg::Param::Bytes(result.chunk.SerializeAsString())});
    if (!inserted.ok()) return inserted.status();
    if (inserted->rows() == 1) {
      if (absl::Status s = tx.Commit(); !s.ok()) return s;
      return result;
    }
  }
  auto stored = (*conn)->Exec(sql::kGetChunk, {tenant, request.import_id(), request.chunk_index()});
  if (!stored.ok()) return stored.status();
  if (stored->rows() == 0) return AlreadyCommitted(request.import_id());
  if (stored->Bytes(0, 0) != fingerprint) {
    return common::ErrorWithReason(
        absl::StatusCode::kFailedPrecondition, "IMPORT_CHUNK_REUSED",
        absl::StrCat("chunk ", request.chunk_index(), " of import ", request.import_id(),
                     " was already stored with different orders"));
  }
  // Only a chunk the commit created may replay after it: OK for any other would claim orders
  // that will never exist.
  if (committed->rows() == 1 && request.chunk_index() >= committed->Int(0, 0)) {
    return AlreadyCommitted(request.import_id());
  }
  result.replayed = true;
  result.chunk.ParseFromString(stored->Bytes(0, 1));
  return result;
}

absl::StatusOr<ImportCommitResult> PgOrderRepository::CommitImport(const std::string& tenant,
                                                                   const std::string& import_id,
                                                                   int chunk_count,
                                                                   absl::Time deadline) {
  auto conn = pool_.Acquire(pg::WaitDeadline(deadline));
  if (!conn.ok()) return conn.status();
  pg::Transaction tx(**conn);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  auto locked = (*conn)->Exec(sql::kLockImport, {tenant, import_id, pg::DeadlineTimeout(deadline)});
  if (!locked.ok()) return LockFailed(locked.status());
  auto claimed = (*conn)->Exec(sql::kClaimCommit, {tenant, import_id, chunk_count});
  if (!claimed.ok()) return claimed.status();
  ImportCommitResult result;
  if (claimed->rows() == 0) {
    auto stored = (*conn)->Exec(sql::kStoredCommit, {tenant, import_id});
    if (!stored.ok()) return stored.status();
    if (stored->rows() == 0 || stored->Int(0, 0) != chunk_count) return AlreadyCommitted(import_id);
    result.replayed = true;
    result.summary.ParseFromString(stored->Bytes(0, 1));
    return result;
  }
  // A chunk this commit would leave out was answered OK: it must be committed, not ignored.
  auto extra = (*conn)->Exec(sql::kExtraChunks, {tenant, import_id, chunk_count});
  if (!extra.ok()) return extra.status();
  if (extra->rows() > 0) {
    std::vector<int64_t> indexes;
    for (int row = 0; row < extra->rows(); ++row) indexes.push_back(extra->Int(row, 0));
    return common::ErrorWithReason(
        absl::StatusCode::kFailedPrecondition, "IMPORT_EXTRA_CHUNKS",
        absl::StrCat("import ", import_id, " holds chunks at index ", chunk_count,
                     " or above; commit them all or use a new import_id"),
        {{"extra_chunks", absl::StrJoin(indexes, ",")}});
  }
  auto chunks = (*conn)->Exec(sql::kImportChunks, {tenant, import_id, chunk_count});
  if (!chunks.ok()) return chunks.status();
  if (chunks->rows() != chunk_count) {
    std::vector<int> missing;
    for (int i = 0, row = 0; i < chunk_count && missing.size() < 20; ++i) {
      if (row < chunks->rows() && chunks->Int(row, 0) == i) {
        ++row;
      } else {
        missing.push_back(i);
      }
    }
    return common::ErrorWithReason(
        absl::StatusCode::kFailedPrecondition, "IMPORT_INCOMPLETE",
        absl::StrCat("import ", import_id, " has ", chunks->rows(), " of ", chunk_count, " chunks"),
        {{"missing_chunks", absl::StrJoin(missing, ",")}});
  }
  orders::v1::ImportSummary& summary = result.summary;
  summary.set_import_id(import_id);
  summary.set_chunk_count(chunk_count);
  // Every chunk is read before any id is taken: the count sizes the import's block of ids.
  std::vector<orders::v1::PutImportChunkRequest> parsed(chunks->rows());
  int64_t order_count = 0;
  for (int row = 0; row < chunks->rows(); ++row) {
    if (!parsed[row].ParseFromString(chunks->Bytes(row, 1))) {
      return absl::InternalError("stored import chunk is unreadable");
    }
    order_count += parsed[row].orders_size();
  }
  auto first_id = (*conn)->Exec(sql::kReserveOrderIds, {order_count});
  if (!first_id.ok()) return first_id.status();
  int64_t next_id = first_id->Int(0, 0);
  summary.set_first_order_id(next_id);
  // The orders go through CreateOrder's own write, all in one statement (one round trip). They
  // take no idempotency key: the import's commit record (kClaimCommit) makes them once-only.
  const absl::Time created = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  std::vector<PendingCreate> orders;
  orders.reserve(order_count);
  for (const auto& chunk : parsed) {
    for (const auto& request : chunk.orders()) {
      auto amount = ValidateCreateOrder(request);
      if (!amount.ok()) return amount.status();
      orders.push_back(Pending(tenant, request, *amount, next_id++, created));
      summary.set_order_count(summary.order_count() + 1);
      common::AddToTotals(summary.mutable_totals(), request.currency(), *amount);
    }
  }
  std::vector<PendingCreate*> batch;
  for (PendingCreate& order : orders) batch.push_back(&order);
  if (!batch.empty()) {
    if (absl::Status s = ExecCreate(**conn, batch, deadline); !s.ok()) return s;
  }
  for (const PendingCreate* order : batch) {
    if (!order->written.ok()) return order->written.status();
    if (!*order->written) return absl::InternalError("an imported order was not written");
  }
  summary.set_last_order_id(next_id - 1);
  FillDeprecatedAmounts(summary);
  *summary.mutable_commit_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  auto stored = (*conn)->Exec(sql::kStoreSummary,
                              {tenant, import_id, pg::Param::Bytes(summary.SerializeAsString())});
  if (!stored.ok()) return stored.status();
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  return result;
}

}  // namespace orders

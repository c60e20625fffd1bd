#include "order_service/pg_outbox_store.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pg/connection.h"
#include "common/pg/queue_scan.h"
#include "common/pg/timeouts.h"
#include "google/protobuf/util/time_util.h"
#include "order_service/order_sql.h"

namespace orders {
namespace {

// kCompleteEvents's $8 and $9: an order moves only out of CREATED; PAID reports ORDER_PAID.
const int kCreated = StoredStatus(orders::v1::ORDER_STATUS_CREATED);
const int kPaid = StoredStatus(orders::v1::ORDER_STATUS_PAID);

orders::v1::OutboxEventStatus StatusFromText(absl::string_view text) {
  if (text == "PENDING") return orders::v1::OUTBOX_EVENT_STATUS_PENDING;
  if (text == "DONE") return orders::v1::OUTBOX_EVENT_STATUS_DONE;
  if (text == "DEAD") return orders::v1::OUTBOX_EVENT_STATUS_DEAD;
  return orders::v1::OUTBOX_EVENT_STATUS_UNSPECIFIED;
}

const char* TextFromStatus(orders::v1::OutboxEventStatus status) {
  switch (status) {
    case orders::v1::OUTBOX_EVENT_STATUS_PENDING:
      return "PENDING";
    case orders::v1::OUTBOX_EVENT_STATUS_DONE:
      return "DONE";
    case orders::v1::OUTBOX_EVENT_STATUS_DEAD:
      return "DEAD";
    default:
      return "";
  }
}

std::string Seconds(absl::Duration d) { return absl::StrCat(absl::ToDoubleSeconds(d)); }

}  // namespace

absl::StatusOr<std::vector<OutboxEvent>> PgOutboxStore::Claim(const std::string& owner, int limit,
                                                              absl::Duration lease) {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = pg::ExecQueueScan(**conn, sql::kClaimEvents,
                                {owner, limit, Seconds(lease), synchronous_commit_});
  if (!rows.ok()) return rows.status();
  std::vector<OutboxEvent> events;
  for (int r = 0; r < rows->rows(); ++r) {
    OutboxEvent e;
    e.id = rows->Int(r, 0);
    e.aggregate_id = rows->Int(r, 1);
    e.kind = std::string(rows->Text(r, 2));
    e.payment_key = std::string(rows->Text(r, 3));
    e.payload = std::string(rows->Text(r, 4));
    e.attempts = static_cast<int>(rows->Int(r, 5));
    e.since_commit = absl::Microseconds(rows->Int(r, 6));
    e.transient_failures = static_cast<int>(rows->Int(r, 7));
    double age = 0;
    (void)absl::SimpleAtod(rows->Text(r, 8), &age);
    e.age = absl::Seconds(age);
    events.push_back(std::move(e));
  }
  // UPDATE ... RETURNING gives no order; dispatch oldest first.
  std::sort(events.begin(), events.end(),
            [](const OutboxEvent& a, const OutboxEvent& b) { return a.id < b.id; });
  return events;
}

absl::StatusOr<int64_t> PgOutboxStore::ExtendLeases(const std::vector<int64_t>& ids,
                                                    const std::string& owner,
                                                    absl::Duration lease) {
  if (ids.empty()) return 0;
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(sql::kExtendLeases,
                            {pg::ArrayLiteral(ids), owner, Seconds(lease), synchronous_commit_});
  if (!rows.ok()) return rows.status();
  return rows->affected();
}

absl::StatusOr<std::vector<bool>> PgOutboxStore::CompleteAll(
    const std::vector<Completion>& completions, const std::string& owner) {
  if (completions.empty()) return std::vector<bool>{};
  std::vector<int64_t> ids, attempts, statuses, charge_ids;
  std::vector<std::string> reasons;
  for (const Completion& c : completions) {
    ids.push_back(c.event->id);
    attempts.push_back(c.event->attempts);
    statuses.push_back(StoredStatus(c.outcome.order_status));
    charge_ids.push_back(c.outcome.charge_id);
    reasons.push_back(c.outcome.decline_reason);
  }
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows =
      (*conn)->Exec(sql::kCompleteEvents,
                    {pg::ArrayLiteral(ids), pg::ArrayLiteral(attempts), pg::ArrayLiteral(statuses),
                     pg::ArrayLiteral(charge_ids), pg::ArrayLiteral(reasons), owner,
                     synchronous_commit_, kCreated, kPaid});
  if (!rows.ok()) return rows.status();
  absl::flat_hash_set<int64_t> finished;
  for (int r = 0; r < rows->rows(); ++r) finished.insert(rows->Int(r, 0));
  std::vector<bool> done;
  for (const Completion& c : completions) done.push_back(finished.contains(c.event->id));
  return done;
}

absl::StatusOr<bool> PgOutboxStore::Reschedule(const OutboxEvent& event, const std::string& owner,
                                               absl::Duration delay, const std::string& error) {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(sql::kRescheduleEvent, {event.id, owner, event.attempts, Seconds(delay),
                                                    error, synchronous_commit_});
  if (!rows.ok()) return rows.status();
  return rows->affected() == 1;
}

absl::StatusOr<bool> PgOutboxStore::Bury(const OutboxEvent& event, const std::string& owner,
                                         const std::string& error) {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows =
      (*conn)->Exec(sql::kBuryEvent, {event.id, owner, event.attempts, error, synchronous_commit_});
  if (!rows.ok()) return rows.status();
  return rows->affected() == 1;
}

}  // namespace orders

namespace orders {

absl::StatusOr<std::vector<orders::v1::OutboxEvent>> PgOutboxStore::List(const OutboxListQuery& q) {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(
      sql::kListEvents, {TextFromStatus(q.status), Seconds(q.min_age), q.after_id, q.page_size});
  if (!rows.ok()) return rows.status();
  std::vector<orders::v1::OutboxEvent> events;
  for (int r = 0; r < rows->rows(); ++r) {
    orders::v1::OutboxEvent e;
    e.set_id(rows->Int(r, 0));
    e.set_order_id(rows->Int(r, 1));
    e.set_kind(std::string(rows->Text(r, 2)));
    e.set_payment_key(std::string(rows->Text(r, 3)));
    e.set_status(StatusFromText(rows->Text(r, 4)));
    e.set_attempts(static_cast<int32_t>(rows->Int(r, 5)));
    e.set_last_error(std::string(rows->Text(r, 6)));
    *e.mutable_create_time() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(rows->Int(r, 7));
    *e.mutable_available_time() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(rows->Int(r, 8));
    e.set_lease_owner(std::string(rows->Text(r, 9)));
    events.push_back(std::move(e));
  }
  return events;
}

absl::StatusOr<int64_t> PgOutboxStore::Requeue(const std::vector<int64_t>& ids) {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(sql::kRequeueDead, {pg::ArrayLiteral(ids)});
  if (!rows.ok()) return rows.status();
  return rows->affected();
}

absl::StatusOr<OutboxCounts> PgOutboxStore::Counts() {
  auto conn = pool_.Acquire(pg::BackgroundDeadline());
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(sql::kOutboxCounts, {});
  if (!rows.ok()) return rows.status();
  OutboxCounts counts;
  counts.pending = rows->Int(0, 0);
  counts.dead = rows->Int(0, 1);
  double age = 0;
  (void)absl::SimpleAtod(rows->Text(0, 2), &age);
  counts.oldest_pending_age = absl::Seconds(age);
  counts.open_attempts = rows->Int(0, 3);
  return counts;
}

}  // namespace orders

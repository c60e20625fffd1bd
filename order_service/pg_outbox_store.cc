#include "order_service/pg_outbox_store.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pg/connection.h"
#include "google/protobuf/util/time_util.h"

namespace orders {
namespace {

// The relay's writes end with `FROM ... <cfg>`: the commit setting for this statement's own
// transaction (see PgOutboxStore's constructor). The last parameter is synchronous_commit_.

// Autocommit statements only: no transaction is ever open while the relay calls payments.
// An order's events run one at a time in id order, but only a PENDING event holds the next one
// back: a REFUND behind a DEAD CHARGE runs (the refund refunds what the charge took, or leaves a
// tombstone that voids it), so per-order ordering never strands money.
constexpr pg::Query kClaim{"outbox_claim", R"sql(
WITH c AS (
  SELECT e.id FROM outbox_events e
  WHERE e.status = 'PENDING' AND e.available_at <= now()
    AND (e.lease_until IS NULL OR e.lease_until < now())
    AND NOT EXISTS (SELECT 1 FROM outbox_events p
                    WHERE p.aggregate_id = e.aggregate_id AND p.id < e.id
                      AND p.status = 'PENDING')
  ORDER BY e.id
  LIMIT $2
  FOR UPDATE SKIP LOCKED)
UPDATE outbox_events e
SET lease_owner = $1, lease_until = now() + make_interval(secs => $3::float8),
    attempts = e.attempts + 1,
    -- The retry window runs from the first attempt (an event may wait behind an earlier one).
    window_start = CASE WHEN e.attempts = 0 THEN now() ELSE e.window_start END
FROM c, (SELECT set_config('synchronous_commit', coalesce(nullif($4, ''), current_setting('synchronous_commit')), true)) cfg WHERE e.id = c.id
RETURNING e.id, e.aggregate_id, e.kind, e.payment_key, e.payload, e.attempts,
          (extract(epoch FROM now() - e.created_at) * 1000000)::bigint, e.transient_failures,
          extract(epoch FROM now() - e.window_start)::float8)sql"};

// The relay's heartbeat while its calls are in flight: the lease follows liveness, so a call
// slower than the lease is not taken over (and repeated) by another relay.
constexpr pg::Query kExtendLeases{"outbox_extend_leases", R"sql(
UPDATE outbox_events
SET lease_until = now() + make_interval(secs => $3::float8)
FROM (SELECT set_config('synchronous_commit', coalesce(nullif($4, ''), current_setting('synchronous_commit')), true)) cfg
WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND status = 'PENDING')sql"};

// Finishing the events and updating their orders happen in one statement, every row fenced on
// its own lease (id, owner, attempts). An order only moves out of CREATED here, so a late
// outcome never overrides a cancel. `id = ANY($1)` gives the planner the primary key; the unnest
// join pairs each id with its attempt and outcome.
constexpr pg::Query kCompleteAll{"outbox_complete_all", R"sql(
WITH input AS (
  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::bigint[], $5::text[])
    AS i(id, attempts, order_status, charge_id, decline_reason)),
done AS (
  UPDATE outbox_events e
  SET status = 'DONE', done_at = clock_timestamp(), lease_owner = NULL, lease_until = NULL,
      last_error = ''
  FROM input i, (SELECT set_config('synchronous_commit', coalesce(nullif($7, ''), current_setting('synchronous_commit')), true)) cfg
  WHERE e.id = ANY($1::bigint[]) AND e.id = i.id AND e.lease_owner = $6
    AND e.attempts = i.attempts AND e.status = 'PENDING'
  RETURNING e.id, e.aggregate_id, i.order_status, i.charge_id, i.decline_reason),
upd AS (
  UPDATE orders
  SET status = done.order_status, charge_id = done.charge_id,
      decline_reason = done.decline_reason, updated_at = now()
  FROM done
  WHERE orders.id = done.aggregate_id AND done.order_status <> 0 AND orders.status = 1
  RETURNING orders.id, orders.tenant, orders.customer_id, orders.amount_cents, orders.status),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT tenant, customer_id, id,
         CASE status WHEN 2 THEN 'ORDER_PAID' ELSE 'ORDER_PAYMENT_FAILED' END, amount_cents
  FROM upd ORDER BY id)
SELECT id FROM done)sql"};

// Only transient answers reschedule; they are counted apart from the attempt budget.
constexpr pg::Query kReschedule{"outbox_reschedule", R"sql(
UPDATE outbox_events
SET lease_owner = NULL, lease_until = NULL, transient_failures = transient_failures + 1,
    available_at = now() + make_interval(secs => $4::float8), last_error = $5
FROM (SELECT set_config('synchronous_commit', coalesce(nullif($6, ''), current_setting('synchronous_commit')), true)) cfg
WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'PENDING')sql"};

constexpr pg::Query kBury{"outbox_bury", R"sql(
UPDATE outbox_events
SET status = 'DEAD', lease_owner = NULL, lease_until = NULL, last_error = $4
FROM (SELECT set_config('synchronous_commit', coalesce(nullif($5, ''), current_setting('synchronous_commit')), true)) cfg
WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'PENDING')sql"};

constexpr pg::Query kList{"outbox_list", R"sql(
SELECT id, aggregate_id, kind, payment_key, status, attempts, last_error,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM available_at) * 1000000)::bigint, coalesce(lease_owner, '')
FROM outbox_events
WHERE ($1 = '' OR status = $1) AND created_at <= now() - make_interval(secs => $2::float8)
  AND id > $3::bigint
ORDER BY id
LIMIT $4)sql"};

constexpr pg::Query kRequeue{"outbox_requeue", R"sql(
UPDATE outbox_events
SET status = 'PENDING', attempts = 0, transient_failures = 0, available_at = now(),
    window_start = now(),
    lease_owner = NULL, lease_until = NULL
WHERE status = 'DEAD' AND (cardinality($1::bigint[]) = 0 OR id = ANY($1::bigint[])))sql"};

constexpr pg::Query kCounts{"outbox_counts", R"sql(
SELECT count(*) FILTER (WHERE status = 'PENDING'),
       count(*) FILTER (WHERE status = 'DEAD'),
       coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'PENDING')), 0),
       coalesce(sum(attempts), 0)
FROM outbox_events WHERE status <> 'DONE')sql"};

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
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kClaim, {owner, limit, Seconds(lease), synchronous_commit_});
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
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kExtendLeases,
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
    statuses.push_back(static_cast<int64_t>(c.outcome.order_status));
    charge_ids.push_back(c.outcome.charge_id);
    reasons.push_back(c.outcome.decline_reason);
  }
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kCompleteAll, {pg::ArrayLiteral(ids), pg::ArrayLiteral(attempts),
                                           pg::ArrayLiteral(statuses), pg::ArrayLiteral(charge_ids),
                                           pg::ArrayLiteral(reasons), owner, synchronous_commit_});
  if (!rows.ok()) return rows.status();
  absl::flat_hash_set<int64_t> finished;
  for (int r = 0; r < rows->rows(); ++r) finished.insert(rows->Int(r, 0));
  std::vector<bool> done;
  for (const Completion& c : completions) done.push_back(finished.contains(c.event->id));
  return done;
}

absl::StatusOr<bool> PgOutboxStore::Reschedule(const OutboxEvent& event, const std::string& owner,
                                               absl::Duration delay, const std::string& error) {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(
      kReschedule, {event.id, owner, event.attempts, Seconds(delay), error, synchronous_commit_});
  if (!rows.ok()) return rows.status();
  return rows->affected() == 1;
}

absl::StatusOr<bool> PgOutboxStore::Bury(const OutboxEvent& event, const std::string& owner,
                                         const std::string& error) {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kBury, {event.id, owner, event.attempts, error, synchronous_commit_});
  if (!rows.ok()) return rows.status();
  return rows->affected() == 1;
}

}  // namespace orders

namespace orders {

absl::StatusOr<std::vector<orders::v1::OutboxEvent>> PgOutboxStore::List(const OutboxListQuery& q) {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows =
      (*conn)->Exec(kList, {TextFromStatus(q.status), Seconds(q.min_age), q.after_id, q.page_size});
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
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kRequeue, {pg::ArrayLiteral(ids)});
  if (!rows.ok()) return rows.status();
  return rows->affected();
}

absl::StatusOr<OutboxCounts> PgOutboxStore::Counts() {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kCounts, {});
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

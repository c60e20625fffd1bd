#include "order_service/analytics_projector.h"

#include <cstdio>

#include "absl/time/clock.h"

namespace orders {
namespace {

// Counts go to customer_analytics; money goes to customer_analytics_money, one row per
// currency, because amounts of two currencies are different units and never one sum (JPY 500 and
// USD 1250 are not 1750 of anything). An event's currency is its order's, which never changes.
constexpr pg::Query kProject{"analytics_project_per_currency", R"sql(
WITH batch AS (
  SELECT id, tenant, customer_id, order_id, kind, amount_cents, created_at FROM order_events
  WHERE NOT projected ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED),
fresh AS (
  INSERT INTO analytics_inbox (event_id) SELECT id FROM batch
  ON CONFLICT DO NOTHING RETURNING event_id),
agg AS (
  SELECT b.tenant, b.customer_id,
         count(*) FILTER (WHERE kind = 'ORDER_CREATED') AS created,
         count(*) FILTER (WHERE kind = 'ORDER_PAID') AS paid,
         count(*) FILTER (WHERE kind = 'ORDER_PAYMENT_FAILED') AS failed,
         count(*) FILTER (WHERE kind = 'ORDER_CANCELLED') AS cancelled,
         count(*) AS applied, max(created_at) AS as_of
  FROM batch b JOIN fresh f ON f.event_id = b.id
  GROUP BY b.tenant, b.customer_id),
up AS (
  INSERT INTO customer_analytics AS a (tenant, customer_id, order_count, paid_count,
      payment_failed_count, cancelled_count, events_applied, as_of)
  SELECT tenant, customer_id, created, paid, failed, cancelled, applied, as_of FROM agg
  ON CONFLICT (tenant, customer_id) DO UPDATE SET
    order_count = a.order_count + EXCLUDED.order_count,
    paid_count = a.paid_count + EXCLUDED.paid_count,
    payment_failed_count = a.payment_failed_count + EXCLUDED.payment_failed_count,
    cancelled_count = a.cancelled_count + EXCLUDED.cancelled_count,
    events_applied = a.events_applied + EXCLUDED.events_applied,
    as_of = greatest(a.as_of, EXCLUDED.as_of)),
money AS (
  SELECT b.tenant, b.customer_id, o.currency,
         coalesce(sum(b.amount_cents) FILTER (WHERE b.kind = 'ORDER_PAID'), 0) AS paid,
         coalesce(sum(b.amount_cents) FILTER (WHERE b.kind = 'ORDER_CANCELLED'), 0) AS cancelled
  FROM batch b JOIN fresh f ON f.event_id = b.id JOIN orders o ON o.id = b.order_id
  WHERE b.kind IN ('ORDER_PAID', 'ORDER_CANCELLED')
  GROUP BY b.tenant, b.customer_id, o.currency),
up_money AS (
  INSERT INTO customer_analytics_money AS m (tenant, customer_id, currency, paid_amount,
      cancelled_amount)
  SELECT tenant, customer_id, currency, paid, cancelled FROM money
  ON CONFLICT (tenant, customer_id, currency) DO UPDATE SET
    paid_amount = m.paid_amount + EXCLUDED.paid_amount,
    cancelled_amount = m.cancelled_amount + EXCLUDED.cancelled_amount),
mark AS (
  UPDATE order_events SET projected = true WHERE id IN (SELECT id FROM batch))
SELECT count(*) FROM batch)sql"};

}  // namespace

void AnalyticsProjector::Start() {
  thread_ = std::thread([this] {
    while (!stopping_) {
      auto n = RunOnce();
      if (!n.ok()) std::fprintf(stderr, "analytics: %s\n", n.status().ToString().c_str());
      if (n.ok() && *n == batch_) continue;  // more is waiting
      for (absl::Time until = absl::Now() + poll_; absl::Now() < until && !stopping_;) {
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
  });
}

void AnalyticsProjector::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int64_t> AnalyticsProjector::RunOnce() {
  auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  auto rows = (*conn)->Exec(kProject, {batch_});
  if (!rows.ok()) return rows.status();
  return rows->Int(0, 0);
}

}  // namespace orders

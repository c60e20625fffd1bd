#include "order_service/reaper.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace orders {
namespace {

constexpr pg::Query kReapEvents{"reap_events", R"sql(
DELETE FROM outbox_events WHERE id IN (
  SELECT id FROM outbox_events
  WHERE status = 'DONE' AND done_at < now() - make_interval(secs => $1::float8)
  LIMIT $2))sql"};

constexpr pg::Query kReapKeys{"reap_keys", R"sql(
DELETE FROM idempotency_keys WHERE ctid IN (
  SELECT ctid FROM idempotency_keys
  WHERE created_at < now() - make_interval(secs => $1::float8)
  LIMIT $2))sql"};

// Projected order events go with finished outbox events; an inbox entry goes only once its event
// is gone, so a redelivery can never find the inbox without it.
constexpr pg::Query kReapOrderEvents{"reap_order_events", R"sql(
DELETE FROM order_events WHERE id IN (
  SELECT id FROM order_events
  WHERE projected AND created_at < now() - make_interval(secs => $1::float8)
  LIMIT $2))sql"};

constexpr pg::Query kReapInbox{"reap_inbox", R"sql(
DELETE FROM analytics_inbox WHERE event_id IN (
  SELECT event_id FROM analytics_inbox i
  WHERE applied_at < now() - make_interval(secs => $1::float8)
    AND NOT EXISTS (SELECT 1 FROM order_events e WHERE e.id = i.event_id)
  LIMIT $2))sql"};

}  // namespace

void Reaper::Start() {
  thread_ = std::thread([this] {
    while (!stopping_) {
      if (auto n = RunOnce(); !n.ok()) {
        std::fprintf(stderr, "reaper: %s\n", n.status().ToString().c_str());
      }
      for (absl::Time until = absl::Now() + options_.period; absl::Now() < until && !stopping_;) {
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  });
}

void Reaper::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int64_t> Reaper::RunOnce() {
  int64_t total = 0;
  for (const auto& [query, keep] : {std::pair{kReapEvents, options_.done_events},
                                    std::pair{kReapOrderEvents, options_.done_events},
                                    std::pair{kReapInbox, options_.done_events},
                                    std::pair{kReapKeys, options_.idempotency_keys}}) {
    while (true) {
      auto conn = pool_.Acquire(absl::Now() + absl::Seconds(5));
      if (!conn.ok()) return conn.status();
      auto rows = (*conn)->Exec(query, {absl::StrCat(absl::ToDoubleSeconds(keep)), options_.batch});
      if (!rows.ok()) return rows.status();
      total += rows->affected();
      if (rows->affected() < options_.batch || stopping_) break;
    }
  }
  return total;
}

}  // namespace orders

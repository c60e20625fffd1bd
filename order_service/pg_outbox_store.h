// OutboxStore over PostgreSQL: FOR UPDATE SKIP LOCKED claims with leases, fenced finishes.
#pragma once

#include "common/pg/pool.h"
#include "order_service/outbox_store.h"

namespace orders {

class PgOutboxStore : public OutboxStore {
 public:
  // `durable_commits` false: the relay's own writes (claim, extend, finish, reschedule, bury)
  // commit without waiting for the WAL flush, set for each of their transactions only
  // (set_config(..., true)), never on the session, so nothing leaks through a pooler.
  explicit PgOutboxStore(pg::Pool& pool, bool durable_commits = true)
      : pool_(pool), synchronous_commit_(durable_commits ? "" : "off") {}

  absl::StatusOr<std::vector<OutboxEvent>> Claim(const std::string& owner, int limit,
                                                 absl::Duration lease) override;
  absl::StatusOr<int64_t> ExtendLeases(const std::vector<int64_t>& ids, const std::string& owner,
                                       absl::Duration lease) override;
  absl::StatusOr<std::vector<bool>> CompleteAll(const std::vector<Completion>& completions,
                                                const std::string& owner) override;
  absl::StatusOr<bool> Reschedule(const OutboxEvent& event, const std::string& owner,
                                  absl::Duration delay, const std::string& error) override;
  absl::StatusOr<bool> Bury(const OutboxEvent& event, const std::string& owner,
                            const std::string& error) override;
  absl::StatusOr<std::vector<orders::v1::OutboxEvent>> List(const OutboxListQuery& q) override;
  absl::StatusOr<int64_t> Requeue(const std::vector<int64_t>& ids) override;
  absl::StatusOr<OutboxCounts> Counts() override;

 private:
  pg::Pool& pool_;
  // The value set_config gives synchronous_commit in the relay's write transactions; "" keeps
  // the server's setting (which may be remote_apply on a synchronous cluster).
  const std::string synchronous_commit_;
};

}  // namespace orders

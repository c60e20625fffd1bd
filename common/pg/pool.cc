#include "common/pg/pool.h"

namespace pg {

Pool::Pool(std::string conninfo, int size) : conninfo_(std::move(conninfo)), size_(size) {}
Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (conn_ && pool_) pool_->Return(std::move(conn_));
}

void Pool::Return(std::unique_ptr<Connection> conn) {
  absl::MutexLock lock(&mu_);
  if (conn->broken() || conn->in_transaction()) {
    --open_;  // dropped; a later Acquire reconnects
    return;
  }
  idle_.push_back(std::move(conn));
}

absl::StatusOr<Pool::Lease> Pool::Acquire(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    auto can_proceed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < size_;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&can_proceed), deadline)) {
      ++exhausted_;
      return absl::ResourceExhaustedError("no database connection free before the deadline");
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;  // reserve a slot, then connect without holding the lock
  }
  auto conn = Connection::Open(conninfo_);
  if (!conn.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

Pool::Usage Pool::usage() {
  absl::MutexLock lock(&mu_);
  return {.size = size_,
          .open = open_,
          .idle = static_cast<int>(idle_.size()),
          .exhausted = exhausted_};
}

bool Pool::Ping() {
  auto lease = Acquire(absl::Now() + absl::Seconds(1));
  if (!lease.ok()) return false;
  return (*lease)->ExecScript("SELECT 1").ok();
}

}  // namespace pg

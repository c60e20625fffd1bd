#include "common/pg/pool.h"

#include "common/errors.h"

namespace pg {

namespace {

// One statement, so it means the same behind a transaction pooler: whether this server can commit
// a write. transaction_read_only covers a standby and a primary made read-only
// (default_transaction_read_only); pg_is_in_recovery() a standby even when the setting was
// changed for the session.
constexpr Query kWritable{
    "pool_writable",
    "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'"};

}  // namespace

Pool::Pool(std::string conninfo, int size, ConnectOptions options)
    : conninfo_(std::move(conninfo)), size_(size), options_(options) {}
Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (conn_ && pool_) pool_->Return(std::move(conn_));
}

void Pool::Return(std::unique_ptr<Connection> conn) {
  absl::MutexLock lock(&mu_);
  if (conn->broken() || conn->in_transaction()) {
    --open_;  // dropped; a later Acquire reconnects
    if (conn->broken()) ++discarded_;
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
      return common::WithRetryDelay(
          absl::ResourceExhaustedError("no database connection free before the deadline"),
          kExhaustedRetryDelay);
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;  // reserve a slot, then connect without holding the lock
  }
  auto conn = Connection::Open(conninfo_, options_);
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
          .exhausted = exhausted_,
          .discarded = discarded_};
}

bool Pool::PingWritable() {
  auto lease = Acquire(absl::Now() + absl::Seconds(1));
  if (!lease.ok()) return false;
  auto writable = (*lease)->Exec(kWritable);
  if (!writable.ok()) return false;
  if (writable->rows() == 1 && writable->Bool(0, 0)) return true;
  (*lease)->Discard();
  return false;
}

}  // namespace pg

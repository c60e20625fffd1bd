#include "order_service/create_batcher.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"

namespace orders {

namespace {
constexpr absl::Duration kMaxExpectedWrite = absl::Milliseconds(250);
}  // namespace

void CreateBatcher::Submit(PendingCreate& pending) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(&pending);
  while (true) {
    // Either another request's batch wrote ours, or a lane is free and we lead the next batch.
    auto ready = [this, &pending]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return pending.finished ||
             (busy_lanes_ < lanes_ && !queue_.empty() && queue_.front() == &pending);
    };
    mu_.Await(absl::Condition(&ready));
    if (pending.finished) return;
    std::vector<PendingCreate*> batch = TakeBatch();
    if (batch.empty()) continue;  // every request it looked at had expired, ours included
    ++busy_lanes_;
    ++stats_.batches;
    stats_.requests += static_cast<int64_t>(batch.size());
    stats_.largest = std::max<int64_t>(stats_.largest, static_cast<int64_t>(batch.size()));
    mu_.Unlock();
    const absl::Time started = absl::Now();
    write_(batch);
    const double took_ms = absl::ToDoubleMilliseconds(absl::Now() - started);
    mu_.Lock();
    // Running average of a batch write (about the last 20), for TakeBatch's deadline rule.
    write_ms_ = write_ms_ == 0 ? took_ms : write_ms_ + (took_ms - write_ms_) * 0.05;
    for (PendingCreate* p : batch) p->finished = true;
    --busy_lanes_;
  }
}

std::vector<PendingCreate*> CreateBatcher::TakeBatch() {
  std::vector<PendingCreate*> batch;
  absl::flat_hash_set<std::string> keys;
  const absl::Time now = absl::Now();
  // A request whose caller will have gone before a write ends (a write takes write_ms_ on
  // average; capped, so an average inflated by a database stall cannot drop every caller).
  const absl::Time cutoff = now + std::min(absl::Milliseconds(write_ms_), kMaxExpectedWrite);
  for (auto it = queue_.begin();
       it != queue_.end() && static_cast<int>(batch.size()) < max_batch_;) {
    PendingCreate* p = *it;
    // Its caller has given up: writing it would only spend the batch's time (the commit of a
    // request already in a batch goes on; idempotency makes that late commit safe).
    if (p->deadline <= cutoff) {
      p->written = common::ErrorWithReason(absl::StatusCode::kDeadlineExceeded, "DEADLINE_EXPIRED",
                                           "the deadline passed before the order was written");
      p->finished = true;
      ++stats_.expired;
      it = queue_.erase(it);
      continue;
    }
    // The same key twice in one statement would conflict with itself: the later one waits.
    if (keys.insert(absl::StrCat(p->tenant, "\n", p->method, "\n", p->key)).second) {
      batch.push_back(p);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return batch;
}

CreateBatcher::Stats CreateBatcher::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace orders

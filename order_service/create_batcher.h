// Group commit for CreateOrder: requests that arrive while earlier ones are being written wait a
// moment and are then written together, many orders in one statement and one commit (one WAL
// flush). A request that finds a lane free runs at once, alone, so a quiet service adds no
// delay. Every request still gets its own answer; requests with the same idempotency key never
// share a batch.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace orders {

// One CreateOrder ready to be written: its order id reserved and its response built.
struct PendingCreate {
  std::string tenant, method, key, fingerprint;  // the idempotency scope
  std::string response;                          // serialized CreateOrderResponse
  int64_t order_id = 0;
  std::string customer_id, currency, payment_method;
  int64_t amount_cents = 0;
  std::vector<std::string> skus;
  std::vector<int64_t> quantities, prices;
  std::string created_at;                        // timestamptz text, the one in the response
  absl::Time deadline = absl::InfiniteFuture();  // the caller's

  // Set by the batch: true when this request took its key and its order was written; false
  // when the key was already taken (replay or refuse); an error when the batch failed.
  absl::StatusOr<bool> written = absl::UnknownError("not written");
  // When the key was taken and its record was visible to the statement: what it holds.
  struct Stored {
    std::string fingerprint, response;
  };
  std::optional<Stored> stored;
  bool finished = false;
};

class CreateBatcher {
 public:
  // Writes a batch; must set `written` on every element. Runs without the batcher's lock.
  using WriteBatch = std::function<void(const std::vector<PendingCreate*>&)>;

  // `lanes`: batches written at once (each on its own connection); `max_batch`: requests per
  // batch.
  CreateBatcher(WriteBatch write, int lanes, int max_batch)
      : write_(std::move(write)), lanes_(lanes), max_batch_(max_batch) {}

  // Returns when `pending` has been written (alone or with others), with `written` set; or,
  // when its deadline passed while it waited for a batch, or would pass before a batch write
  // ends (the average write time, at most 250 ms), not written: `written` is DEADLINE_EXCEEDED
  // (reason DEADLINE_EXPIRED). A request already in a batch being written is never withdrawn.
  void Submit(PendingCreate& pending);

  struct Stats {
    int64_t batches = 0;
    int64_t requests = 0;
    int64_t largest = 0;
    int64_t expired = 0;  // dropped before any batch took them: their callers had gone
  };
  Stats stats() const;

 private:
  // Takes the next batch from the front of the queue: distinct keys, at most max_batch_.
  std::vector<PendingCreate*> TakeBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WriteBatch write_;
  const int lanes_;
  const int max_batch_;
  mutable absl::Mutex mu_;
  std::deque<PendingCreate*> queue_ ABSL_GUARDED_BY(mu_);
  int busy_lanes_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  double write_ms_ ABSL_GUARDED_BY(mu_) = 0;  // average batch write
};

}  // namespace orders

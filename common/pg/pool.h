// A fixed-size pool of PostgreSQL connections. Broken connections are dropped and reopened lazily.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"

namespace pg {

class Pool {
 public:
  // No session state is ever set on a pooled connection: behind a transaction pooler
  // (PgBouncer) a session setting would leak into other clients' transactions. A setting that
  // applies to some statements is set for their transaction only (set_config(..., true)).
  Pool(std::string conninfo, int size);
  ~Pool();

  // A connection on loan; it goes back to the pool when destroyed (or is dropped if broken or
  // left inside a transaction).
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    Connection* operator->() { return conn_.get(); }
    Connection& operator*() { return *conn_; }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // Waits until a connection is free or `deadline` passes (then RESOURCE_EXHAUSTED).
  absl::StatusOr<Lease> Acquire(absl::Time deadline);
  // True when a connection can run `SELECT 1`.
  bool Ping();

  const std::string& conninfo() const { return conninfo_; }
  int size() const { return size_; }

  // A snapshot for metrics: connections open (idle + on loan), idle, and Acquire calls that
  // gave up at their deadline.
  struct Usage {
    int size = 0;
    int open = 0;
    int idle = 0;
    int64_t exhausted = 0;
  };
  Usage usage();

 private:
  void Return(std::unique_ptr<Connection> conn);

  const std::string conninfo_;
  const int size_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + on loan
  int64_t exhausted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pg

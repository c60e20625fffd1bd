// A fixed-size pool of PostgreSQL connections. Broken connections (a failed link, a SQLSTATE that
// BreaksConnectionForWrites, a standby) are dropped and reopened lazily through the connection
// string, so a multi-host string with target_session_attrs=read-write follows a failover.
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
  // The retry delay an exhausted pool asks for: every connection stayed busy for the caller's
  // whole wait, so a retry at once would meet the same (the admission refusals' base pushback).
  static constexpr absl::Duration kExhaustedRetryDelay = absl::Milliseconds(100);

  // No session state is ever set on a pooled connection: behind a transaction pooler
  // (PgBouncer) a session setting would leak into other clients' transactions. A setting that
  // applies to some statements is set for their transaction only (set_config(..., true)).
  Pool(std::string conninfo, int size, ConnectOptions options = {});
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

  // Waits until a connection is free or `deadline` passes (then RESOURCE_EXHAUSTED with a
  // google.rpc.RetryInfo of kExhaustedRetryDelay, sent as grpc-retry-pushback-ms too); a new
  // connection that cannot be opened gives UNAVAILABLE.
  absl::StatusOr<Lease> Acquire(absl::Time deadline);
  // Readiness: true when a connection can be had within a second and its server takes writes
  // (not in recovery, transaction_read_only off). A connection that answers but cannot write is
  // discarded, so the next one is opened through the connection string. Runs one statement.
  bool PingWritable();

  const std::string& conninfo() const { return conninfo_; }
  const ConnectOptions& options() const { return options_; }
  int size() const { return size_; }

  // A snapshot for metrics: connections open (idle + on loan), idle, Acquire calls that gave up
  // at their deadline, and connections dropped because they were broken (Connection::broken).
  struct Usage {
    int size = 0;
    int open = 0;
    int idle = 0;
    int64_t exhausted = 0;
    int64_t discarded = 0;
  };
  Usage usage();

 private:
  void Return(std::unique_ptr<Connection> conn);

  const std::string conninfo_;
  const int size_;
  const ConnectOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + on loan
  int64_t exhausted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t discarded_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pg

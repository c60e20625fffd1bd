// A PostgreSQL cluster of a test's own (deploy/local/pg.sh: initdb, fsync on, 127.0.0.1 on a free
// port), for tests that change server-wide state (read-only mode, a shutdown) which would disturb
// the other tests sharing TEST_PG_CONNINFO.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace testing_support {

class PrivateCluster {
 public:
  // initdb and start; takes a second or two.
  static absl::StatusOr<std::unique_ptr<PrivateCluster>> Start();
  // A streaming hot standby of `primary` (pg_basebackup -R), started on a port of its own.
  static absl::StatusOr<std::unique_ptr<PrivateCluster>> StartStandbyOf(
      const PrivateCluster& primary);
  ~PrivateCluster();  // stops the server and removes its files

  // pg_ctl stop -m fast (sessions end with 57P01), and start again on the same port.
  absl::Status Stop();
  absl::Status Resume();
  // pg_ctl promote: a standby becomes a primary (waits until it accepts writes).
  absl::Status Promote();
  // Runs fixed SQL as the superuser on database postgres (ALTER SYSTEM, pg_reload_conf()).
  absl::Status Exec(const char* sql);

  // "host=127.0.0.1 port=<port> user=postgres", for CreateTestDatabase and the services.
  std::string conninfo() const;
  int port() const { return port_; }

 private:
  PrivateCluster() = default;
  std::string dir_;
  int port_ = 0;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort();

}  // namespace testing_support

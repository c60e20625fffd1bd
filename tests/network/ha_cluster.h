// An HA PostgreSQL for the network scenarios: etcd and N Patroni nodes on 127.0.0.1, started,
// queried and faulted through deploy/local/ha.sh (the same code deploy/local/run.sh --ha runs).
// Needs Debian's patroni, python3-etcd and etcd-server (tests/run.sh installs them:
// `deploy/local/ha.sh install`).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace network_test {

class HaCluster {
 public:
  struct Options {
    int nodes = 2;
    // Patroni's synchronous_mode: a commit is acknowledged once the synchronous standby has
    // flushed it, so a failover loses no acknowledged transaction. false: asynchronous streaming.
    bool synchronous = true;
    absl::Duration start_timeout = absl::Seconds(180);
  };

  // ha.sh start: etcd, the nodes, a leader and (nodes - 1) streaming replicas (one of them the
  // synchronous standby in synchronous mode). Errors: UNAVAILABLE when the tools are missing,
  // DEADLINE_EXCEEDED / INTERNAL with the script's log tail when the cluster did not come up.
  static absl::StatusOr<std::unique_ptr<HaCluster>> Start(const Options& options);
  // ha.sh stop, then the directory goes (kept with KEEP_NETWORK_TEST_DIRS=1).
  ~HaCluster();
  HaCluster(const HaCluster&) = delete;
  HaCluster& operator=(const HaCluster&) = delete;

  const std::string& dir() const { return dir_; }
  bool synchronous() const { return options_.synchronous; }
  const std::vector<int>& pg_ports() const { return pg_ports_; }
  // The multi-host libpq connection string every client uses:
  // "host=127.0.0.1,127.0.0.1 port=p1,p2 user=postgres target_session_attrs=read-write dbname=X".
  // libpq tries the hosts in order and keeps the first that accepts writes.
  std::string Conninfo(const std::string& dbname = "postgres") const;
  // One node's own connection string (reads on a standby, e.g. what a killed leader kept).
  std::string NodeConninfo(int port, const std::string& dbname) const;

  // CREATE DATABASE on the leader with a unique name built from `prefix`; returns it once every
  // node has it (a standby replays it a little later).
  absl::StatusOr<std::string> CreateDatabase(const std::string& prefix);

  // The leader's node name ("node1", ...) from Patroni's REST API; NOT_FOUND when none.
  absl::StatusOr<std::string> Leader();
  // SIGKILL of the leader's Patroni, postmaster and the postmaster's children (a node crash).
  // Returns the killed node's name; `*killed_at` (optional) is the time the signals had been
  // sent (every attempt that starts later finds the node dead).
  absl::StatusOr<std::string> KillLeader(absl::Time* killed_at = nullptr);
  // Starts a node's Patroni again (it rejoins as a replica, pg_rewind when needed).
  absl::Status StartNode(const std::string& node);
  // patronictl switchover --force from the current leader (to any healthy candidate); the old
  // leader is demoted and comes back as a replica of the new one. Returns when patronictl does.
  absl::Status Switchover();
  // Waits until a node other than `not_node` answers Patroni's /primary with 200.
  absl::Status WaitLeader(absl::Duration timeout, const std::string& not_node = "");
  // Waits until `count` replicas stream with no lag (one synchronous in synchronous mode).
  absl::Status WaitReplicas(int count, absl::Duration timeout);

 private:
  explicit HaCluster(Options options) : options_(std::move(options)) {}
  // Runs `ha.sh <args...>` with dir() inserted after the command name; its output in `*out`.
  absl::Status Run(const std::vector<std::string>& args, absl::Duration timeout,
                   std::string* out = nullptr,
                   const std::vector<std::pair<std::string, std::string>>& env = {});

  const Options options_;
  std::string dir_;
  std::string conninfo_;  // without dbname
  std::vector<int> pg_ports_;
  int runs_ = 0;
  // A cluster that did not start keeps its directory (the logs say why) even without
  // KEEP_NETWORK_TEST_DIRS.
  bool keep_dir_ = false;
};

}  // namespace network_test

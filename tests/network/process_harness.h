// Real processes for the network scenarios: a PostgreSQL cluster (private, or the test cluster
// tests/run.sh started) and the service binaries, started, killed, paused, restarted, and always
// cleaned up (RAII).
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/child_process.h"

namespace network_test {

// Runs `argv` (argv[0] a path) to completion within `timeout`, output appended to `log_path`,
// with `env` added to its environment; as the `postgres` user via runuser when `as_postgres` and
// we are root. OK when it exits 0; DEADLINE_EXCEEDED (and killed) when it runs longer, INTERNAL
// when it exits otherwise, either message ending with the log's last 2,000 bytes.
absl::Status RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                        absl::Duration timeout, bool as_postgres = false,
                        const std::map<std::string, std::string>& env = {});

// The last `max_bytes` of the file at `path` (all of it by default; "" when unreadable).
std::string ReadTail(const std::string& path, size_t max_bytes = std::string::npos);

// CREATE DATABASE "<prefix>_<pid>_<n>" (prefix reduced to [a-z0-9_], n unique in this process)
// through `admin_conninfo`; returns the name, or the connection's or the statement's error.
absl::StatusOr<std::string> CreateUniqueDatabase(const std::string& admin_conninfo,
                                                 const std::string& prefix);

// The newest /usr/lib/postgresql/*/bin, or TEST_PG_BIN when set; empty when none.
std::string FindPostgresBin();

class PostgresCluster {
 public:
  struct Options {
    std::string pg_bin;  // empty: FindPostgresBin()
    std::string parent_dir = "/tmp";
    int max_connections = 100;
    std::string shared_buffers = "32MB";
    absl::Duration start_timeout = absl::Seconds(60);
  };

  // A private cluster owned by this object, in a fresh temporary directory: initdb (as
  // `postgres` via runuser when root; fsync on, trust auth on 127.0.0.1 only), a free port.
  // Cheap after the first: initdb runs once per process into a template that later clusters copy.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> StartPrivate(const Options& options);
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> StartPrivate() {
    return StartPrivate(Options());
  }
  // The cluster tests/run.sh started: TEST_PG_CONNINFO (host/port/user), with TEST_PG_DATA and
  // TEST_PG_BIN. Not owned: it is never stopped or restarted from here (a scenario that restarts
  // PostgreSQL takes a private cluster).
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> AttachFromEnv();

  ~PostgresCluster();  // an owned cluster: stop (immediate) and remove its directory
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  bool owned() const { return owned_; }
  const std::string& host() const { return host_; }
  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  // libpq connection string to `dbname` on 127.0.0.1 (or the attached host) and this port.
  std::string Conninfo(const std::string& dbname = "postgres") const;
  // The same database reached through another port (a fault proxy in front of the cluster).
  std::string ConninfoVia(int port, const std::string& dbname) const;

  // CREATE DATABASE with a unique name built from `prefix`; returns its name.
  absl::StatusOr<std::string> CreateDatabase(const std::string& prefix);

  // `pg_ctl stop -m immediate` (a crash: no checkpoint, WAL replay on start). Owned only.
  absl::Status StopImmediate();
  // Starts again on the same port and waits until it accepts connections. Owned only.
  absl::Status Start();
  // StopImmediate, wait `down_for`, Start.
  absl::Status RestartImmediate(absl::Duration down_for = absl::ZeroDuration());
  bool running() const { return running_; }

 private:
  PostgresCluster() = default;
  absl::Status WaitReady(absl::Duration timeout);

  bool owned_ = false;
  bool running_ = false;
  std::string pg_bin_;
  std::string dir_;  // owned: the temporary directory (socket dir, logs)
  std::string data_dir_;
  std::string host_ = "127.0.0.1";
  std::string user_ = "postgres";
  std::string base_conninfo_;  // attached: TEST_PG_CONNINFO
  int port_ = 0;
  absl::Duration start_timeout_ = absl::Seconds(60);
};

// One service binary, started as `binary args... --port 0 --port_file F`; it writes its port to
// F once listening. Each (re)start uses a fresh port file, so a stale port is never read.
class ServiceProcess {
 public:
  struct Spec {
    std::string name;  // for logs: <dir>/<name>.log
    std::string binary;
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    absl::Duration ready_timeout = absl::Seconds(30);
  };

  static absl::StatusOr<std::unique_ptr<ServiceProcess>> Start(const Spec& spec,
                                                               const std::string& dir);
  ~ServiceProcess();  // SIGCONT, SIGKILL and reap when still running

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"
  pid_t pid() const;
  const std::string& log_path() const { return log_path_; }
  int starts() const { return starts_; }
  Spec& spec() { return spec_; }  // change args/env (e.g. failpoints) before a Restart

  bool Running();
  void Kill();    // SIGKILL and reap
  void Pause();   // SIGSTOP
  void Resume();  // SIGCONT
  // SIGTERM, then SIGKILL after `grace`.
  void Stop(absl::Duration grace = absl::Seconds(5));
  // Waits for the process to exit by itself (a failpoint killed it); true when it did.
  bool WaitExit(absl::Duration timeout);
  // Kills it if running, then starts it again (new port; a FaultProxy::SetUpstream follows).
  absl::Status Restart();
  // The last `max_bytes` of its log, for failure messages.
  std::string LogTail(size_t max_bytes = 4000) const;

 private:
  ServiceProcess(Spec spec, std::string dir) : spec_(std::move(spec)), dir_(std::move(dir)) {}
  absl::Status Launch();

  Spec spec_;
  std::string dir_;
  std::string log_path_;
  std::optional<testing_support::ChildProcess> child_;
  int port_ = 0;
  int starts_ = 0;
  bool paused_ = false;
};

// A scenario's processes in one place: a working directory and everything started in it, torn
// down in reverse order (services, then the cluster) when the harness goes away. The directory is
// removed unless KEEP_NETWORK_TEST_DIRS is set (logs stay for a post-mortem).
class ProcessHarness {
 public:
  explicit ProcessHarness(const std::string& name = "network");
  ~ProcessHarness();
  ProcessHarness(const ProcessHarness&) = delete;
  ProcessHarness& operator=(const ProcessHarness&) = delete;

  const std::string& dir() const { return dir_; }

  // A private cluster (own = true; needed to restart PostgreSQL) or the test cluster from the
  // environment, falling back to a private one when the environment names none.
  absl::StatusOr<PostgresCluster*> StartPostgres(bool own);
  PostgresCluster* postgres() { return postgres_.get(); }

  absl::StatusOr<ServiceProcess*> StartService(const ServiceProcess::Spec& spec);
  ServiceProcess* service(const std::string& name);

  // The binary of a service: env <NAME>_BIN (e.g. ORDER_SERVICE_BIN), else the path the build
  // compiled in, else empty.
  static std::string ServiceBinary(const std::string& name);

 private:
  std::string dir_;
  std::unique_ptr<PostgresCluster> postgres_;
  std::vector<std::unique_ptr<ServiceProcess>> services_;
};

}  // namespace network_test

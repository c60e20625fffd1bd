#include "tests/network/ha_cluster.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/pg/connection.h"
#include "tests/network/process_harness.h"
#include "tests/support/child_process.h"

#ifndef HA_SCRIPT
#error "HA_SCRIPT (deploy/local/ha.sh) must be defined by the build"
#endif

namespace network_test {
namespace {

// KEY=VALUE lines of ha.env (values may be single-quoted).
std::map<std::string, std::string> ParseEnvFile(const std::string& text) {
  std::map<std::string, std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    absl::string_view v = kv.second;
    if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') v = v.substr(1, v.size() - 2);
    out[kv.first] = std::string(v);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HaCluster>> HaCluster::Start(const Options& options) {
  for (const char* tool : {"/usr/bin/patroni", "/usr/bin/patronictl", "/usr/bin/etcd"}) {
    if (!std::filesystem::exists(tool)) {
      return absl::UnavailableError(
          absl::StrCat(tool, " is missing: run `", HA_SCRIPT, " install` (tests/run.sh does)"));
    }
  }
  std::unique_ptr<HaCluster> ha(new HaCluster(options));
  ha->dir_ = testing_support::MakeTempDir("network-ha");
  absl::Status started =
      ha->Run({"start", absl::StrCat(options.nodes), options.synchronous ? "true" : "false"},
              options.start_timeout);
  if (!started.ok()) {
    ha->keep_dir_ = true;
    return absl::Status(started.code(),
                        absl::StrCat(started.message(), "\n(logs kept in ", ha->dir_, ")"));
  }
  const std::map<std::string, std::string> env = ParseEnvFile(ReadTail(ha->dir_ + "/ha.env"));
  auto conninfo = env.find("HA_CONNINFO");
  auto ports = env.find("HA_PG_PORTS");
  if (conninfo == env.end() || ports == env.end()) {
    return absl::InternalError(absl::StrCat("no HA_CONNINFO in ", ha->dir_, "/ha.env"));
  }
  ha->conninfo_ = conninfo->second;
  for (absl::string_view p : absl::StrSplit(ports->second, ',')) {
    int port = 0;
    if (!absl::SimpleAtoi(p, &port)) return absl::InternalError("bad HA_PG_PORTS");
    ha->pg_ports_.push_back(port);
  }
  return ha;
}

HaCluster::~HaCluster() {
  if (dir_.empty()) return;
  (void)Run({"stop"}, absl::Seconds(30));
  const char* keep = std::getenv("KEEP_NETWORK_TEST_DIRS");
  if (!keep_dir_ && (keep == nullptr || std::string(keep).empty())) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

absl::Status HaCluster::Run(const std::vector<std::string>& args, absl::Duration timeout,
                            std::string* out,
                            const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> argv = {"/bin/bash", HA_SCRIPT, args[0], dir_};
  argv.insert(argv.end(), args.begin() + 1, args.end());
  const std::string log = absl::StrCat(dir_, "/ha-", runs_++, "-", args[0], ".log");
  absl::Status s = RunCommand(argv, log, timeout, /*as_postgres=*/false,
                              std::map<std::string, std::string>(env.begin(), env.end()));
  if (out != nullptr) *out = std::string(absl::StripAsciiWhitespace(ReadTail(log)));
  if (!s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("ha.sh ", args[0], " (logs in ", dir_, "): ", s.message()));
  }
  return absl::OkStatus();
}

std::string HaCluster::Conninfo(const std::string& dbname) const {
  return absl::StrCat(conninfo_, " dbname=", dbname);
}

std::string HaCluster::NodeConninfo(int port, const std::string& dbname) const {
  return absl::StrCat("host=127.0.0.1 port=", port, " user=postgres dbname=", dbname);
}

absl::StatusOr<std::string> HaCluster::CreateDatabase(const std::string& prefix) {
  auto created = CreateUniqueDatabase(Conninfo("postgres"), prefix);
  if (!created.ok()) return created.status();
  const std::string& name = *created;
  // Until a standby has replayed it, the new database is missing there, and libpq does not go on
  // to the next host after a server's FATAL at login (only after a failed connection or a
  // read-only session): a service whose list names that standby first could not start. Wait
  // for every node (replay follows the commit by milliseconds, or more when asynchronous).
  const absl::Time until = absl::Now() + absl::Seconds(30);
  for (int port : pg_ports_) {
    while (true) {
      auto node = pg::Connection::Open(NodeConninfo(port, name));
      if (node.ok()) break;
      if (absl::Now() > until) {
        return absl::DeadlineExceededError(
            absl::StrCat("database ", name, " not on port ", port, ": ", node.status().message()));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  return name;
}

absl::StatusOr<std::string> HaCluster::Leader() {
  std::string out;
  absl::Status s = Run({"leader"}, absl::Seconds(20), &out);
  if (!s.ok() || out.empty()) return absl::NotFoundError(absl::StrCat("no leader: ", s.message()));
  return out;
}

absl::StatusOr<std::string> HaCluster::KillLeader(absl::Time* killed_at) {
  absl::StatusOr<std::string> leader = Leader();
  if (!leader.ok()) return leader.status();
  if (absl::Status s = Run({"kill", *leader}, absl::Seconds(20)); !s.ok()) return s;
  if (killed_at != nullptr) *killed_at = absl::Now();
  return leader;
}

absl::Status HaCluster::StartNode(const std::string& node) {
  return Run({"start-node", node}, absl::Seconds(20));
}

absl::Status HaCluster::Switchover() { return Run({"switchover"}, absl::Seconds(90)); }

absl::Status HaCluster::WaitLeader(absl::Duration timeout, const std::string& not_node) {
  const int seconds = static_cast<int>(absl::ToInt64Seconds(timeout)) + 1;
  return Run({"wait-leader", absl::StrCat(seconds)}, timeout + absl::Seconds(10), nullptr,
             {{"HA_NOT", not_node}});
}

absl::Status HaCluster::WaitReplicas(int count, absl::Duration timeout) {
  const int seconds = static_cast<int>(absl::ToInt64Seconds(timeout)) + 1;
  return Run({"wait-replicas", absl::StrCat(count), absl::StrCat(seconds)},
             timeout + absl::Seconds(10));
}

}  // namespace network_test

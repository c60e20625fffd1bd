#include "tests/support/private_cluster.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/pg/connection.h"
#include "tests/support/child_process.h"

namespace testing_support {
namespace {

// Runs `script` after sourcing deploy/local/pg.sh (which runs the server as `postgres` under
// root); returns its stdout.
absl::StatusOr<std::string> PgSh(const std::string& script) {
  const std::string command =
      absl::StrCat("bash -c 'source \"", REPO_ROOT, "/deploy/local/pg.sh\" && ", script, "'");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen failed");
  std::string out;
  char buf[256];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = pclose(pipe);
  if (status != 0) {
    return absl::InternalError(absl::StrCat("pg.sh: `", script, "` exited ", status, ": ", out));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrivateCluster>> PrivateCluster::Start() {
  std::unique_ptr<PrivateCluster> cluster(new PrivateCluster());
  cluster->dir_ = MakeTempDir("cluster");
  auto out = PgSh(absl::StrCat("pg_start ", cluster->dir_, " >&2 && echo $PGPORT"));
  if (!out.ok()) return out.status();
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*out), &cluster->port_)) {
    return absl::InternalError(absl::StrCat("pg_start printed no port: ", *out));
  }
  return cluster;
}

absl::StatusOr<std::unique_ptr<PrivateCluster>> PrivateCluster::StartStandbyOf(
    const PrivateCluster& primary) {
  std::unique_ptr<PrivateCluster> cluster(new PrivateCluster());
  cluster->dir_ = MakeTempDir("standby");
  auto out = PgSh(
      absl::StrCat("pg_standby_start ", cluster->dir_, " ", primary.port_, " >&2 && echo $PGPORT"));
  if (!out.ok()) return out.status();
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*out), &cluster->port_)) {
    return absl::InternalError(absl::StrCat("pg_standby_start printed no port: ", *out));
  }
  return cluster;
}

PrivateCluster::~PrivateCluster() {
  (void)PgSh(absl::StrCat("pg_stop ", dir_));
  (void)PgSh(absl::StrCat("rm -rf ", dir_));
}

absl::Status PrivateCluster::Stop() { return PgSh(absl::StrCat("pg_stop ", dir_)).status(); }
absl::Status PrivateCluster::Resume() { return PgSh(absl::StrCat("pg_resume ", dir_)).status(); }
absl::Status PrivateCluster::Promote() { return PgSh(absl::StrCat("pg_promote ", dir_)).status(); }

absl::Status PrivateCluster::Exec(const char* sql) {
  auto conn = pg::Connection::Open(conninfo() + " dbname=postgres");
  if (!conn.ok()) return conn.status();
  return (*conn)->ExecScript(sql);
}

std::string PrivateCluster::conninfo() const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres");
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace testing_support

// The process harness: commands, a stand-in service (start, pause, kill, restart, exit by itself,
// cleanup), and a private PostgreSQL cluster that survives `pg_ctl stop -m immediate`.
#include "tests/network/process_harness.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pg/connection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/network/fault_proxy.h"
#include "tests/support/wait.h"

namespace network_test {
namespace {

// Sends `text` to 127.0.0.1:port and returns what comes back within `timeout` ("" if nothing).
std::string EchoThrough(int port, const std::string& text, absl::Duration timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size())) {
    const absl::Time until = absl::Now() + timeout;
    char buf[256];
    while (out.size() < text.size()) {
      int64_t left = absl::ToInt64Milliseconds(until - absl::Now());
      if (left <= 0) break;
      pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, n);
    }
  }
  close(fd);
  return out;
}

ServiceProcess::Spec FakeSpec(std::vector<std::string> args = {}) {
  ServiceProcess::Spec spec;
  spec.name = "fake";
  spec.binary = FAKE_SERVICE_BIN;
  spec.args = std::move(args);
  spec.ready_timeout = absl::Seconds(10);
  return spec;
}

TEST(RunCommandTest, ExitStatusAndTimeout) {
  const std::string log = testing_support::MakeTempDir("network-cmd") + "/log";
  EXPECT_TRUE(RunCommand({"/bin/true"}, log, absl::Seconds(10)).ok());
  EXPECT_FALSE(RunCommand({"/bin/false"}, log, absl::Seconds(10)).ok());
  const absl::Time start = absl::Now();
  absl::Status s = RunCommand({"/bin/sleep", "10"}, log, absl::Milliseconds(200));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  std::filesystem::remove_all(std::filesystem::path(log).parent_path());
}

TEST(ServiceProcessTest, StartPauseResumeKillRestart) {
  ProcessHarness harness("svc");
  auto started = harness.StartService(FakeSpec());
  ASSERT_TRUE(started.ok()) << started.status();
  ServiceProcess* svc = *started;
  EXPECT_EQ(harness.service("fake"), svc);
  ASSERT_GT(svc->port(), 0);
  EXPECT_EQ(svc->address(), absl::StrCat("127.0.0.1:", svc->port()));
  EXPECT_EQ(EchoThrough(svc->port(), "hi", absl::Seconds(5)), "hi");

  // SIGSTOP: the kernel still accepts, but nothing answers; SIGCONT: the late answer comes.
  svc->Pause();
  EXPECT_EQ(EchoThrough(svc->port(), "zz", absl::Milliseconds(300)), "");
  svc->Resume();
  EXPECT_EQ(EchoThrough(svc->port(), "up", absl::Seconds(5)), "up");

  svc->Kill();
  EXPECT_FALSE(svc->Running());
  EXPECT_EQ(EchoThrough(svc->port(), "x", absl::Milliseconds(300)), "");

  ASSERT_TRUE(svc->Restart().ok());
  EXPECT_EQ(svc->starts(), 2);
  EXPECT_TRUE(svc->Running());
  EXPECT_EQ(EchoThrough(svc->port(), "again", absl::Seconds(5)), "again");
  // Restarting a running service kills the old process first.
  const pid_t old_pid = svc->pid();
  ASSERT_TRUE(svc->Restart().ok());
  EXPECT_NE(svc->pid(), old_pid);
  EXPECT_NE(kill(old_pid, 0), 0);
}

TEST(ServiceProcessTest, WaitsForAnExitOnItsOwn) {
  ProcessHarness harness("svc-exit");
  auto svc = harness.StartService(FakeSpec({"--exit_after_ms", "200"}));
  ASSERT_TRUE(svc.ok()) << svc.status();
  EXPECT_TRUE((*svc)->WaitExit(absl::Seconds(10)));
  EXPECT_FALSE((*svc)->Running());
  // A restart without the failpoint stays up.
  (*svc)->spec().args.clear();
  ASSERT_TRUE((*svc)->Restart().ok());
  EXPECT_FALSE((*svc)->WaitExit(absl::Milliseconds(400)));
  EXPECT_THAT((*svc)->LogTail(), ::testing::HasSubstr("fake_service listening"));
}

TEST(ServiceProcessTest, ReportsABinaryThatDiesBeforeListening) {
  ProcessHarness harness("svc-bad");
  ServiceProcess::Spec spec = FakeSpec();
  spec.binary = "/bin/false";
  auto svc = harness.StartService(spec);
  EXPECT_FALSE(svc.ok());
  spec.binary = "";
  EXPECT_EQ(harness.StartService(spec).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ServiceProcessTest, HarnessCleansUpEvenPausedProcesses) {
  pid_t pid = -1;
  std::string dir;
  {
    ProcessHarness harness("svc-clean");
    dir = harness.dir();
    auto svc = harness.StartService(FakeSpec());
    ASSERT_TRUE(svc.ok()) << svc.status();
    pid = (*svc)->pid();
    (*svc)->Pause();
  }
  EXPECT_NE(kill(pid, 0), 0) << "process " << pid << " survived the harness";
  if (std::getenv("KEEP_NETWORK_TEST_DIRS") == nullptr) EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(ProcessHarnessTest, ServiceBinaryFromEnvironment) {
  setenv("ORDER_SERVICE_BIN", "/opt/x/order_service", 1);
  EXPECT_EQ(ProcessHarness::ServiceBinary("order_service"), "/opt/x/order_service");
  unsetenv("ORDER_SERVICE_BIN");
}

class PostgresClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(FindPostgresBin().empty())
        << "PostgreSQL is not installed (tests/run.sh installs it)";
  }
};

TEST_F(PostgresClusterTest, PrivateClusterSurvivesImmediateRestart) {
  const absl::Time t0 = absl::Now();
  auto cluster = PostgresCluster::StartPrivate();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const absl::Duration first_start = absl::Now() - t0;
  PostgresCluster& pg = **cluster;
  EXPECT_TRUE(pg.owned());
  EXPECT_TRUE(pg.running());
  auto db = pg.CreateDatabase("harness-test");
  ASSERT_TRUE(db.ok()) << db.status();
  {
    auto conn = pg::Connection::Open(pg.Conninfo(*db));
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE((*conn)->ExecScript("CREATE TABLE t (v int); INSERT INTO t VALUES (42)").ok());
    auto fsync = (*conn)->Exec(pg::Query{"harness_fsync", "SHOW fsync"});
    ASSERT_TRUE(fsync.ok());
    EXPECT_EQ(fsync->Text(0, 0), "on");
  }
  const int port = pg.port();
  const absl::Time t1 = absl::Now();
  ASSERT_TRUE(pg.RestartImmediate(absl::Milliseconds(100)).ok());
  const absl::Duration restart = absl::Now() - t1;
  EXPECT_EQ(pg.port(), port);
  {
    auto conn = pg::Connection::Open(pg.Conninfo(*db));
    ASSERT_TRUE(conn.ok()) << conn.status();
    auto v = (*conn)->Exec(pg::Query{"harness_read", "SELECT v FROM t"});
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_EQ(v->rows(), 1);
    EXPECT_EQ(v->Int(0, 0), 42) << "a committed row must survive an immediate stop";
  }
  // While stopped, nothing answers on the port.
  ASSERT_TRUE(pg.StopImmediate().ok());
  EXPECT_NE(PQping(pg.Conninfo().c_str()), PQPING_OK);
  ASSERT_TRUE(pg.Start().ok());
  EXPECT_EQ(PQping(pg.Conninfo().c_str()), PQPING_OK);

  // A second cluster is cheap: it copies the template instead of running initdb.
  const absl::Time t2 = absl::Now();
  auto second = PostgresCluster::StartPrivate();
  ASSERT_TRUE(second.ok()) << second.status();
  const absl::Duration second_start = absl::Now() - t2;
  EXPECT_NE((*second)->port(), pg.port());
  std::cout << "first private cluster " << first_start << ", immediate restart " << restart
            << ", second cluster " << second_start << "\n";
  const std::string data_dir = (*second)->data_dir();
  second->reset();
  EXPECT_FALSE(std::filesystem::exists(data_dir));
}

// The building block of "the order service's connection is reset during COMMIT": a proxy on
// the PostgreSQL hop that acts exactly when COMMIT passes.
TEST_F(PostgresClusterTest, ProxyOnThePostgresHopResetsAtCommit) {
  auto cluster = PostgresCluster::StartPrivate();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PostgresCluster& pg = **cluster;
  auto db = pg.CreateDatabase("commit-fault");
  ASSERT_TRUE(db.ok()) << db.status();
  auto direct = pg::Connection::Open(pg.Conninfo(*db));
  ASSERT_TRUE(direct.ok()) << direct.status();
  ASSERT_TRUE((*direct)->ExecScript("CREATE TABLE t (v int)").ok());
  FaultProxy::Options options;
  options.upstream_port = pg.port();
  options.name = "service->postgres";
  auto proxy = FaultProxy::Start(options);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  auto count = [&]() {
    auto r = (*direct)->Exec(pg::Query{"commit_fault_count", "SELECT count(*) FROM t"});
    return r.ok() ? r->Int(0, 0) : -1;
  };

  // COMMIT never arrives: the transaction rolls back, and the client knows it failed.
  (*proxy)->SetMatchFault("COMMIT", MatchAction::kResetBefore);
  {
    auto conn = pg::Connection::Open(pg.ConninfoVia((*proxy)->port(), *db));
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE((*conn)->ExecScript("BEGIN; INSERT INTO t VALUES (1)").ok());
    EXPECT_FALSE((*conn)->ExecScript("COMMIT").ok());
  }
  EXPECT_TRUE(
      testing_support::Eventually([&] { return count() == 0; }, absl::Seconds(5), "rolled back"));

  // COMMIT arrives and takes effect, its reply is lost: the client sees an error, yet the row
  // is there. This is the ambiguity the idempotency keys exist for.
  (*proxy)->SetMatchFault("COMMIT", MatchAction::kDropResponseAfter, 1.0, -1,
                          absl::Milliseconds(100));
  {
    auto conn = pg::Connection::Open(pg.ConninfoVia((*proxy)->port(), *db));
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE((*conn)->ExecScript("BEGIN; INSERT INTO t VALUES (2)").ok());
    EXPECT_FALSE((*conn)->ExecScript("COMMIT").ok());
  }
  EXPECT_EQ(count(), 1);
  EXPECT_EQ((*proxy)->counters().fault(FaultKind::kMatch), 2);
}

TEST_F(PostgresClusterTest, AttachedClusterIsNeverRestarted) {
  ASSERT_NE(std::getenv("TEST_PG_CONNINFO"), nullptr)
      << "TEST_PG_CONNINFO is not set (run through tests/run.sh)";
  auto cluster = PostgresCluster::AttachFromEnv();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_FALSE((*cluster)->owned());
  EXPECT_EQ(PQping((*cluster)->Conninfo().c_str()), PQPING_OK);
  EXPECT_EQ((*cluster)->StopImmediate().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*cluster)->RestartImmediate().code(), absl::StatusCode::kFailedPrecondition);
  auto db = (*cluster)->CreateDatabase("attached");
  EXPECT_TRUE(db.ok()) << db.status();
}

TEST_F(PostgresClusterTest, HarnessFallsBackToAPrivateCluster) {
  const char* saved = std::getenv("TEST_PG_CONNINFO");
  const std::string saved_value = saved ? saved : "";
  unsetenv("TEST_PG_CONNINFO");
  {
    ProcessHarness harness("pg");
    auto pg = harness.StartPostgres(/*own=*/false);
    ASSERT_TRUE(pg.ok()) << pg.status();
    EXPECT_TRUE((*pg)->owned());
    EXPECT_EQ(harness.postgres(), *pg);
  }
  if (saved) setenv("TEST_PG_CONNINFO", saved_value.c_str(), 1);
}

}  // namespace
}  // namespace network_test

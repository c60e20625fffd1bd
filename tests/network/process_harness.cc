#include "tests/network/process_harness.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/pg/connection.h"

namespace network_test {
namespace {

constexpr char kRunuser[] = "/usr/sbin/runuser";

bool IsRoot() { return geteuid() == 0; }

absl::Status ChownToPostgres(const std::string& path) {
  if (!IsRoot()) return absl::OkStatus();
  struct passwd* pw = getpwnam("postgres");
  if (pw == nullptr) return absl::FailedPreconditionError("no `postgres` user to own the cluster");
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", path));
  }
  return absl::OkStatus();
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// key=value pairs of a libpq conninfo (no quoting support needed for ours).
std::map<std::string, std::string> ParseConninfo(const std::string& conninfo) {
  std::map<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(conninfo, ' ', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    out[kv.first] = kv.second;
  }
  return out;
}

// initdb runs once per process; clusters copy the result.
struct Template {
  std::mutex mu;
  std::string dir;  // holds data/
  absl::Status status = absl::OkStatus();
  bool done = false;
};
Template& TheTemplate() {
  static Template* t = new Template();  // removed by the atexit hook below
  return *t;
}
void RemoveTemplate() {
  Template& t = TheTemplate();
  if (!t.dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(t.dir, ec);
    t.dir.clear();
  }
}

absl::StatusOr<std::string> TemplateDataDir(const std::string& pg_bin) {
  Template& t = TheTemplate();
  std::lock_guard<std::mutex> lock(t.mu);
  if (!t.done) {
    t.done = true;
    t.dir = testing_support::MakeTempDir("network-pg-template");
    std::atexit(RemoveTemplate);
    chmod(t.dir.c_str(), 0700);
    t.status = ChownToPostgres(t.dir);
    if (t.status.ok()) {
      // --no-sync only for the template's own files; every cluster runs with fsync on.
      t.status = RunCommand({pg_bin + "/initdb", "-D", t.dir + "/data", "-U", "postgres", "-A",
                             "trust", "-E", "UTF8", "--no-locale", "--no-sync"},
                            t.dir + "/initdb.log", absl::Seconds(120), /*as_postgres=*/true);
      if (!t.status.ok()) {
        t.status = absl::InternalError(absl::StrCat("initdb failed: ", t.status.message(), "\n",
                                                    ReadTail(t.dir + "/initdb.log", 2000)));
      }
    }
  }
  if (!t.status.ok()) return t.status;
  return t.dir + "/data";
}

}  // namespace

std::string ReadTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

absl::StatusOr<std::string> CreateUniqueDatabase(const std::string& admin_conninfo,
                                                 const std::string& prefix) {
  static std::atomic<int> counter{0};
  std::string safe;
  for (char c : prefix) safe += absl::ascii_isalnum(c) ? absl::ascii_tolower(c) : '_';
  const std::string name = absl::StrCat(safe, "_", getpid(), "_", counter++);
  auto conn = pg::Connection::Open(admin_conninfo);
  if (!conn.ok()) return conn.status();
  // CREATE DATABASE takes no parameters; the name is built from [a-z0-9_] only.
  const std::string sql = absl::StrCat("CREATE DATABASE \"", name, "\"");
  if (absl::Status s = (*conn)->ExecScript(sql.c_str()); !s.ok()) return s;
  return name;
}

absl::Status RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                        absl::Duration timeout, bool as_postgres,
                        const std::map<std::string, std::string>& env) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  std::string binary = argv[0];
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  if (as_postgres && IsRoot()) {
    args.insert(args.begin(), {"-u", "postgres", "--", binary});
    binary = kRunuser;
  }
  // As postgres, from / : the test's own directory may be one postgres cannot enter (a checkout
  // under a mode-700 temporary directory), and its children die where they chdir back to it.
  auto child = testing_support::ChildProcess::Start(binary, args, log_path, env,
                                                    as_postgres && IsRoot() ? "/" : "");
  if (!child.ok()) return child.status();
  const int status = child->WaitExit(timeout);
  if (status == -1) {
    child->Signal(SIGKILL);
    return absl::DeadlineExceededError(absl::StrCat(argv[0], " did not finish within ",
                                                    absl::FormatDuration(timeout), "; ", log_path,
                                                    ":\n", ReadTail(log_path, 2000)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " failed (wait status ", status, "); ",
                                            log_path, ":\n", ReadTail(log_path, 2000)));
  }
  return absl::OkStatus();
}

std::string FindPostgresBin() {
  if (const char* env = std::getenv("TEST_PG_BIN"); env && *env) return env;
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    if (std::filesystem::exists(entry.path() / "bin" / "pg_ctl")) {
      found.push_back((entry.path() / "bin").string());
    }
  }
  if (found.empty()) return "";
  // Highest major version (numeric directory names).
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    int va = 0, vb = 0;
    (void)absl::SimpleAtoi(std::filesystem::path(a).parent_path().filename().string(), &va);
    (void)absl::SimpleAtoi(std::filesystem::path(b).parent_path().filename().string(), &vb);
    return va < vb;
  });
  return found.back();
}

// ---------------------------------------------------------------------------------------------
// PostgresCluster

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::StartPrivate(
    const Options& options) {
  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster());
  cluster->owned_ = true;
  cluster->pg_bin_ = options.pg_bin.empty() ? FindPostgresBin() : options.pg_bin;
  cluster->start_timeout_ = options.start_timeout;
  if (cluster->pg_bin_.empty()) return absl::FailedPreconditionError("PostgreSQL is not installed");
  absl::StatusOr<std::string> template_data = TemplateDataDir(cluster->pg_bin_);
  if (!template_data.ok()) return template_data.status();

  std::string templ = options.parent_dir + "/network-pg.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  cluster->dir_ = templ;
  cluster->data_dir_ = cluster->dir_ + "/data";
  chmod(cluster->dir_.c_str(), 0700);
  if (absl::Status s = ChownToPostgres(cluster->dir_); !s.ok()) return s;
  if (absl::Status s = RunCommand({"/bin/cp", "-a", *template_data, cluster->data_dir_},
                                  cluster->dir_ + "/setup.log", absl::Seconds(60), true);
      !s.ok()) {
    return s;
  }
  // A few tries: the free port may be taken between choosing and binding it.
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    cluster->port_ = FreePort();
    std::ofstream conf(cluster->data_dir_ + "/postgresql.auto.conf", std::ios::trunc);
    conf << "listen_addresses = '127.0.0.1'\n"
         << "port = " << cluster->port_ << "\n"
         << "unix_socket_directories = '" << cluster->dir_ << "'\n"
         << "fsync = on\n"
         << "synchronous_commit = on\n"
         << "full_page_writes = on\n"
         << "max_connections = " << options.max_connections << "\n"
         << "shared_buffers = '" << options.shared_buffers << "'\n"
         << "log_min_messages = warning\n";
    conf.close();
    if (absl::Status s = ChownToPostgres(cluster->data_dir_ + "/postgresql.auto.conf"); !s.ok()) {
      return s;
    }
    last = cluster->Start();
    if (last.ok()) return cluster;
  }
  return last;
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::AttachFromEnv() {
  const char* conninfo = std::getenv("TEST_PG_CONNINFO");
  if (conninfo == nullptr || *conninfo == '\0') {
    return absl::FailedPreconditionError("TEST_PG_CONNINFO is not set");
  }
  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster());
  cluster->owned_ = false;
  cluster->running_ = true;
  cluster->base_conninfo_ = conninfo;
  auto kv = ParseConninfo(conninfo);
  if (!absl::SimpleAtoi(kv["port"], &cluster->port_)) {
    return absl::InvalidArgumentError("TEST_PG_CONNINFO has no port");
  }
  if (!kv["user"].empty()) cluster->user_ = kv["user"];
  // The cluster listens on 127.0.0.1 too (deploy/local/pg.sh): TCP lets a proxy sit in front.
  cluster->host_ = "127.0.0.1";
  if (const char* data = std::getenv("TEST_PG_DATA")) cluster->data_dir_ = data;
  cluster->pg_bin_ = FindPostgresBin();
  return cluster;
}

PostgresCluster::~PostgresCluster() {
  if (!owned_) return;
  if (running_) (void)StopImmediate();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PostgresCluster::Conninfo(const std::string& dbname) const {
  return ConninfoVia(port_, dbname);
}

std::string PostgresCluster::ConninfoVia(int port, const std::string& dbname) const {
  return absl::StrCat("host=", host_, " port=", port, " user=", user_, " dbname=", dbname,
                      " connect_timeout=5");
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase(const std::string& prefix) {
  return CreateUniqueDatabase(Conninfo("postgres"), prefix);
}

absl::Status PostgresCluster::WaitReady(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  const std::string conninfo = Conninfo("postgres");
  while (true) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return absl::OkStatus();
    if (absl::Now() >= until) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("PostgreSQL on port ", port_, " not ready"));
}

absl::Status PostgresCluster::StopImmediate() {
  if (!owned_) {
    return absl::FailedPreconditionError(
        "the cluster from TEST_PG_CONNINFO is shared: take a private one to stop it");
  }
  if (!running_) return absl::OkStatus();
  absl::Status s = RunCommand(
      {pg_bin_ + "/pg_ctl", "-D", data_dir_, "-m", "immediate", "-w", "-t", "60", "stop"},
      dir_ + "/pg_ctl.log", absl::Seconds(70), /*as_postgres=*/true);
  if (s.ok()) running_ = false;
  return s;
}

absl::Status PostgresCluster::Start() {
  if (!owned_) {
    return absl::FailedPreconditionError(
        "the cluster from TEST_PG_CONNINFO is shared: take a private one to start it");
  }
  if (running_) return absl::OkStatus();
  absl::Status s =
      RunCommand({pg_bin_ + "/pg_ctl", "-D", data_dir_, "-l", dir_ + "/server.log", "-w", "-t",
                  absl::StrCat(absl::ToInt64Seconds(start_timeout_)), "start"},
                 dir_ + "/pg_ctl.log", start_timeout_ + absl::Seconds(10), /*as_postgres=*/true);
  if (!s.ok()) {
    return absl::InternalError(
        absl::StrCat(s.message(), "\n", ReadTail(dir_ + "/server.log", 2000)));
  }
  running_ = true;
  return WaitReady(start_timeout_);
}

absl::Status PostgresCluster::RestartImmediate(absl::Duration down_for) {
  if (absl::Status s = StopImmediate(); !s.ok()) return s;
  if (down_for > absl::ZeroDuration()) absl::SleepFor(down_for);
  return Start();
}

// ---------------------------------------------------------------------------------------------
// ServiceProcess

absl::StatusOr<std::unique_ptr<ServiceProcess>> ServiceProcess::Start(const Spec& spec,
                                                                      const std::string& dir) {
  if (spec.binary.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no binary for service ", spec.name));
  }
  std::unique_ptr<ServiceProcess> service(new ServiceProcess(spec, dir));
  service->log_path_ = absl::StrCat(dir, "/", spec.name, ".log");
  if (absl::Status s = service->Launch(); !s.ok()) return s;
  return service;
}

ServiceProcess::~ServiceProcess() {
  if (child_) {
    if (paused_) child_->Signal(SIGCONT);
    child_.reset();  // SIGKILL and reap
  }
}

absl::Status ServiceProcess::Launch() {
  ++starts_;
  const std::string port_file = absl::StrCat(dir_, "/", spec_.name, ".", starts_, ".port");
  std::filesystem::remove(port_file);
  std::vector<std::string> args = spec_.args;
  args.insert(args.end(), {"--port", "0", "--port_file", port_file});
  {
    std::ofstream log(log_path_, std::ios::app);
    log << "=== start " << starts_ << ": " << spec_.binary;
    for (const auto& a : args) log << " " << a;
    log << "\n";
  }
  auto child = testing_support::ChildProcess::Start(spec_.binary, args, log_path_, spec_.env);
  if (!child.ok()) return child.status();
  child_.emplace(std::move(*child));
  paused_ = false;
  const absl::Time until = absl::Now() + spec_.ready_timeout;
  while (true) {
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      port_ = port;
      return absl::OkStatus();
    }
    if (!child_->Running()) {
      return absl::UnavailableError(
          absl::StrCat(spec_.name, " exited before listening; log:\n", LogTail()));
    }
    if (absl::Now() >= until) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat(spec_.name, " wrote no port within ",
                                                  absl::FormatDuration(spec_.ready_timeout),
                                                  "; log:\n", LogTail()));
}

std::string ServiceProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

pid_t ServiceProcess::pid() const { return child_ ? child_->pid() : -1; }

bool ServiceProcess::Running() { return child_ && child_->Running(); }

void ServiceProcess::Kill() {
  if (!child_) return;
  child_->Signal(SIGKILL);
  child_->WaitExit(absl::Seconds(10));
  paused_ = false;
}

void ServiceProcess::Pause() {
  if (!child_) return;
  child_->Signal(SIGSTOP);
  paused_ = true;
}

void ServiceProcess::Resume() {
  if (!child_) return;
  child_->Signal(SIGCONT);
  paused_ = false;
}

void ServiceProcess::Stop(absl::Duration grace) {
  if (!child_) return;
  if (paused_) Resume();
  child_->Stop(grace);
}

bool ServiceProcess::WaitExit(absl::Duration timeout) {
  if (!child_) return true;
  return child_->WaitExit(timeout) != -1;
}

absl::Status ServiceProcess::Restart() {
  if (child_ && child_->Running()) Kill();
  child_.reset();
  return Launch();
}

std::string ServiceProcess::LogTail(size_t max_bytes) const {
  return ReadTail(log_path_, max_bytes);
}

// ---------------------------------------------------------------------------------------------
// ProcessHarness

ProcessHarness::ProcessHarness(const std::string& name)
    : dir_(testing_support::MakeTempDir(absl::StrCat("network-", name))) {}

ProcessHarness::~ProcessHarness() {
  while (!services_.empty()) services_.pop_back();
  postgres_.reset();
  if (std::getenv("KEEP_NETWORK_TEST_DIRS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

absl::StatusOr<PostgresCluster*> ProcessHarness::StartPostgres(bool own) {
  if (postgres_) return postgres_.get();
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      absl::FailedPreconditionError("not started");
  if (!own) cluster = PostgresCluster::AttachFromEnv();
  if (own || !cluster.ok()) cluster = PostgresCluster::StartPrivate();
  if (!cluster.ok()) return cluster.status();
  postgres_ = std::move(*cluster);
  return postgres_.get();
}

absl::StatusOr<ServiceProcess*> ProcessHarness::StartService(const ServiceProcess::Spec& spec) {
  auto service = ServiceProcess::Start(spec, dir_);
  if (!service.ok()) return service.status();
  services_.push_back(std::move(*service));
  return services_.back().get();
}

ServiceProcess* ProcessHarness::service(const std::string& name) {
  for (auto& s : services_) {
    if (s->spec().name == name) return s.get();
  }
  return nullptr;
}

std::string ProcessHarness::ServiceBinary(const std::string& name) {
  const std::string env_name = absl::AsciiStrToUpper(name) + "_BIN";
  if (const char* env = std::getenv(env_name.c_str()); env && *env) return env;
#ifdef ORDER_SERVICE_BIN
  if (name == "order_service") return ORDER_SERVICE_BIN;
#endif
#ifdef PAYMENT_SERVICE_BIN
  if (name == "payment_service") return PAYMENT_SERVICE_BIN;
#endif
  return "";
}

}  // namespace network_test

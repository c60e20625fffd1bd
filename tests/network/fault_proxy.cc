#include "tests/network/fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace network_test {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr absl::Duration kMaxPollWait = absl::Milliseconds(100);
constexpr absl::Duration kClosingGrace = absl::Seconds(2);

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Closes with RST instead of FIN.
void ResetFd(int& fd) {
  if (fd < 0) return;
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
  fd = -1;
}

void CloseFd(int& fd) {
  if (fd < 0) return;
  close(fd);
  fd = -1;
}

void DrainPipe(int fd) {
  char buf[64];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
}

int PollTimeoutMs(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  // Round up so a wait for a due time does not spin just before it.
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(d) + 1, absl::ToInt64Milliseconds(kMaxPollWait)));
}

bool DirectionCovers(Direction d, int index) {
  return d == Direction::kBoth || (index == 0 && d == Direction::kClientToUpstream) ||
         (index == 1 && d == Direction::kUpstreamToClient);
}

// Connects without blocking past `timeout`; gives up early when woken through `wake_fd` and
// `abort()` says so (the proxy stops or the connection is reset). Other wake-ups (fault changes)
// are drained and ignored.
int ConnectUpstream(const std::string& host, int port, absl::Duration timeout, int wake_fd,
                    const std::function<bool()>& abort) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port_str = std::to_string(port);
  if (getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res) != 0 || res == nullptr) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return -1;
  }
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc == 0) return fd;
  if (errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  const absl::Time until = absl::Now() + timeout;
  while (true) {
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd pfds[2] = {{fd, POLLOUT, 0}, {wake_fd, POLLIN, 0}};
    int n = poll(pfds, 2, PollTimeoutMs(left));
    if (n < 0 && errno != EINTR) break;
    if (pfds[1].revents & POLLIN) {
      DrainPipe(wake_fd);
      if (abort()) break;
    }
    if (pfds[0].revents) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) return fd;
      break;
    }
  }
  close(fd);
  return -1;
}

}  // namespace

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kLatency:
      return "latency";
    case FaultKind::kBlackhole:
      return "blackhole";
    case FaultKind::kReset:
      return "reset";
    case FaultKind::kCloseAfterBytes:
      return "close_after_bytes";
    case FaultKind::kRefuse:
      return "refuse";
    case FaultKind::kResponseDropped:
      return "response_dropped";
    case FaultKind::kUpstreamUnreachable:
      return "upstream_unreachable";
    case FaultKind::kHealReset:
      return "heal_reset";
    case FaultKind::kMatch:
      return "match";
  }
  return "?";
}

std::string ProxyCounters::DebugString() const {
  std::string out = absl::StrCat("accepted=", connections_accepted, " open=", connections_open,
                                 " c2u=", bytes_client_to_upstream,
                                 " u2c=", bytes_upstream_to_client, " dropped=", bytes_dropped);
  for (int i = 0; i < kFaultKindCount; ++i) {
    if (faults[i] != 0) absl::StrAppend(&out, " ", FaultKindName(FaultKind(i)), "=", faults[i]);
  }
  return out;
}

struct FaultProxy::Connection {
  uint64_t id = 0;  // unique per proxy: survives the Connection (reaped and freed once done)
  int client_fd = -1;
  int upstream_fd = -1;
  int wake[2] = {-1, -1};
  std::array<double, kFaultKindCount> dice{};
  uint64_t seed = 0;
  std::string upstream_host;
  int upstream_port = 0;
  std::atomic<bool> reset_requested{false};
  std::atomic<bool> done{false};
  std::thread thread;

  ~Connection() {
    CloseFd(client_fd);
    CloseFd(upstream_fd);
    CloseFd(wake[0]);
    CloseFd(wake[1]);
  }
};

FaultProxy::FaultProxy(const Options& options)
    : options_(options),
      upstream_host_(options.upstream_host),
      upstream_port_(options.upstream_port),
      rng_(options.seed) {}

absl::StatusOr<std::unique_ptr<FaultProxy>> FaultProxy::Start(const Options& options) {
  std::unique_ptr<FaultProxy> proxy(new FaultProxy(options));
  if (pipe2(proxy->wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError("pipe2 failed");
  }
  if (absl::Status s = proxy->Listen(0); !s.ok()) return s;
  {
    absl::MutexLock lock(&proxy->mu_);
    proxy->listening_ = true;
  }
  proxy->accept_thread_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

absl::Status FaultProxy::Listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 256) != 0) {
    const std::string err = strerror(errno);
    close(fd);
    return absl::UnavailableError(
        absl::StrCat(options_.name, ": cannot listen on 127.0.0.1:", port, ": ", err));
  }
  if (port == 0) {
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  listen_fd_ = fd;
  return absl::OkStatus();
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  {
    absl::MutexLock lock(&mu_);
    WakeAll();
  }
  if (wake_pipe_[1] >= 0) (void)!write(wake_pipe_[1], "x", 1);
  if (accept_thread_.joinable()) accept_thread_.join();
  ReapFinished(/*all=*/true);
  CloseFd(listen_fd_);
  CloseFd(wake_pipe_[0]);
  CloseFd(wake_pipe_[1]);
}

std::string FaultProxy::address() const { return absl::StrCat("127.0.0.1:", port_); }

void FaultProxy::SetUpstream(const std::string& host, int port) {
  absl::MutexLock lock(&mu_);
  upstream_host_ = host;
  upstream_port_ = port;
}

std::pair<std::string, int> FaultProxy::upstream() const {
  absl::MutexLock lock(&mu_);
  return {upstream_host_, upstream_port_};
}

void FaultProxy::BumpGeneration() {
  faults_.generation = generation_.fetch_add(1) + 1;
  WakeAll();
}

void FaultProxy::WakeAll() {
  for (auto& c : connections_) Wake(c.get());
}

void FaultProxy::Wake(Connection* conn) {
  if (conn->wake[1] >= 0) (void)!write(conn->wake[1], "x", 1);
}

void FaultProxy::SetLatency(absl::Duration latency, absl::Duration jitter, double probability,
                            Direction direction) {
  absl::MutexLock lock(&mu_);
  faults_.latency = std::max(latency, absl::ZeroDuration());
  faults_.jitter = std::max(jitter, absl::ZeroDuration());
  faults_.latency_p = probability;
  faults_.latency_dir = direction;
  BumpGeneration();
}

void FaultProxy::ClearLatency() { SetLatency(absl::ZeroDuration(), absl::ZeroDuration(), 0); }

void FaultProxy::SetBlackhole(double probability, Direction direction, BlackholeMode mode) {
  absl::MutexLock lock(&mu_);
  faults_.blackhole_p = probability;
  faults_.blackhole_dir = direction;
  faults_.blackhole_mode = mode;
  BumpGeneration();
}

void FaultProxy::ClearBlackhole() {
  absl::MutexLock lock(&mu_);
  faults_.blackhole_p = 0;
  BumpGeneration();
}

void FaultProxy::SetCloseAfterBytes(Direction direction, int64_t bytes, double probability,
                                    bool reset) {
  absl::MutexLock lock(&mu_);
  faults_.close_p = probability;
  faults_.close_dir = direction;
  faults_.close_bytes = std::max<int64_t>(bytes, 0);
  faults_.close_reset = reset;
  faults_.close_generation++;
  BumpGeneration();
}

void FaultProxy::ClearCloseAfterBytes() {
  absl::MutexLock lock(&mu_);
  faults_.close_p = 0;
  faults_.close_generation++;
  BumpGeneration();
}

void FaultProxy::SetResponseDrop(double probability, absl::Duration reset_after,
                                 int64_t after_client_bytes) {
  absl::MutexLock lock(&mu_);
  faults_.response_drop_p = probability;
  faults_.response_drop_reset_after = std::max(reset_after, absl::ZeroDuration());
  faults_.response_drop_after_client_bytes = std::max<int64_t>(after_client_bytes, 0);
  BumpGeneration();
}

void FaultProxy::ClearResponseDrop() {
  absl::MutexLock lock(&mu_);
  faults_.response_drop_p = 0;
  BumpGeneration();
}

void FaultProxy::SetMatchFault(const std::string& pattern, MatchAction action, double probability,
                               int64_t max_count, absl::Duration reset_after) {
  absl::MutexLock lock(&mu_);
  faults_.match_pattern = pattern;
  faults_.match_action = action;
  faults_.match_p = probability;
  faults_.match_reset_after = std::max(reset_after, absl::ZeroDuration());
  match_budget_ = max_count < 0 ? -1 : max_count;
  BumpGeneration();
}

void FaultProxy::ClearMatchFault() {
  absl::MutexLock lock(&mu_);
  faults_.match_pattern.clear();
  faults_.match_p = 0;
  BumpGeneration();
}

bool FaultProxy::TakeMatchBudget() {
  int64_t left = match_budget_.load();
  while (true) {
    if (left < 0) return true;
    if (left == 0) return false;
    if (match_budget_.compare_exchange_weak(left, left - 1)) return true;
  }
}

absl::Status FaultProxy::SetRefuse(RefuseMode mode, double probability) {
  absl::MutexLock lock(&mu_);
  faults_.refuse = mode;
  faults_.refuse_p = probability;
  BumpGeneration();
  want_listening_ = mode != RefuseMode::kStopListening;
  listen_error_ = absl::OkStatus();
  if (wake_pipe_[1] >= 0) (void)!write(wake_pipe_[1], "x", 1);
  // The accept loop owns the listening socket; wait until it has applied the change.
  auto applied = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return listening_ == want_listening_ || !listen_error_.ok() || stopping_.load();
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&applied), absl::Seconds(5))) {
    return absl::DeadlineExceededError(absl::StrCat(options_.name, ": listener did not change"));
  }
  return listen_error_;
}

absl::Status FaultProxy::ClearAll() {
  {
    absl::MutexLock lock(&mu_);
    Faults cleared;
    cleared.close_generation = faults_.close_generation + 1;
    faults_ = cleared;
    BumpGeneration();
  }
  return SetRefuse(RefuseMode::kOff);
}

int FaultProxy::ResetOpenConnections(double probability) {
  // By id, not by pointer: while this waits (mu_ released), the accept loop reaps and frees the
  // connections that finished, and a new connection may even reuse a freed address.
  std::set<uint64_t> targets;
  {
    absl::MutexLock lock(&mu_);
    for (auto& c : connections_) {
      if (c->done.load()) continue;
      if (c->dice[static_cast<int>(FaultKind::kReset)] < probability) {
        c->reset_requested = true;
        Wake(c.get());
        targets.insert(c->id);
      }
    }
    if (!targets.empty()) CountFault(FaultKind::kReset, static_cast<int64_t>(targets.size()));
    // Waits (bounded) until those connections are gone, so the caller can rely on "reset now".
    // Evaluated under mu_: a target is gone when it is done or no longer listed (reaped).
    auto all_done = [this, &targets]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& c : connections_) {
        if (targets.count(c->id) && !c->done.load()) return false;
      }
      return true;
    };
    mu_.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(2));
  }
  return static_cast<int>(targets.size());
}

void FaultProxy::Reseed(uint64_t seed) {
  absl::MutexLock lock(&mu_);
  rng_.seed(seed);
}

ProxyCounters FaultProxy::counters() const {
  absl::MutexLock lock(&counters_mu_);
  return counters_;
}

bool FaultProxy::WaitForNoOpenConnections(absl::Duration timeout) const {
  absl::MutexLock lock(&counters_mu_);
  auto none = [this]() ABSL_SHARED_LOCKS_REQUIRED(counters_mu_) {
    return counters_.connections_open == 0;
  };
  return counters_mu_.AwaitWithTimeout(absl::Condition(&none), timeout);
}

void FaultProxy::CountFault(FaultKind kind, int64_t n) {
  absl::MutexLock lock(&counters_mu_);
  counters_.faults[static_cast<int>(kind)] += n;
}

FaultProxy::Faults FaultProxy::SnapshotFaults(uint64_t* generation) const {
  absl::MutexLock lock(&mu_);
  *generation = faults_.generation;
  return faults_;
}

void FaultProxy::ReapFinished(bool all) {
  std::vector<std::unique_ptr<Connection>> finished;
  {
    absl::MutexLock lock(&mu_);
    auto it = std::stable_partition(
        connections_.begin(), connections_.end(),
        [all](const std::unique_ptr<Connection>& c) { return !all && !c->done.load(); });
    for (auto i = it; i != connections_.end(); ++i) finished.push_back(std::move(*i));
    connections_.erase(it, connections_.end());
  }
  for (auto& c : finished) {
    if (c->thread.joinable()) c->thread.join();
  }
}

void FaultProxy::AcceptLoop() {
  while (!stopping_.load()) {
    // Apply the wanted listening state.
    {
      absl::MutexLock lock(&mu_);
      if (!want_listening_ && listening_) {
        CloseFd(listen_fd_);
        listening_ = false;
      } else if (want_listening_ && !listening_) {
        absl::Status s = Listen(port_);
        if (s.ok()) {
          listening_ = true;
        } else {
          listen_error_ = s;
          want_listening_ = false;
        }
      }
    }
    pollfd pfds[2] = {{wake_pipe_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    const int nfds = listen_fd_ >= 0 ? 2 : 1;
    int n = poll(pfds, nfds, PollTimeoutMs(kMaxPollWait));
    if (stopping_.load()) break;
    if (n > 0 && (pfds[0].revents & POLLIN)) DrainPipe(wake_pipe_[0]);
    ReapFinished(/*all=*/false);
    if (nfds < 2 || n <= 0 || !(pfds[1].revents & POLLIN)) continue;
    // Accept everything pending.
    for (int i = 0; i < 64; ++i) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      {
        absl::MutexLock lock(&counters_mu_);
        counters_.connections_accepted++;
      }
      absl::MutexLock lock(&mu_);
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      if (faults_.refuse == RefuseMode::kAcceptThenReset && unit(rng_) < faults_.refuse_p) {
        CountFault(FaultKind::kRefuse);  // before the client can see it
        ResetFd(fd);
        continue;
      }
      auto conn = std::make_unique<Connection>();
      conn->id = ++next_connection_id_;
      conn->client_fd = fd;
      for (double& d : conn->dice) d = unit(rng_);
      conn->seed = rng_();
      conn->upstream_host = upstream_host_;
      conn->upstream_port = upstream_port_;
      if (pipe2(conn->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        ResetFd(conn->client_fd);
        continue;
      }
      {
        absl::MutexLock clock(&counters_mu_);
        counters_.connections_open++;
      }
      Connection* raw = conn.get();
      conn->thread = std::thread([this, raw] { ConnectionLoop(raw); });
      connections_.push_back(std::move(conn));
    }
  }
}

// One thread per connection: a poll loop over the two sockets and a wake pipe. Each direction has
// a queue of chunks with due times (latency); faults are re-read whenever the generation changes.
void FaultProxy::ConnectionLoop(Connection* conn) {
  struct Chunk {
    absl::Time due;
    std::string data;
    size_t off = 0;
  };
  struct Dir {
    std::deque<Chunk> queue;
    size_t queued = 0;
    bool src_eof = false;
    bool dst_shut = false;
    absl::Time last_due = absl::InfinitePast();
    int64_t passed = 0;  // bytes accepted for forwarding (close-after budget)
    int64_t close_baseline = 0;
    bool close_reached = false;
    bool latency = false, blackhole = false, close = false;
  };
  Dir dirs[2];  // 0: client -> upstream, 1: upstream -> client
  std::mt19937_64 rng(conn->seed);
  auto dice = [conn](FaultKind k) { return conn->dice[static_cast<int>(k)]; };

  auto finish = [&](bool reset_client, bool reset_upstream) {
    if (reset_client)
      ResetFd(conn->client_fd);
    else
      CloseFd(conn->client_fd);
    if (reset_upstream)
      ResetFd(conn->upstream_fd);
    else
      CloseFd(conn->upstream_fd);
    {
      absl::MutexLock lock(&counters_mu_);
      counters_.connections_open--;
    }
    {
      absl::MutexLock lock(&mu_);  // so waiters in ResetOpenConnections see it under the lock
      conn->done = true;
    }
    if (wake_pipe_[1] >= 0) (void)!write(wake_pipe_[1], "x", 1);
  };

  conn->upstream_fd = ConnectUpstream(
      conn->upstream_host, conn->upstream_port, options_.connect_timeout, conn->wake[0],
      [&] { return stopping_.load() || conn->reset_requested.load(); });
  if (conn->upstream_fd < 0) {
    if (!stopping_.load() && !conn->reset_requested.load()) {
      CountFault(FaultKind::kUpstreamUnreachable);
    }
    finish(/*reset_client=*/true, false);
    return;
  }
  SetNoDelay(conn->client_fd);
  SetNoDelay(conn->upstream_fd);

  uint64_t seen_generation = ~uint64_t{0};
  uint64_t seen_close_generation = 0;
  bool first_config = true;
  Faults f;
  bool blackhole_lost_bytes = false;
  bool response_drop = false;      // applies to this connection now
  bool response_dropping = false;  // started: stays on until the reset
  int64_t client_bytes = 0;        // read from the client since the connection opened
  std::string match_tail;          // last pattern-size - 1 client bytes, for SetMatchFault
  absl::Time response_reset_at = absl::InfiniteFuture();
  bool closing = false;  // a close-after budget was reached
  bool closing_reset = false;
  absl::Time closing_deadline = absl::InfiniteFuture();
  std::vector<char> buf(kReadChunk);

  // Re-reads the faults when they changed. Returns false when the connection was finished.
  auto refresh = [&]() -> bool {
    if (generation_.load() == seen_generation) return true;
    f = SnapshotFaults(&seen_generation);
    const bool rebase = !first_config && f.close_generation != seen_close_generation;
    seen_close_generation = f.close_generation;
    first_config = false;
    for (int i = 0; i < 2; ++i) {
      Dir& d = dirs[i];
      d.latency = dice(FaultKind::kLatency) < f.latency_p && DirectionCovers(f.latency_dir, i) &&
                  (f.latency > absl::ZeroDuration() || f.jitter > absl::ZeroDuration());
      d.blackhole =
          dice(FaultKind::kBlackhole) < f.blackhole_p && DirectionCovers(f.blackhole_dir, i);
      d.close = dice(FaultKind::kCloseAfterBytes) < f.close_p && DirectionCovers(f.close_dir, i);
      if (rebase) d.close_baseline = d.passed;
    }
    response_drop = dice(FaultKind::kResponseDropped) < f.response_drop_p;
    if (blackhole_lost_bytes && !dirs[0].blackhole && !dirs[1].blackhole) {
      // The byte stream lost data: nothing sensible can follow on this connection.
      CountFault(FaultKind::kHealReset);
      finish(true, true);
      return false;
    }
    return true;
  };

  while (true) {
    if (stopping_.load()) {
      finish(false, false);
      return;
    }
    if (conn->reset_requested.load()) {
      finish(true, true);
      return;
    }
    if (!refresh()) return;
    // Evaluated at each use: `f` may change after the poll below.
    auto drop_mode_now = [&] { return f.blackhole_mode == BlackholeMode::kDrop; };
    auto held = [&](int i) { return dirs[i].blackhole && !drop_mode_now(); };
    auto dropping = [&](int i) {
      return (dirs[i].blackhole && drop_mode_now()) ||
             (i == 1 && ((response_drop && client_bytes > f.response_drop_after_client_bytes) ||
                         response_dropping));
    };

    // Accounts for bytes a fault discards; the first response byte dropped starts the countdown
    // to the client's reset.
    auto on_drop = [&](int i, size_t bytes, absl::Time at) {
      {
        absl::MutexLock lock(&counters_mu_);
        counters_.bytes_dropped += static_cast<int64_t>(bytes);
      }
      if (dirs[i].blackhole && drop_mode_now()) {
        blackhole_lost_bytes = true;
        CountFault(FaultKind::kBlackhole);
      } else if (!response_dropping) {
        response_dropping = true;
        response_reset_at = at + f.response_drop_reset_after;
        CountFault(FaultKind::kResponseDropped);
      }
    };

    absl::Time now = absl::Now();
    if (response_dropping && now >= response_reset_at) {
      finish(/*reset_client=*/true, /*reset_upstream=*/false);
      return;
    }

    // Deliver what is due.
    bool want_out[2] = {false, false};
    for (int i = 0; i < 2; ++i) {
      Dir& d = dirs[i];
      int dst = i == 0 ? conn->upstream_fd : conn->client_fd;
      int src = i == 0 ? conn->client_fd : conn->upstream_fd;
      if (held(i)) continue;
      while (!d.queue.empty() && d.queue.front().due <= now) {
        Chunk& c = d.queue.front();
        if (dropping(i)) {
          on_drop(i, c.data.size() - c.off, now);
          d.queued -= c.data.size() - c.off;
          d.queue.pop_front();
          continue;
        }
        ssize_t n =
            send(dst, c.data.data() + c.off, c.data.size() - c.off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            want_out[i] = true;
            break;
          }
          if (errno == EINTR) continue;
          // The destination is gone: pass the reset on to the source.
          finish(src == conn->client_fd, src == conn->upstream_fd);
          return;
        }
        c.off += static_cast<size_t>(n);
        d.queued -= static_cast<size_t>(n);
        {
          absl::MutexLock lock(&counters_mu_);
          (i == 0 ? counters_.bytes_client_to_upstream : counters_.bytes_upstream_to_client) += n;
        }
        if (c.off == c.data.size()) d.queue.pop_front();
      }
      if (d.queue.empty() && d.src_eof && !d.dst_shut && !closing &&
          !(i == 1 && response_dropping)) {
        shutdown(dst, SHUT_WR);
        d.dst_shut = true;
      }
    }
    if (closing && ((dirs[0].queue.empty() && dirs[1].queue.empty()) || now >= closing_deadline)) {
      CountFault(FaultKind::kCloseAfterBytes);
      finish(closing_reset, closing_reset);
      return;
    }
    if (dirs[0].dst_shut && dirs[1].dst_shut && !response_dropping) {
      finish(false, false);
      return;
    }

    // Wait for input, writability, a due chunk, a reset deadline or a wake-up.
    absl::Duration wait = kMaxPollWait;
    for (int i = 0; i < 2; ++i) {
      if (held(i) || dirs[i].queue.empty() || want_out[i]) continue;
      wait = std::min(wait, dirs[i].queue.front().due - now);
    }
    if (response_dropping) wait = std::min(wait, response_reset_at - now);
    if (closing) wait = std::min(wait, closing_deadline - now);
    auto can_read = [&](int i) {
      return !dirs[i].src_eof && !closing && !held(i) &&
             dirs[i].queued < options_.max_buffered_bytes;
    };
    pollfd pfds[3];
    pfds[0] = {conn->client_fd, 0, 0};
    pfds[1] = {conn->upstream_fd, 0, 0};
    pfds[2] = {conn->wake[0], POLLIN, 0};
    if (can_read(0)) pfds[0].events |= POLLIN;
    if (can_read(1)) pfds[1].events |= POLLIN;
    if (want_out[1]) pfds[0].events |= POLLOUT;
    if (want_out[0]) pfds[1].events |= POLLOUT;
    // A socket we want nothing from is left out, so a hang-up on it does not spin the loop.
    if (pfds[0].events == 0) pfds[0].fd = -1;
    if (pfds[1].events == 0) pfds[1].fd = -1;
    int n = poll(pfds, 3, PollTimeoutMs(wait));
    if (n < 0) {
      if (errno == EINTR) continue;
      finish(true, true);
      return;
    }
    if (pfds[2].revents & POLLIN) DrainPipe(conn->wake[0]);
    if (n == 0) continue;
    // Bytes read from here on obey the faults set before they were sent.
    if (!refresh()) return;

    now = absl::Now();
    for (int i = 0; i < 2; ++i) {
      pollfd& p = pfds[i == 0 ? 0 : 1];
      if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (!can_read(i)) continue;
      Dir& d = dirs[i];
      const int src = i == 0 ? conn->client_fd : conn->upstream_fd;
      ssize_t r = recv(src, buf.data(), buf.size(), MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        // The source was reset: pass it on to the other side.
        finish(src == conn->upstream_fd, src == conn->client_fd);
        return;
      }
      if (r == 0) {
        d.src_eof = true;
        continue;
      }
      size_t len = static_cast<size_t>(r);
      if (i == 0) client_bytes += r;
      if (dropping(i)) {
        on_drop(i, len, now);
        continue;
      }
      if (i == 0 && !f.match_pattern.empty() && f.match_p > 0) {
        // Search the new bytes together with the tail of the previous read.
        std::string haystack = match_tail;
        haystack.append(buf.data(), len);
        const bool found = haystack.find(f.match_pattern) != std::string::npos;
        match_tail = haystack.substr(haystack.size() -
                                     std::min(haystack.size(), f.match_pattern.size() - 1));
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        if (found && unit(rng) < f.match_p && TakeMatchBudget()) {
          CountFault(FaultKind::kMatch);
          if (f.match_action == MatchAction::kResetBefore) {
            finish(true, true);
            return;
          }
          // Deliver this chunk, then lose every answer and reset the client.
          if (!response_dropping) {
            response_dropping = true;
            response_reset_at = now + f.match_reset_after;
          }
        }
      }
      if (d.close) {
        const int64_t left = f.close_bytes - (d.passed - d.close_baseline);
        if (static_cast<int64_t>(len) >= left) {
          len = static_cast<size_t>(std::max<int64_t>(left, 0));
          closing = true;
          closing_reset = f.close_reset;
          closing_deadline = now + kClosingGrace;
        }
      }
      d.passed += static_cast<int64_t>(len);
      if (len == 0) continue;
      absl::Time due = now;
      if (d.latency) {
        const double jitter_s = absl::ToDoubleSeconds(f.jitter);
        std::uniform_real_distribution<double> jit(-jitter_s, jitter_s);
        due = now + f.latency + (jitter_s > 0 ? absl::Seconds(jit(rng)) : absl::ZeroDuration());
        CountFault(FaultKind::kLatency);
      }
      due = std::max(due, d.last_due);  // keep the byte order
      d.last_due = due;
      d.queue.push_back(Chunk{due, std::string(buf.data(), len), 0});
      d.queued += len;
    }
  }
}

}  // namespace network_test

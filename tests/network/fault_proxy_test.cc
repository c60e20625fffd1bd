// The fault proxy against a small echo server on 127.0.0.1:0: every fault, seen from a raw socket.
#include "tests/network/fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/wait.h"

namespace network_test {
namespace {

// Echoes every byte back, prefixed per chunk by `tag` when set; counts what it received.
class EchoServer {
 public:
  explicit EchoServer(std::string tag = "") : tag_(std::move(tag)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 64);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : workers_) t.join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  int64_t received() const { return received_.load(); }
  std::string received_data() {
    absl::MutexLock lock(&mu_);
    return data_;
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p = {listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }
  void Serve(int fd) {
    char buf[65536];
    while (!stop_) {
      pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      received_ += n;
      {
        absl::MutexLock lock(&mu_);
        data_.append(buf, n);
      }
      std::string out = tag_ + std::string(buf, n);
      size_t off = 0;
      while (off < out.size()) {
        ssize_t w = send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += w;
      }
    }
    close(fd);
  }

  std::string tag_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> received_{0};
  absl::Mutex mu_;
  std::string data_;
  std::thread thread_;
  std::vector<std::thread> workers_;
};

// A blocking client socket with bounded reads.
class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    connect_errno_ =
        connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ? 0 : errno;
  }
  ~Client() { close(fd_); }
  int connect_errno() const { return connect_errno_; }
  bool Send(const std::string& data) {
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  struct ReadResult {
    std::string data;
    bool eof = false;
    int error = 0;  // errno of a failed read (ECONNRESET), 0 otherwise
    bool timed_out = false;
  };
  // Reads until `want` bytes, EOF, an error or the timeout.
  ReadResult Read(size_t want, absl::Duration timeout) {
    ReadResult r;
    const absl::Time until = absl::Now() + timeout;
    char buf[65536];
    while (r.data.size() < want) {
      const int64_t left = absl::ToInt64Milliseconds(until - absl::Now());
      if (left <= 0) {
        r.timed_out = true;
        break;
      }
      pollfd p = {fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      ssize_t n = recv(fd_, buf, std::min(sizeof(buf), want - r.data.size()), 0);
      if (n < 0) {
        r.error = errno;
        break;
      }
      if (n == 0) {
        r.eof = true;
        break;
      }
      r.data.append(buf, n);
    }
    return r;
  }

 private:
  int fd_ = -1;
  int connect_errno_ = 0;
};

std::unique_ptr<FaultProxy> StartProxy(int upstream_port, uint64_t seed = 42) {
  FaultProxy::Options options;
  options.upstream_port = upstream_port;
  options.seed = seed;
  auto proxy = FaultProxy::Start(options);
  EXPECT_TRUE(proxy.ok()) << proxy.status();
  return std::move(*proxy);
}

TEST(FaultProxyTest, ForwardsBothWaysAndCounts) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  ASSERT_GT(proxy->port(), 0);
  EXPECT_EQ(proxy->address(), "127.0.0.1:" + std::to_string(proxy->port()));
  {
    Client c(proxy->port());
    ASSERT_EQ(c.connect_errno(), 0);
    ASSERT_TRUE(c.Send("hello"));
    EXPECT_EQ(c.Read(5, absl::Seconds(5)).data, "hello");
    // A larger transfer keeps every byte in order.
    std::string big(1 << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
    std::thread writer([&] { c.Send(big); });
    auto r = c.Read(big.size(), absl::Seconds(20));
    writer.join();
    EXPECT_TRUE(r.data == big) << "got " << r.data.size() << " bytes";
  }
  ASSERT_TRUE(proxy->WaitForNoOpenConnections(absl::Seconds(5)));
  ProxyCounters counters = proxy->counters();
  EXPECT_EQ(counters.connections_accepted, 1);
  EXPECT_EQ(counters.connections_open, 0);
  EXPECT_EQ(counters.bytes_client_to_upstream, 5 + (1 << 20));
  EXPECT_EQ(counters.bytes_upstream_to_client, 5 + (1 << 20));
  EXPECT_EQ(counters.bytes_dropped, 0);
  for (int i = 0; i < kFaultKindCount; ++i) EXPECT_EQ(counters.faults[i], 0) << i;
}

TEST(FaultProxyTest, LatencyDelaysEachDirection) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  Client c(proxy->port());
  ASSERT_TRUE(c.Send("warm"));
  ASSERT_EQ(c.Read(4, absl::Seconds(5)).data, "warm");
  // Applies to the connection that is already open.
  proxy->SetLatency(absl::Milliseconds(150), absl::Milliseconds(20));
  absl::Time start = absl::Now();
  ASSERT_TRUE(c.Send("ping"));
  EXPECT_EQ(c.Read(4, absl::Seconds(5)).data, "ping");
  absl::Duration rtt = absl::Now() - start;
  EXPECT_GE(rtt, absl::Milliseconds(2 * 130 - 5));
  EXPECT_LT(rtt, absl::Seconds(2));
  EXPECT_GE(proxy->counters().fault(FaultKind::kLatency), 2);

  proxy->SetLatency(absl::Milliseconds(150), absl::ZeroDuration(), 1.0,
                    Direction::kUpstreamToClient);
  start = absl::Now();
  ASSERT_TRUE(c.Send("one-way"));
  EXPECT_EQ(c.Read(7, absl::Seconds(5)).data, "one-way");
  rtt = absl::Now() - start;
  EXPECT_GE(rtt, absl::Milliseconds(145));
  EXPECT_LT(rtt, absl::Milliseconds(290));

  proxy->ClearLatency();
  start = absl::Now();
  ASSERT_TRUE(c.Send("fast"));
  EXPECT_EQ(c.Read(4, absl::Seconds(5)).data, "fast");
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
}

TEST(FaultProxyTest, BlackholeDropsBytesSoTheReaderTimesOut) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  Client c(proxy->port());
  ASSERT_TRUE(c.Send("a"));
  ASSERT_EQ(c.Read(1, absl::Seconds(5)).data, "a");
  proxy->SetBlackhole();
  ASSERT_TRUE(c.Send("lost"));
  auto r = c.Read(4, absl::Milliseconds(300));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.data, "");
  EXPECT_EQ(echo.received(), 1) << "the upstream must not see blackholed bytes";
  ProxyCounters counters = proxy->counters();
  EXPECT_GE(counters.fault(FaultKind::kBlackhole), 1);
  EXPECT_EQ(counters.bytes_dropped, 4);
  // A new connection is blackholed too: it connects (the socket is kept) but nothing answers.
  {
    Client c2(proxy->port());
    ASSERT_EQ(c2.connect_errno(), 0);
    ASSERT_TRUE(c2.Send("x"));
    EXPECT_TRUE(c2.Read(1, absl::Milliseconds(200)).timed_out);
  }
  // Healing resets the connections that lost bytes; new connections work again.
  proxy->ClearBlackhole();
  auto after = c.Read(1, absl::Seconds(5));
  EXPECT_TRUE(after.error == ECONNRESET || after.eof);
  EXPECT_GE(proxy->counters().fault(FaultKind::kHealReset), 1);
  Client c3(proxy->port());
  ASSERT_TRUE(c3.Send("back"));
  EXPECT_EQ(c3.Read(4, absl::Seconds(5)).data, "back");
}

TEST(FaultProxyTest, BlackholeHoldDeliversLateWhenCleared) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  Client c(proxy->port());
  proxy->SetBlackhole(1.0, Direction::kClientToUpstream, BlackholeMode::kHold);
  ASSERT_TRUE(c.Send("late"));
  EXPECT_TRUE(c.Read(4, absl::Milliseconds(300)).timed_out);
  EXPECT_EQ(echo.received(), 0);
  proxy->ClearBlackhole();
  EXPECT_EQ(c.Read(4, absl::Seconds(5)).data, "late");
  EXPECT_EQ(echo.received(), 4);
}

TEST(FaultProxyTest, ResetOpenConnectionsGivesEconnreset) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  Client c1(proxy->port());
  Client c2(proxy->port());
  ASSERT_TRUE(c1.Send("1"));
  ASSERT_TRUE(c2.Send("2"));
  ASSERT_EQ(c1.Read(1, absl::Seconds(5)).data, "1");
  ASSERT_EQ(c2.Read(1, absl::Seconds(5)).data, "2");
  EXPECT_EQ(proxy->ResetOpenConnections(), 2);
  EXPECT_EQ(c1.Read(1, absl::Seconds(5)).error, ECONNRESET);
  EXPECT_EQ(c2.Read(1, absl::Seconds(5)).error, ECONNRESET);
  EXPECT_EQ(proxy->counters().fault(FaultKind::kReset), 2);
  // New connections are not affected.
  Client c3(proxy->port());
  ASSERT_TRUE(c3.Send("3"));
  EXPECT_EQ(c3.Read(1, absl::Seconds(5)).data, "3");
}

TEST(FaultProxyTest, ResetProbabilityIsSeeded) {
  EchoServer echo;
  std::vector<int> counts;
  for (int run = 0; run < 2; ++run) {
    auto proxy = StartProxy(echo.port(), /*seed=*/7);
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 30; ++i) {
      clients.push_back(std::make_unique<Client>(proxy->port()));
      // One at a time, so the accept order (and so the dice) is the same in both runs.
      ASSERT_TRUE(clients.back()->Send("x"));
      ASSERT_EQ(clients.back()->Read(1, absl::Seconds(5)).data, "x");
    }
    counts.push_back(proxy->ResetOpenConnections(0.5));
  }
  EXPECT_EQ(counts[0], counts[1]);
  EXPECT_GT(counts[0], 0);
  EXPECT_LT(counts[0], 30);
}

TEST(FaultProxyTest, CloseAfterBytesClientToUpstream) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  proxy->SetCloseAfterBytes(Direction::kClientToUpstream, 10);
  Client c(proxy->port());
  ASSERT_TRUE(c.Send("0123456789abcdefghij"));
  // The connection ends once the budget is forwarded (both sides get a FIN); the upstream saw
  // exactly the first 10 bytes.
  auto r = c.Read(20, absl::Seconds(5));
  EXPECT_TRUE(r.eof);
  EXPECT_LE(r.data.size(), 10u);
  EXPECT_TRUE(testing_support::Eventually([&] { return echo.received() == 10; }, absl::Seconds(5),
                                          "10 bytes upstream"));
  EXPECT_EQ(echo.received_data(), "0123456789");
  EXPECT_EQ(proxy->counters().fault(FaultKind::kCloseAfterBytes), 1);
}

TEST(FaultProxyTest, CloseAfterBytesOnOpenConnectionCountsFromNowAndCanReset) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  Client c(proxy->port());
  ASSERT_TRUE(c.Send("before-the-fault"));
  ASSERT_EQ(c.Read(16, absl::Seconds(5)).data, "before-the-fault");
  proxy->SetCloseAfterBytes(Direction::kUpstreamToClient, 3, 1.0, /*reset=*/true);
  ASSERT_TRUE(c.Send("abcdef"));
  auto r = c.Read(6, absl::Seconds(5));
  // Up to 3 bytes may arrive before the RST, never more.
  EXPECT_LE(r.data.size(), 3u);
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_EQ(echo.received_data(), "before-the-faultabcdef");
}

TEST(FaultProxyTest, RefuseAcceptThenReset) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  ASSERT_TRUE(proxy->SetRefuse(RefuseMode::kAcceptThenReset).ok());
  {
    Client c(proxy->port());
    EXPECT_EQ(c.connect_errno(), 0);
    c.Send("x");
    auto r = c.Read(1, absl::Seconds(5));
    EXPECT_TRUE(r.error == ECONNRESET || r.eof) << r.error;
    EXPECT_EQ(r.data, "");
  }
  EXPECT_EQ(proxy->counters().fault(FaultKind::kRefuse), 1);
  EXPECT_EQ(echo.received(), 0);
  ASSERT_TRUE(proxy->ClearRefuse().ok());
  Client c(proxy->port());
  ASSERT_TRUE(c.Send("ok"));
  EXPECT_EQ(c.Read(2, absl::Seconds(5)).data, "ok");
}

TEST(FaultProxyTest, RefuseStopListeningThenResumeOnSamePort) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  const int port = proxy->port();
  Client open(port);
  ASSERT_TRUE(open.Send("kept"));
  ASSERT_EQ(open.Read(4, absl::Seconds(5)).data, "kept");
  ASSERT_TRUE(proxy->SetRefuse(RefuseMode::kStopListening).ok());
  {
    Client c(port);
    EXPECT_EQ(c.connect_errno(), ECONNREFUSED);
  }
  // Open connections are not affected by refusing new ones.
  ASSERT_TRUE(open.Send("still"));
  EXPECT_EQ(open.Read(5, absl::Seconds(5)).data, "still");
  ASSERT_TRUE(proxy->ClearAll().ok());
  EXPECT_EQ(proxy->port(), port);
  Client c(port);
  ASSERT_EQ(c.connect_errno(), 0);
  ASSERT_TRUE(c.Send("again"));
  EXPECT_EQ(c.Read(5, absl::Seconds(5)).data, "again");
}

TEST(FaultProxyTest, ResponseDroppedAfterRequestDelivered) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  Client c(proxy->port());
  ASSERT_TRUE(c.Send("hello"));
  ASSERT_EQ(c.Read(5, absl::Seconds(5)).data, "hello");
  // On the connection that is already open, as gRPC would have it.
  proxy->SetResponseDrop(1.0, absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(c.Send("charge-me"));
  auto r = c.Read(9, absl::Seconds(5));
  EXPECT_EQ(r.data, "");
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
  // The upstream saw the whole request.
  EXPECT_EQ(echo.received_data(), "hellocharge-me");
  ProxyCounters counters = proxy->counters();
  EXPECT_EQ(counters.fault(FaultKind::kResponseDropped), 1);
  EXPECT_EQ(counters.bytes_dropped, 9);
  EXPECT_EQ(counters.bytes_client_to_upstream, 14);
  EXPECT_EQ(counters.bytes_upstream_to_client, 5);
  proxy->ClearResponseDrop();
  Client c2(proxy->port());
  ASSERT_TRUE(c2.Send("fine"));
  EXPECT_EQ(c2.Read(4, absl::Seconds(5)).data, "fine");
}

TEST(FaultProxyTest, ResponseDropSparesTheFirstClientBytes) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  proxy->SetResponseDrop(1.0, absl::Milliseconds(50), /*after_client_bytes=*/10);
  Client c(proxy->port());
  // A handshake of up to 10 bytes is answered...
  ASSERT_TRUE(c.Send("hello"));
  EXPECT_EQ(c.Read(5, absl::Seconds(5)).data, "hello");
  ASSERT_TRUE(c.Send("shake"));
  EXPECT_EQ(c.Read(5, absl::Seconds(5)).data, "shake");
  // ...the request after it is delivered and its answer lost.
  ASSERT_TRUE(c.Send("request"));
  auto r = c.Read(7, absl::Seconds(5));
  EXPECT_EQ(r.data, "");
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_EQ(echo.received_data(), "helloshakerequest");
  EXPECT_EQ(proxy->counters().fault(FaultKind::kResponseDropped), 1);
}

TEST(FaultProxyTest, MatchResetBeforeTheRequestArrives) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  Client c(proxy->port());
  ASSERT_TRUE(c.Send("BEGIN;"));
  ASSERT_EQ(c.Read(6, absl::Seconds(5)).data, "BEGIN;");
  proxy->SetMatchFault("COMMIT", MatchAction::kResetBefore, 1.0, /*max_count=*/1);
  // The pattern split over two sends is still found.
  ASSERT_TRUE(c.Send("xCOM"));
  ASSERT_EQ(c.Read(4, absl::Seconds(5)).data, "xCOM");
  ASSERT_TRUE(c.Send("MIT;"));
  auto r = c.Read(4, absl::Seconds(5));
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_EQ(echo.received_data(), "BEGIN;xCOM");
  EXPECT_EQ(proxy->counters().fault(FaultKind::kMatch), 1);
  // The budget of one is spent: the next COMMIT passes.
  Client c2(proxy->port());
  ASSERT_TRUE(c2.Send("COMMIT"));
  EXPECT_EQ(c2.Read(6, absl::Seconds(5)).data, "COMMIT");
}

TEST(FaultProxyTest, MatchDeliversThenDropsTheAnswer) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  proxy->SetMatchFault("COMMIT", MatchAction::kDropResponseAfter, 1.0, -1, absl::Milliseconds(50));
  Client c(proxy->port());
  ASSERT_TRUE(c.Send("INSERT"));
  ASSERT_EQ(c.Read(6, absl::Seconds(5)).data, "INSERT");
  ASSERT_TRUE(c.Send("COMMIT"));
  auto r = c.Read(6, absl::Seconds(5));
  EXPECT_EQ(r.data, "");
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_EQ(echo.received_data(), "INSERTCOMMIT");
  EXPECT_EQ(proxy->counters().fault(FaultKind::kMatch), 1);
  proxy->ClearMatchFault();
  Client c2(proxy->port());
  ASSERT_TRUE(c2.Send("COMMIT"));
  EXPECT_EQ(c2.Read(6, absl::Seconds(5)).data, "COMMIT");
}

TEST(FaultProxyTest, SwitchUpstreamForNewConnections) {
  EchoServer a("A:");
  EchoServer b("B:");
  auto proxy = StartProxy(a.port());
  Client old_conn(proxy->port());
  ASSERT_TRUE(old_conn.Send("x"));
  ASSERT_EQ(old_conn.Read(3, absl::Seconds(5)).data, "A:x");
  proxy->SetUpstream("127.0.0.1", b.port());
  EXPECT_EQ(proxy->upstream().second, b.port());
  Client new_conn(proxy->port());
  ASSERT_TRUE(new_conn.Send("y"));
  EXPECT_EQ(new_conn.Read(3, absl::Seconds(5)).data, "B:y");
  ASSERT_TRUE(old_conn.Send("z"));
  EXPECT_EQ(old_conn.Read(3, absl::Seconds(5)).data, "A:z");
}

TEST(FaultProxyTest, UnreachableUpstreamResetsTheClient) {
  int dead_port = 0;
  {
    EchoServer gone;
    dead_port = gone.port();
  }
  auto proxy = StartProxy(dead_port);
  Client c(proxy->port());
  ASSERT_EQ(c.connect_errno(), 0);
  auto r = c.Read(1, absl::Seconds(5));
  EXPECT_TRUE(r.error == ECONNRESET || r.eof);
  EXPECT_TRUE(testing_support::Eventually(
      [&] { return proxy->counters().fault(FaultKind::kUpstreamUnreachable) == 1; },
      absl::Seconds(5), "upstream_unreachable counted"));
}

TEST(FaultProxyTest, StopsCleanlyWithOpenConnections) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port());
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<Client>(proxy->port()));
    ASSERT_TRUE(clients.back()->Send("x"));
  }
  proxy->SetLatency(absl::Seconds(30));
  ASSERT_TRUE(clients[0]->Send("y"));
  const absl::Time start = absl::Now();
  proxy.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

}  // namespace
}  // namespace network_test

// A TCP fault proxy for one network hop (client -> order service, order -> payment service,
// service -> PostgreSQL). It listens on 127.0.0.1:0 and forwards every accepted connection to an
// upstream host:port, injecting faults that tests switch on and off at run time.
//
// Vocabulary: "client" is the side that connected to the proxy, "upstream" the side the proxy
// connected to. Request bytes flow client -> upstream, response bytes upstream -> client.
//
// Every fault applies to connections that are already open as well as to new ones, because gRPC
// (HTTP/2) keeps a few long-lived connections: "drop responses from now on" must bite on the
// connection the channel already has. Faults with a probability are decided per connection: each
// connection draws one number per fault kind when it is accepted (from the proxy's seeded
// std::mt19937_64), and a fault with probability p applies to it when that number is below p. So a
// run with the same seed and the same connection order hits the same connections.
//
// Thread-safe: every public method may be called from any thread while traffic flows.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace network_test {

enum class Direction { kClientToUpstream, kUpstreamToClient, kBoth };

enum class FaultKind {
  kLatency = 0,          // a chunk was delayed
  kBlackhole,            // a chunk was dropped (or held) by the blackhole
  kReset,                // a connection was reset by ResetOpenConnections
  kCloseAfterBytes,      // a connection was closed (or reset) after its byte budget
  kRefuse,               // a new connection was refused
  kResponseDropped,      // a connection's responses were dropped and its client reset
  kUpstreamUnreachable,  // connecting to the upstream failed; the client was reset
  kHealReset,            // a connection that lost bytes to a blackhole was reset when it healed
  kMatch,                // a request matching SetMatchFault's pattern triggered its action
};
inline constexpr int kFaultKindCount = 9;
const char* FaultKindName(FaultKind kind);

enum class RefuseMode {
  kOff,
  kAcceptThenReset,  // accept, then RST at once (the client sees ECONNRESET)
  kStopListening,    // close the listening socket (the client sees ECONNREFUSED); reopened on kOff
};

// What SetMatchFault does to a connection when client -> upstream bytes contain the pattern.
enum class MatchAction {
  kResetBefore,        // drop the matching chunk and reset both sides: the request never arrives
  kDropResponseAfter,  // deliver it, then drop every answer and reset the client (the request
                       // took effect, the caller never learns): as SetResponseDrop, from that chunk
};

enum class BlackholeMode {
  kDrop,  // read and discard the bytes: the stream is broken for good, so the connection is
          // reset when the blackhole is cleared (as a keepalive timeout eventually would)
  kHold,  // stop forwarding and keep the bytes (a partition): they arrive late once cleared
};

struct ProxyCounters {
  int64_t connections_accepted = 0;  // including refused ones
  int64_t connections_open = 0;
  int64_t bytes_client_to_upstream = 0;  // forwarded (written to the upstream)
  int64_t bytes_upstream_to_client = 0;  // forwarded (written to the client)
  int64_t bytes_dropped = 0;             // read and discarded by a fault
  std::array<int64_t, kFaultKindCount> faults{};

  int64_t fault(FaultKind kind) const { return faults[static_cast<int>(kind)]; }
  std::string DebugString() const;
};

// A gRPC client's side of the HTTP/2 handshake (preface, SETTINGS, WINDOW_UPDATE) is about 82
// bytes; a CreateOrder request is several hundred. See SetResponseDrop.
inline constexpr int64_t kGrpcHandshakeClientBytes = 100;

class FaultProxy {
 public:
  struct Options {
    std::string upstream_host = "127.0.0.1";
    int upstream_port = 0;
    uint64_t seed = 1;
    std::string name = "proxy";  // for logs and DebugString
    absl::Duration connect_timeout = absl::Seconds(2);
    // Bytes a direction may hold in its queue (latency, hold) before the proxy stops reading.
    size_t max_buffered_bytes = 4 << 20;
  };

  // Binds 127.0.0.1:0 and starts accepting.
  static absl::StatusOr<std::unique_ptr<FaultProxy>> Start(const Options& options);
  ~FaultProxy();  // closes every socket and joins every thread
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"
  const std::string& name() const { return options_.name; }

  // New connections go to the new upstream (a restarted service on a new port). Open connections
  // keep their old upstream; call ResetOpenConnections() too to move them.
  void SetUpstream(const std::string& host, int port);
  std::pair<std::string, int> upstream() const;

  // Every chunk read is delivered after latency +- jitter (uniform), order preserved.
  void SetLatency(absl::Duration latency, absl::Duration jitter = absl::ZeroDuration(),
                  double probability = 1.0, Direction direction = Direction::kBoth);
  // Bytes in `direction` are dropped (or held): the caller hits its deadline.
  void SetBlackhole(double probability = 1.0, Direction direction = Direction::kBoth,
                    BlackholeMode mode = BlackholeMode::kDrop);
  // Forward at most `bytes` more bytes in `direction` on each affected connection (counted from
  // this call for open connections, from the start for new ones), then close both sides (FIN,
  // or RST when `reset`).
  void SetCloseAfterBytes(Direction direction, int64_t bytes, double probability = 1.0,
                          bool reset = false);
  // New connections are refused. Returns an error only when kStopListening cannot reopen.
  absl::Status SetRefuse(RefuseMode mode, double probability = 1.0);
  // "Request delivered, response dropped": client -> upstream bytes are forwarded as usual, bytes
  // upstream -> client are dropped; `reset_after` the first dropped byte the client side is reset
  // and the upstream side closed, so the server has finished its handler by then.
  // Dropping starts once the client has sent more than `after_client_bytes` on the connection
  // (counted from its start). 0 drops from the first byte, which on a new gRPC connection drops
  // the server's HTTP/2 SETTINGS: the client then never sends its request (it waits for them).
  // kGrpcHandshakeClientBytes lets the handshake through, so every connection the fault hits
  // carries a request whose answer is lost; open connections are hit at their next answer.
  void SetResponseDrop(double probability = 1.0,
                       absl::Duration reset_after = absl::Milliseconds(200),
                       int64_t after_client_bytes = 0);
  // One-shot: resets (RST via SO_LINGER 0) the open connections on both sides. Returns how many
  // it reset.
  int ResetOpenConnections(double probability = 1.0);

  void ClearLatency();
  void ClearBlackhole();
  void ClearCloseAfterBytes();
  absl::Status ClearRefuse() { return SetRefuse(RefuseMode::kOff); }
  void ClearResponseDrop();
  // Content-triggered fault on client -> upstream bytes, for protocols whose requests travel in
  // clear text: e.g. pattern "COMMIT" on the service -> PostgreSQL hop resets a connection exactly
  // at COMMIT (kResetBefore: the transaction rolls back) or lets the COMMIT through and loses its
  // reply (kDropResponseAfter: committed, the service never hears). Each match fires with
  // `probability` (drawn from the connection's seeded generator), at most `max_count` times in
  // all (-1: no limit). A pattern split across two reads is still found.
  void SetMatchFault(const std::string& pattern, MatchAction action, double probability = 1.0,
                     int64_t max_count = -1, absl::Duration reset_after = absl::Milliseconds(200));
  void ClearMatchFault();
  // Clears every fault (the upstream stays). Returns an error only if listening cannot resume.
  absl::Status ClearAll();

  // Reseeds the generator that draws per-connection dice and per-connection latency generators.
  void Reseed(uint64_t seed);

  ProxyCounters counters() const;
  // Waits until no connection is open (or the timeout passes); true when none is open.
  bool WaitForNoOpenConnections(absl::Duration timeout) const;

 private:
  struct Connection;
  struct Faults {
    uint64_t generation = 0;
    // latency
    double latency_p = 0;
    Direction latency_dir = Direction::kBoth;
    absl::Duration latency = absl::ZeroDuration();
    absl::Duration jitter = absl::ZeroDuration();
    // blackhole
    double blackhole_p = 0;
    Direction blackhole_dir = Direction::kBoth;
    BlackholeMode blackhole_mode = BlackholeMode::kDrop;
    // close after bytes
    double close_p = 0;
    Direction close_dir = Direction::kBoth;
    int64_t close_bytes = 0;
    bool close_reset = false;
    uint64_t close_generation = 0;  // changes when SetCloseAfterBytes is called
    // refuse
    RefuseMode refuse = RefuseMode::kOff;
    double refuse_p = 0;
    // response drop
    double response_drop_p = 0;
    absl::Duration response_drop_reset_after = absl::ZeroDuration();
    int64_t response_drop_after_client_bytes = 0;
    // match
    std::string match_pattern;  // empty: off
    MatchAction match_action = MatchAction::kResetBefore;
    double match_p = 0;
    absl::Duration match_reset_after = absl::ZeroDuration();
  };

  explicit FaultProxy(const Options& options);
  absl::Status Listen(int port);
  void AcceptLoop();
  void ConnectionLoop(Connection* conn);
  void Wake(Connection* conn);
  void WakeAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BumpGeneration() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountFault(FaultKind kind, int64_t n = 1);
  void ReapFinished(bool all);
  Faults SnapshotFaults(uint64_t* generation) const;

  const Options options_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  int wake_pipe_[2] = {-1, -1};  // wakes the accept loop
  std::thread accept_thread_;

  mutable absl::Mutex mu_;
  std::string upstream_host_ ABSL_GUARDED_BY(mu_);
  int upstream_port_ ABSL_GUARDED_BY(mu_) = 0;
  Faults faults_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> match_budget_{0};  // matches left to fire; -1: no limit
  bool TakeMatchBudget();
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  uint64_t next_connection_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Listening state, applied by the accept loop: wanted vs applied.
  bool want_listening_ ABSL_GUARDED_BY(mu_) = true;
  bool listening_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status listen_error_ ABSL_GUARDED_BY(mu_);
  int listen_fd_ = -1;  // owned by the accept loop after Start

  mutable absl::Mutex counters_mu_;
  ProxyCounters counters_ ABSL_GUARDED_BY(counters_mu_);
};

}  // namespace network_test

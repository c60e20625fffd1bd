// Cross-process wake-ups for relays. NOTIFY is sent from its own connection after the business
// transaction has committed (never inside it: a NOTIFY in the order transaction would serialise
// every commit on the notification queue lock), and bursts are coalesced into one NOTIFY.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/pg/connection.h"

namespace orders {

inline constexpr char kOutboxChannel[] = "outbox_events";

class OutboxNotifier {
 public:
  // NOTIFY is transactional, so `conninfo` may point at a transaction-mode pooler.
  OutboxNotifier(std::string conninfo, pg::ConnectOptions options);
  ~OutboxNotifier();
  // Asks for one NOTIFY soon; many calls while one is in flight become one more.
  void Signal();

 private:
  void Run();
  const std::string conninfo_;
  const pg::ConnectOptions options_;
  absl::Mutex mu_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class OutboxListener {
 public:
  // Calls `on_notify` for every NOTIFY on the outbox channel; reconnects on failure. LISTEN is
  // session state: `conninfo` must reach the PostgreSQL server directly (not a transaction-mode
  // pooler, where the listening session is another client's next moment). Without
  // notifications the relay still finds work by polling.
  OutboxListener(std::string conninfo, pg::ConnectOptions options, std::function<void()> on_notify);
  ~OutboxListener();

 private:
  void Run();
  const std::string conninfo_;
  const pg::ConnectOptions options_;
  std::function<void()> on_notify_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace orders

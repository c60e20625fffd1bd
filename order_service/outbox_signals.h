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

namespace orders {

inline constexpr char kOutboxChannel[] = "outbox_events";

class OutboxNotifier {
 public:
  explicit OutboxNotifier(std::string conninfo);
  ~OutboxNotifier();
  // Asks for one NOTIFY soon; many calls while one is in flight become one more.
  void Signal();

 private:
  void Run();
  const std::string conninfo_;
  absl::Mutex mu_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class OutboxListener {
 public:
  // Calls `on_notify` for every NOTIFY on the outbox channel; reconnects on failure.
  OutboxListener(std::string conninfo, std::function<void()> on_notify);
  ~OutboxListener();

 private:
  void Run();
  const std::string conninfo_;
  std::function<void()> on_notify_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace orders

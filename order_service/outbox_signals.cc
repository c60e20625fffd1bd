#include "order_service/outbox_signals.h"

#include <poll.h>

#include "absl/time/clock.h"
#include "common/pg/connection.h"
#include "order_service/order_sql.h"

namespace orders {
OutboxNotifier::OutboxNotifier(std::string conninfo, pg::ConnectOptions options)
    : conninfo_(std::move(conninfo)), options_(options), thread_([this] { Run(); }) {}

OutboxNotifier::~OutboxNotifier() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void OutboxNotifier::Signal() {
  absl::MutexLock lock(&mu_);
  pending_ = true;
}

void OutboxNotifier::Run() {
  std::unique_ptr<pg::Connection> conn;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_ || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      pending_ = false;
    }
    if (!conn || conn->broken()) {
      auto opened = pg::Connection::Open(conninfo_, options_);
      if (!opened.ok()) {
        absl::SleepFor(absl::Milliseconds(200));  // relays still poll; try again later
        continue;
      }
      conn = std::move(*opened);
    }
    (void)conn->Exec(sql::kNotify, {kOutboxChannel});
  }
}

OutboxListener::OutboxListener(std::string conninfo, pg::ConnectOptions options,
                               std::function<void()> on_notify)
    : conninfo_(std::move(conninfo)),
      options_(options),
      on_notify_(std::move(on_notify)),
      thread_([this] { Run(); }) {}

OutboxListener::~OutboxListener() {
  stopping_ = true;
  thread_.join();
}

void OutboxListener::Run() {
  std::unique_ptr<pg::Connection> conn;
  while (!stopping_) {
    if (!conn || conn->broken()) {
      auto opened = pg::Connection::Open(conninfo_, options_);
      if (!opened.ok() || !(*opened)->ExecScript("LISTEN outbox_events").ok()) {
        absl::SleepFor(absl::Milliseconds(200));
        continue;
      }
      conn = std::move(*opened);
      on_notify_();  // events may have arrived while we were not listening
    }
    pollfd fd{conn->socket(), POLLIN, 0};
    if (poll(&fd, 1, 100) > 0 && conn->ConsumeNotifications() > 0) on_notify_();
  }
}

}  // namespace orders

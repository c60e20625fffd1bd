// Background order load for the tests that fail a database under traffic (pg_failover,
// pg_readonly): threads create one-item orders through the client library until stopped, and
// what happened is counted. Header-only: only the tests that link orders_client use it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/orders_client.h"
#include "gtest/gtest.h"
#include "tests/support/health.h"
#include "tests/support/order_builders.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace testing_support {

// Client options for a load that must ride out a fault: retries until the 60 s overall deadline
// (no attempt limit), backing off 50 ms to 500 ms.
inline orders_client::ClientOptions RetryingUntilDeadline(const std::string& target) {
  orders_client::ClientOptions options;
  options.target = target;
  options.max_attempts = 0;
  options.overall_timeout = absl::Seconds(60);
  options.backoff = {absl::Milliseconds(50), absl::Milliseconds(500), 2.0};
  return options;
}

// A RetryingUntilDeadline client on the order_service at `order_addr`, once that reports
// readiness SERVING (within 5 s; DEADLINE_EXCEEDED otherwise).
inline absl::StatusOr<std::unique_ptr<orders_client::OrdersClient>> RetryingClientOnceReady(
    const std::string& order_addr) {
  if (!HealthBecomes(order_addr, "", grpc::health::v1::HealthCheckResponse::SERVING,
                     absl::Seconds(5), "order_service ready")) {
    return absl::DeadlineExceededError("order_service at " + order_addr + " not ready in 5 s");
  }
  return orders_client::OrdersClient::Create(RetryingUntilDeadline(order_addr));
}

class OrderLoad {
 public:
  // Starts `threads` threads; thread t creates orders for customer "<prefix><t>", the i-th at
  // 100 + i minor units, one after another through `client` (which outlives this).
  OrderLoad(orders_client::OrdersClient& client, int threads, const std::string& prefix) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, &client, prefix, t] {
        for (int i = 0; !stop_.load(); ++i) {
          orders_client::CallInfo info;
          auto order =
              client.CreateOrder(OneItemOrder(absl::StrCat(prefix, t), 100 + i), {.info = &info});
          std::lock_guard<std::mutex> lock(mu_);
          if (info.attempts > 1) {
            ++retried_calls_;
            extra_attempts_ += info.attempts - 1;
          }
          if (order.ok()) {
            ids_.push_back(order->id());
            acknowledged_at_.push_back(absl::Now());
          } else {
            ++refused_;
            errors_.push_back(order.status().ToString());
          }
          done_.fetch_add(1);
        }
      });
    }
  }
  ~OrderLoad() { Stop(); }

  // Lets every thread finish its call in flight and joins them.
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // Calls answered so far, acknowledged or not.
  int done() const { return done_.load(); }
  // Whether `n` more calls than `since` are answered within `timeout` (a test waits for
  // progress this way, never for a fixed time).
  ::testing::AssertionResult AnsweredWithin(int since, int n, absl::Duration timeout,
                                            const std::string& what) const {
    return Eventually([&] { return done() >= since + n; }, timeout, what);
  }

  // Calls answered with an error after the client library's retries.
  int refused() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }
  // The first of those errors ("" when none).
  std::string first_error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_.empty() ? "" : errors_.front();
  }
  // Calls that took more than one attempt, and the attempts beyond the first.
  int retried_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return retried_calls_;
  }
  int extra_attempts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return extra_attempts_;
  }
  // The ids of the acknowledged orders.
  std::vector<int64_t> ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }
  // When the first order acknowledged after `t` was; InfiniteFuture when none was.
  absl::Time FirstAcknowledgedAfter(absl::Time t) const {
    std::lock_guard<std::mutex> lock(mu_);
    absl::Time first = absl::InfiniteFuture();
    for (absl::Time at : acknowledged_at_) {
      if (at > t) first = std::min(first, at);
    }
    return first;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> done_{0};
  mutable std::mutex mu_;
  int refused_ = 0, retried_calls_ = 0, extra_attempts_ = 0;
  std::vector<int64_t> ids_;
  std::vector<absl::Time> acknowledged_at_;
  std::vector<std::string> errors_;
  std::vector<std::thread> threads_;
};

// One order for `customer` at `amount` minor units through `client`, then PAID within 20 s (the
// relay charged it): success, or the creation's error or the state it was left in.
inline ::testing::AssertionResult OrderGoesThroughToPaid(orders_client::OrdersClient& client,
                                                         const std::string& customer,
                                                         int64_t amount) {
  auto created = client.CreateOrder(OneItemOrder(customer, amount));
  if (!created.ok()) return ::testing::AssertionFailure() << created.status();
  return Eventually(
      [&] {
        auto got = client.GetOrder(created->id());
        return got.ok() && got->status() == orders::v1::ORDER_STATUS_PAID;
      },
      absl::Seconds(20), "the order PAID");
}

// Every one of `n` acknowledged orders ends PAID in `order_db` (within `timeout`), and
// `payment_db` holds exactly one charge for each: no order lost, none charged twice.
inline void ExpectEveryOrderPaidOnce(const std::string& order_db, const std::string& payment_db,
                                     int64_t n, absl::Duration timeout) {
  constexpr char kPaid[] = "SELECT count(*) FROM orders WHERE status = 2";
  EXPECT_TRUE(
      Eventually([&] { return ScalarInt(order_db, kPaid) == n; }, timeout, "every order PAID"))
      << ScalarInt(order_db, kPaid) << " of " << n;
  EXPECT_EQ(ScalarInt(order_db, "SELECT count(*) FROM orders"), n);
  EXPECT_EQ(ScalarInt(payment_db, "SELECT count(*) FROM charges"), n);
  EXPECT_EQ(ScalarInt(payment_db, "SELECT count(DISTINCT order_id) FROM charges"), n);
}

}  // namespace testing_support

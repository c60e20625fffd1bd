// Relays as separate processes (--role=relay) against the real payment service.
#include <signal.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/client_context.h"
#include "common/errors.h"
#include "common/status_mapper.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

using testing_support::ServiceStack;
constexpr auto& Scalar = testing_support::ScalarOrError;

// Creates `count` orders with `threads` concurrent clients; returns how many were acknowledged.
int CreateOrders(ServiceStack& stack, int count, int threads, const std::string& prefix) {
  std::atomic<int> next{0}, ok{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        const auto request = testing_support::OrderOf(absl::StrCat(prefix, i % 50), "USD",
                                                      {{"sku", 1 + i % 3, 100 + i}});
        const std::string key = absl::StrCat(prefix, "-", i);
        for (int attempt = 0; attempt < 5; ++attempt) {
          auto context =
              common::NewClientContext({.timeout = absl::Seconds(10), .idempotency_key = key});
          orders::v1::CreateOrderResponse response;
          if (stack.orders().CreateOrder(context.get(), request, &response).ok()) {
            ++ok;
            break;
          }
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return ok.load();
}

orders::v1::OutboxStats StatsAt(const std::string& addr) {
  auto stub = orders::v1::OutboxAdmin::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  auto context = common::NewClientContext({});
  orders::v1::OutboxStats stats;
  EXPECT_TRUE(stub->GetOutboxStats(context.get(), {}, &stats).ok());
  return stats;
}

// Every order has exactly one charge at payments, of its own amount.
void ExpectChargedExactlyOnce(ServiceStack& stack, int orders) {
  EXPECT_EQ(Scalar(stack.order_db(), "SELECT count(*) FROM orders WHERE status = 2"),
            std::to_string(orders));
  EXPECT_EQ(Scalar(stack.payment_db(), "SELECT count(*) FROM charges WHERE status = 'SUCCEEDED'"),
            std::to_string(orders));
  EXPECT_EQ(Scalar(stack.payment_db(),
                   "SELECT count(DISTINCT order_id) FROM charges WHERE status = 'SUCCEEDED'"),
            std::to_string(orders));
  EXPECT_EQ(Scalar(stack.order_db(), "SELECT count(*) FROM outbox_events WHERE status <> 'DONE'"),
            "0");
}

TEST(RelayProcessTest, ThreeRelayProcessesChargeTwoThousandOrdersExactlyOnce) {
  auto stack = ServiceStack::Start({.order_args = {"--role=api"}});
  ASSERT_TRUE(stack.ok()) << stack.status();
  std::vector<int> relays;
  for (int i = 0; i < 3; ++i) {
    auto relay = (*stack)->StartExtraOrderProcess({"--role=relay", "--relay_workers=2"});
    ASSERT_TRUE(relay.ok()) << relay.status();
    relays.push_back(*relay);
  }
  const absl::Time start = absl::Now();
  ASSERT_EQ(CreateOrders(**stack, 2000, 8, "three"), 2000);
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar((*stack)->order_db(), "SELECT count(*) FROM orders WHERE status = 2") ==
               "2000";
      },
      absl::Seconds(120), "2,000 paid orders"));
  const absl::Duration took = absl::Now() - start;
  ExpectChargedExactlyOnce(**stack, 2000);
  int64_t claimed = 0, completed = 0, rescheduled = 0, lease_lost = 0;
  for (int r : relays) {
    auto stats = StatsAt((*stack)->extra_addr(r));
    std::printf("relay %d: claimed=%lld completed=%lld rescheduled=%lld p50=%.2fms p99=%.2fms\n", r,
                static_cast<long long>(stats.relay_claimed()),
                static_cast<long long>(stats.relay_completed()),
                static_cast<long long>(stats.relay_rescheduled()), stats.commit_to_sent_p50_ms(),
                stats.commit_to_sent_p99_ms());
    EXPECT_GT(stats.relay_completed(), 0) << "every relay took a share";
    claimed += stats.relay_claimed();
    completed += stats.relay_completed();
    rescheduled += stats.relay_rescheduled();
    lease_lost += stats.relay_lease_lost();
  }
  // Every claim ended in exactly one outcome, each event was completed exactly once, and no
  // relay ever found its lease taken (no event was held by two relays at once). A claim may be
  // repeated only after a transient failure released it (rescheduled).
  EXPECT_EQ(completed, 2000);
  EXPECT_EQ(claimed, completed + rescheduled);
  EXPECT_EQ(lease_lost, 0);
  std::printf("2,000 orders created and charged through 3 relay processes in %s\n",
              absl::FormatDuration(took).c_str());
}

TEST(RelayProcessTest, RelayKilledMidCallIsTakenOverAfterItsLease) {
  // Payments answers slowly, so the relay is surely inside the call when it is killed.
  auto stack =
      ServiceStack::Start({.payment_args = {"--latency_ms=1500"}, .order_args = {"--role=api"}});
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto doomed = (*stack)->StartExtraOrderProcess({"--role=relay", "--relay_lease=3s"});
  ASSERT_TRUE(doomed.ok());
  ASSERT_EQ(CreateOrders(**stack, 1, 1, "kill"), 1);
  ASSERT_TRUE(testing_support::Eventually(
      [&] { return Scalar((*stack)->order_db(), "SELECT attempts FROM outbox_events") == "1"; },
      absl::Seconds(5), "the first relay to claim"));
  absl::SleepFor(absl::Milliseconds(300));
  (*stack)->extra(*doomed).Signal(SIGKILL);
  const absl::Time killed = absl::Now();
  auto heir = (*stack)->StartExtraOrderProcess({"--role=relay", "--relay_lease=3s"});
  ASSERT_TRUE(heir.ok());
  ASSERT_TRUE(testing_support::Eventually(
      [&] { return Scalar((*stack)->order_db(), "SELECT status FROM orders") == "2"; },
      absl::Seconds(20), "the order to be paid by the second relay"));
  const absl::Duration took = absl::Now() - killed;
  EXPECT_GT(took, absl::Seconds(2)) << "taken over before the lease expired";
  // The heir's claim was the second at least (more if a call of its own timed out under load).
  EXPECT_GE(std::stoi(Scalar((*stack)->order_db(), "SELECT attempts FROM outbox_events")), 2);
  ExpectChargedExactlyOnce(**stack, 1);
  std::printf("taken over %s after the kill (lease 3s)\n", absl::FormatDuration(took).c_str());
}

TEST(RelayProcessTest, PaymentServiceDownForTenSecondsLosesNothingAndDrains) {
  // Backoff capped at 1s so the drain starts soon after payments returns; an attempt budget
  // (60) that a 10-second outage cannot exhaust.
  auto stack =
      ServiceStack::Start({.order_args = {"--relay_backoff_max=1s", "--relay_max_attempts=60"}});
  ASSERT_TRUE(stack.ok()) << stack.status();
  (*stack)->KillPayment();
  const absl::Time down = absl::Now();
  ASSERT_EQ(CreateOrders(**stack, 300, 4, "down"), 300);
  absl::SleepFor(absl::Seconds(10) - (absl::Now() - down));
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM orders WHERE status = 1"), "300");
  ASSERT_TRUE((*stack)->StartPayment().ok());
  const absl::Time up = absl::Now();
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar((*stack)->order_db(), "SELECT count(*) FROM orders WHERE status = 2") ==
               "300";
      },
      absl::Seconds(30), "the backlog to drain"));
  std::printf("backlog of 300 drained %s after payments came back\n",
              absl::FormatDuration(absl::Now() - up).c_str());
  ExpectChargedExactlyOnce(**stack, 300);
  EXPECT_EQ(
      Scalar((*stack)->order_db(), "SELECT count(*) FROM outbox_events WHERE status = 'DEAD'"),
      "0");
}

TEST(RelayProcessTest, DeadEventIsListedAndRequeuedThroughTheAdminRpc) {
  // A short retry window: past it the relay asks payments (which holds nothing) and buries.
  auto stack =
      ServiceStack::Start({.order_args = {"--relay_retry_window=1s", "--relay_backoff_initial=10ms",
                                          "--relay_backoff_max=50ms"}});
  ASSERT_TRUE(stack.ok()) << stack.status();
  payments::v1::FaultConfig faults, applied;
  faults.set_fail_before_charge(1.0);
  {
    auto context = common::NewClientContext({});
    ASSERT_TRUE((*stack)->faults().SetFaults(context.get(), faults, &applied).ok());
  }
  ASSERT_EQ(CreateOrders(**stack, 1, 1, "dead"), 1);
  auto admin = orders::v1::OutboxAdmin::NewStub(
      grpc::CreateChannel((*stack)->order_addr(), grpc::InsecureChannelCredentials()));
  orders::v1::ListOutboxEventsRequest list;
  list.set_status(orders::v1::OUTBOX_EVENT_STATUS_DEAD);
  orders::v1::ListOutboxEventsResponse dead;
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        auto context = common::NewClientContext({});
        dead.Clear();
        return admin->ListOutboxEvents(context.get(), list, &dead).ok() && dead.events_size() == 1;
      },
      absl::Seconds(10), "one DEAD event"));
  EXPECT_GE(dead.events(0).attempts(), 1);
  EXPECT_NE(dead.events(0).last_error().find("no money was taken"), std::string::npos)
      << dead.events(0).last_error();
  {
    // A status outside the enum is refused, never read as "every event".
    orders::v1::ListOutboxEventsRequest unknown;
    unknown.set_status(static_cast<orders::v1::OutboxEventStatus>(7));
    orders::v1::ListOutboxEventsResponse none;
    auto context = common::NewClientContext({});
    grpc::Status refused = admin->ListOutboxEvents(context.get(), unknown, &none);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(common::ErrorReason(common::FromGrpcStatus(refused)), "OUTBOX_EVENT_STATUS_INVALID");
    EXPECT_EQ(none.events_size(), 0);
  }
  faults.set_fail_before_charge(0);
  {
    auto context = common::NewClientContext({});
    ASSERT_TRUE((*stack)->faults().SetFaults(context.get(), faults, &applied).ok());
  }
  orders::v1::RequeueOutboxEventsRequest requeue;
  requeue.add_ids(dead.events(0).id());
  orders::v1::RequeueOutboxEventsResponse requeued;
  {
    auto context = common::NewClientContext({});
    ASSERT_TRUE(admin->RequeueOutboxEvents(context.get(), requeue, &requeued).ok());
  }
  EXPECT_EQ(requeued.requeued(), 1);
  ASSERT_TRUE(testing_support::Eventually(
      [&] { return Scalar((*stack)->order_db(), "SELECT status FROM orders") == "2"; },
      absl::Seconds(10), "the re-queued order to be paid"));
  ExpectChargedExactlyOnce(**stack, 1);
}

// Operator RPCs list every tenant's events: with tenant tokens they need an admin credential of
// their own; a tenant's token, no token or a wrong one never opens them.
TEST(RelayProcessTest, OutboxAdminNeedsAnAdminCredential) {
  auto admin_call = [](ServiceStack& stack, const std::string& token) {
    auto admin = orders::v1::OutboxAdmin::NewStub(
        grpc::CreateChannel(stack.order_addr(), grpc::InsecureChannelCredentials()));
    std::vector<grpc::Status> out;
    {
      auto context = common::NewClientContext({.bearer_token = token});
      orders::v1::ListOutboxEventsResponse r;
      out.push_back(admin->ListOutboxEvents(context.get(), {}, &r));
    }
    {
      auto context = common::NewClientContext({.bearer_token = token});
      orders::v1::RequeueOutboxEventsResponse r;
      out.push_back(admin->RequeueOutboxEvents(context.get(), {}, &r));
    }
    {
      auto context = common::NewClientContext({.bearer_token = token});
      orders::v1::OutboxStats r;
      out.push_back(admin->GetOutboxStats(context.get(), {}, &r));
    }
    return out;
  };
  auto reasons = [](const std::vector<grpc::Status>& calls) {
    std::vector<std::string> out;
    for (const grpc::Status& s : calls) {
      out.push_back(s.ok() ? "OK" : common::ErrorReason(common::FromGrpcStatus(s)).value_or("?"));
    }
    return out;
  };
  const std::vector<std::string> unauthenticated(3, "UNAUTHENTICATED");
  {
    auto stack = ServiceStack::Start(
        {.order_args = {"--tokens=tenant-tok=acme", "--admin_tokens=ops-tok=oncall"}});
    ASSERT_TRUE(stack.ok()) << stack.status();
    EXPECT_EQ(reasons(admin_call(**stack, "")), unauthenticated);
    EXPECT_EQ(reasons(admin_call(**stack, "tenant-tok")), unauthenticated);
    EXPECT_EQ(reasons(admin_call(**stack, "wrong")), unauthenticated);
    EXPECT_EQ(reasons(admin_call(**stack, "ops-tok")), std::vector<std::string>(3, "OK"));
  }
  {
    // Tenant tokens but no admin token: closed to everyone, with a reason that says why.
    auto stack = ServiceStack::Start({.order_args = {"--tokens=tenant-tok=acme"}});
    ASSERT_TRUE(stack.ok()) << stack.status();
    for (const grpc::Status& s : admin_call(**stack, "tenant-tok")) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
      EXPECT_EQ(common::ErrorReason(common::FromGrpcStatus(s)), "ADMIN_CREDENTIAL_REQUIRED");
    }
  }
}

// Two deployments (their own orders databases) charging through one payment account: both
// number their orders from 1, yet neither is ever paid with the other's charge, a different
// order 2 is not refused as a reused key, and a cancel refunds only its own money.
TEST(RelayProcessTest, TwoDeploymentsOnOnePaymentAccountNeverShareACharge) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto other_db = testing_support::CreateTestDatabase("deployment_b");
  ASSERT_TRUE(other_db.ok()) << other_db.status();
  auto b_index = (*stack)->StartExtraOrderProcess({"--database=" + *other_db, "--role=all"});
  ASSERT_TRUE(b_index.ok()) << b_index.status();
  auto b = orders::v1::OrderService::NewStub(
      grpc::CreateChannel((*stack)->extra_addr(*b_index), grpc::InsecureChannelCredentials()));
  auto create = [](orders::v1::OrderService::Stub& stub, const std::string& key, int64_t price) {
    const orders::v1::CreateOrderRequest request = testing_support::OneItemOrder("c", price);
    auto context = common::NewClientContext({.timeout = absl::Seconds(10), .idempotency_key = key});
    orders::v1::CreateOrderResponse response;
    EXPECT_TRUE(stub.CreateOrder(context.get(), request, &response).ok());
    return response.order().id();
  };
  const int64_t a1 = create((*stack)->orders(), "a-1", 1000);
  const int64_t b1 = create(*b, "b-1", 1000);
  const int64_t b2 = create(*b, "b-2", 2500);
  ASSERT_EQ(a1, b1) << "both databases number orders alike";
  const std::string a_db = (*stack)->order_db();
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar(a_db, "SELECT count(*) FROM orders WHERE status = 2") == "1" &&
               Scalar(*other_db, "SELECT count(*) FROM orders WHERE status = 2") == "2";
      },
      absl::Seconds(20), "all three orders to be paid"));
  EXPECT_EQ(Scalar(*other_db, "SELECT count(*) FROM outbox_events WHERE status = 'DEAD'"), "0");
  // Three charges, three keys, and each order paid with its own.
  const std::string pay_db = (*stack)->payment_db();
  EXPECT_EQ(Scalar(pay_db,
                   "SELECT count(DISTINCT charge_key) FROM charges "
                   "WHERE status = 'SUCCEEDED'"),
            "3");
  EXPECT_NE(
      Scalar(a_db, "SELECT charge_id FROM orders"),
      Scalar(*other_db, absl::StrCat("SELECT charge_id FROM orders WHERE id = ", b1).c_str()));
  // B cancels its order 1: B's charge is refunded, A's money stays where it belongs.
  {
    orders::v1::CancelOrderRequest cancel;
    cancel.set_id(b1);
    auto context =
        common::NewClientContext({.timeout = absl::Seconds(10), .idempotency_key = "b-cancel"});
    orders::v1::CancelOrderResponse response;
    ASSERT_TRUE(b->CancelOrder(context.get(), cancel, &response).ok());
  }
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar(pay_db, "SELECT count(*) FROM charges WHERE status = 'REFUNDED'") == "1";
      },
      absl::Seconds(20), "B's refund"));
  const std::string b_charge =
      Scalar(*other_db, absl::StrCat("SELECT charge_id FROM orders WHERE id = ", b1).c_str());
  EXPECT_EQ(Scalar(pay_db, "SELECT id FROM charges WHERE status = 'REFUNDED'"), b_charge);
  EXPECT_EQ(Scalar(pay_db, absl::StrCat("SELECT status FROM charges WHERE id = ",
                                        Scalar(a_db, "SELECT charge_id FROM orders"))
                               .c_str()),
            "SUCCEEDED");
  (void)b2;
}

}  // namespace

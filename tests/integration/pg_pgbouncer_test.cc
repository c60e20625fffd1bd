// The services behind PgBouncer in transaction mode (tests/run.sh starts it, 3 server connections
// per database, TEST_PGBOUNCER_CONNINFO), with --prepared_statements=false and the relay's
// LISTEN straight at PostgreSQL (--listen_database). The create -> relay -> PAID path, cancel with
// refund, import and analytics all run through the pooler; the logs hold no statement error; and
// no session setting leaks: afterwards every server connection reads synchronous_commit = on.
#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/orders_client.h"
#include "common/pg/connection.h"
#include "common/pg/migrate.h"
#include "gtest/gtest.h"
#include "order_service/schema.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

constexpr int kServerPoolSize = 3;  // default_pool_size in deploy/local/pgbouncer.sh's use

constexpr auto& Scalar = testing_support::ScalarInt;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// `db` on the pooler: "<pgbouncer conninfo> dbname=<name>".
std::string ThroughPooler(const std::string& direct_db) {
  const std::string cluster = testing_support::ClusterConninfo();
  return testing_support::PgBouncerConninfo() + direct_db.substr(cluster.size());
}

// Opens kServerPoolSize client connections through the pooler, each inside a transaction at the
// same time, so each holds a different server connection; returns synchronous_commit as each
// server connection has it, and checks they were distinct backends.
std::vector<std::string> SynchronousCommitOnEveryServerConnection(const std::string& pooled_db) {
  std::vector<std::unique_ptr<pg::Connection>> conns;
  std::vector<std::string> values;
  std::set<std::string> backends;
  for (int i = 0; i < kServerPoolSize; ++i) {
    auto conn = pg::Connection::Open(pooled_db, {.prepared_statements = false});
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (!conn.ok()) return values;
    EXPECT_TRUE((*conn)->ExecScript("BEGIN").ok());
    auto row = (*conn)->Exec(pg::Query{"show_sync",
                                       "SELECT current_setting('synchronous_commit'), "
                                       "pg_backend_pid()::text"});
    EXPECT_TRUE(row.ok()) << row.status();
    if (!row.ok()) return values;
    values.emplace_back(row->Text(0, 0));
    backends.emplace(row->Text(0, 1));
    conns.push_back(std::move(*conn));
  }
  EXPECT_EQ(backends.size(), static_cast<size_t>(kServerPoolSize));
  for (auto& conn : conns) EXPECT_TRUE(conn->ExecScript("COMMIT").ok());
  return values;
}

TEST(PgBouncerTest, OrdersCancelImportAndAnalyticsRunThroughTheTransactionPooler) {
  ASSERT_FALSE(testing_support::PgBouncerConninfo().empty())
      << "TEST_PGBOUNCER_CONNINFO is not set: run the tests through tests/run.sh";
  testing_support::StackOptions options;
  options.service_conninfo = testing_support::PgBouncerConninfo();
  options.start_order_service = false;
  options.payment_args = {"--prepared_statements=false", "--log_rpcs=false"};
  auto stack = testing_support::ServiceStack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto& s = **stack;
  ASSERT_TRUE(absl::StrContains(s.order_service_db(), testing_support::PgBouncerConninfo()));
  // The relay's LISTEN goes straight to PostgreSQL; everything else through the pooler.
  ASSERT_TRUE(s.StartOrder({"--prepared_statements=false", "--listen_database=" + s.order_db(),
                            "--log_rpcs=false"})
                  .ok());

  orders_client::ClientOptions client_options;
  client_options.target = s.order_addr();
  client_options.max_attempts = 0;
  client_options.overall_timeout = absl::Seconds(60);
  auto client = orders_client::OrdersClient::Create(client_options);
  ASSERT_TRUE(client.ok()) << client.status();

  // 200 orders at once.
  constexpr int kOrders = 200;
  std::vector<int64_t> ids(kOrders, 0);
  std::vector<std::string> errors(kOrders);
  std::atomic<int> retried{0};
  const absl::Time start = absl::Now();
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kOrders; ++i) {
      threads.emplace_back([&, i] {
        orders_client::CallInfo info;
        auto order = (*client)->CreateOrder(
            testing_support::OneItemOrder(absl::StrCat("pooled-", i % 20), 100 + i),
            {.info = &info});
        if (info.attempts > 1) retried.fetch_add(1);
        if (order.ok()) {
          ids[i] = order->id();
        } else {
          errors[i] = order.status().ToString();
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  const absl::Duration created_in = absl::Now() - start;
  for (int i = 0; i < kOrders; ++i) ASSERT_NE(ids[i], 0) << errors[i];
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar(s.order_db(), "SELECT count(*) FROM orders WHERE status = 2") == kOrders;
      },
      absl::Seconds(60), "200 orders PAID"))
      << Scalar(s.order_db(), "SELECT count(*) FROM orders WHERE status = 2");
  const absl::Duration paid_in = absl::Now() - start;
  EXPECT_EQ(Scalar(s.payment_db(), "SELECT count(*) FROM charges"), kOrders);
  EXPECT_EQ(Scalar(s.payment_db(), "SELECT count(DISTINCT order_id) FROM charges"), kOrders);
  std::printf(
      "200 concurrent orders through PgBouncer (transaction mode, %d server connections per "
      "database): created in %s (%d retried), all PAID after %s, %lld charges for %lld orders\n",
      kServerPoolSize, absl::FormatDuration(created_in).c_str(), retried.load(),
      absl::FormatDuration(paid_in).c_str(),
      static_cast<long long>(Scalar(s.payment_db(), "SELECT count(*) FROM charges")),
      static_cast<long long>(
          Scalar(s.payment_db(), "SELECT count(DISTINCT order_id) FROM charges")));

  // Cancel a paid order: the refund goes out through the relay.
  auto cancelled = (*client)->CancelOrder(ids[0], "pooler test");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->status(), orders::v1::ORDER_STATUS_CANCELLED);
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        auto charges = s.ChargesOf(ids[0]);
        return charges.ok() && charges->size() == 1 &&
               (*charges)[0].status() == payments::v1::CHARGE_STATUS_REFUNDED;
      },
      absl::Seconds(20), "the cancelled order's charge refunded"));

  // An import of 30 orders in 3 chunks, all charged.
  std::vector<orders::v1::CreateOrderRequest> imported;
  for (int i = 0; i < 30; ++i) {
    imported.push_back(testing_support::OneItemOrder("pooled-import", 500 + i));
  }
  auto summary = (*client)->ImportOrders("pooled-import-1", imported, 10);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->last_order_id() - summary->first_order_id() + 1, 30);
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar(s.order_db(), "SELECT count(*) FROM orders WHERE status = 2") ==
               kOrders - 1 + 30;
      },
      absl::Seconds(60), "imported orders PAID"));

  // Analytics: the projector runs through the pooler too.
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        auto analytics = (*client)->GetOrderAnalytics("pooled-import");
        return analytics.ok() && analytics->order_count() == 30 && analytics->paid_count() == 30;
      },
      absl::Seconds(30), "analytics of the imported customer"));
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        auto analytics = (*client)->GetOrderAnalytics("pooled-0");
        return analytics.ok() && analytics->order_count() == 10 &&
               analytics->cancelled_count() == 1;
      },
      absl::Seconds(30), "analytics with the cancellation"));

  // No statement failed in either service.
  for (const char* log : {"/order.log", "/payment.log"}) {
    const std::string text = ReadFile(s.dir() + log);
    EXPECT_FALSE(absl::StrContains(text, "prepared statement")) << log << "\n" << text;
    EXPECT_FALSE(absl::StrContains(text, "postgres:")) << log << "\n" << text;
  }

  // No session setting leaked (the relay's synchronous_commit = off is per transaction).
  for (const std::string& db : {s.order_db(), s.payment_db()}) {
    for (const std::string& value : SynchronousCommitOnEveryServerConnection(ThroughPooler(db))) {
      EXPECT_EQ(value, "on") << db;
    }
  }
}

// What the documentation warns about: named prepared statements through a transaction pooler.
// PgBouncer hands the same server connection to the next client (LIFO), so a second client
// preparing the same name finds it already there (42P05), while unnamed statements just work.
TEST(PgBouncerTest, NamedPreparedStatementsCollideAcrossClientsUnnamedOnesDoNot) {
  ASSERT_FALSE(testing_support::PgBouncerConninfo().empty())
      << "TEST_PGBOUNCER_CONNINFO is not set: run the tests through tests/run.sh";
  auto db = testing_support::CreateTestDatabase("pooled_prepare");
  ASSERT_TRUE(db.ok()) << db.status();
  const std::string pooled = ThroughPooler(*db);
  constexpr pg::Query kQuery{"pooled_probe", "SELECT $1::int + 1"};

  auto first = pg::Connection::Open(pooled, {.prepared_statements = true});
  auto second = pg::Connection::Open(pooled, {.prepared_statements = true});
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE((*first)->Exec(kQuery, {1}).ok());
  auto collided = (*second)->Exec(kQuery, {1});
  ASSERT_FALSE(collided.ok());
  EXPECT_EQ(pg::SqlStateOf(collided.status()), "42P05") << collided.status();

  auto third = pg::Connection::Open(pooled, {.prepared_statements = false});
  auto fourth = pg::Connection::Open(pooled, {.prepared_statements = false});
  ASSERT_TRUE(third.ok() && fourth.ok());
  for (int i = 0; i < 5; ++i) {
    auto a = (*third)->Exec(kQuery, {i});
    auto b = (*fourth)->Exec(kQuery, {i});
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->Int(0, 0), i + 1);
    EXPECT_EQ(b->Int(0, 0), i + 1);
  }
}

// Migrations through the pooler: several at once on one database, each finishes, the schema is
// applied once, and no advisory lock outlives them (a session lock would stay on whichever server
// connection took it, and block the next start-up for ever).
TEST(PgBouncerTest, ConcurrentMigrationsThroughThePoolerApplyOnceAndLeaveNoLock) {
  ASSERT_FALSE(testing_support::PgBouncerConninfo().empty())
      << "TEST_PGBOUNCER_CONNINFO is not set: run the tests through tests/run.sh";
  auto db = testing_support::CreateTestDatabase("pooled_migrate");
  ASSERT_TRUE(db.ok()) << db.status();
  constexpr int kStarters = 6;  // more than the pooler's 3 server connections
  std::vector<absl::Status> results(kStarters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStarters; ++i) {
    threads.emplace_back([&, i] {
      auto conn = pg::Connection::Open(ThroughPooler(*db), {.prepared_statements = false});
      results[i] =
          conn.ok() ? pg::Migrate(**conn, "orders", orders::OrderMigrations()) : conn.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(Scalar(*db, "SELECT count(*) FROM schema_migrations WHERE component = 'orders'"),
            static_cast<int64_t>(orders::OrderMigrations().size()));
  // This database's locks only: tests running beside this one migrate their own databases in
  // the same cluster (one failed CI-style run saw another test's migration lock here).
  EXPECT_EQ(Scalar(*db,
                   "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                   "(SELECT oid FROM pg_database WHERE datname = current_database())"),
            0);
}

}  // namespace

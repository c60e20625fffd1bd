// orderctl end to end against the real pair: create (and a replay with the same key), get, list,
// address, cancel, import, analytics, outbox stats, health; --json output parsed as the API's
// messages; errors exit 1 with code and reason, usage errors exit 2.
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"
#include "tests/support/deprecated_fields.h"
#include "tests/support/import_chunks.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

using ::testing::HasSubstr;

struct CtlRun {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

std::string Quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class OpsOrderctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto stack = testing_support::ServiceStack::Start({});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
    dir_ = testing_support::MakeTempDir("orderctl");
  }

  // Runs orderctl with ORDER_ADDR pointing at the stack (the env fallback of --addr).
  CtlRun Orderctl(const std::vector<std::string>& args) {
    const std::string err_path = dir_ + "/stderr";
    std::vector<std::string> quoted;
    for (const auto& a : args) quoted.push_back(Quote(a));
    const std::string command = absl::StrCat("ORDER_ADDR=", stack_->order_addr(), " ", ORDERCTL_BIN,
                                             " ", absl::StrJoin(quoted, " "), " 2>", err_path);
    CtlRun run;
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return run;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) run.out.append(buf, n);
    const int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    FILE* err = std::fopen(err_path.c_str(), "r");
    if (err) {
      for (size_t n; (n = fread(buf, 1, sizeof buf, err)) > 0;) run.err.append(buf, n);
      std::fclose(err);
    }
    return run;
  }

  template <typename Message>
  Message Parse(const std::string& json) {
    Message message;
    auto status = google::protobuf::util::JsonStringToMessage(json, &message);
    EXPECT_TRUE(status.ok()) << status.ToString() << " parsing " << json;
    return message;
  }

  std::unique_ptr<testing_support::ServiceStack> stack_;
  std::string dir_;
};

TEST_F(OpsOrderctlTest, CreateGetListAddressCancelWithJsonOutput) {
  CtlRun created = Orderctl({"--json", "create", "--customer=ctl-alice",
                             "--items=book:2:1250,pen:1:300", "--currency=USD"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto wrapper = Parse<google::protobuf::Struct>(created.out);
  const std::string key = wrapper.fields().at("idempotency_key").string_value();
  EXPECT_EQ(key.size(), 32u);
  EXPECT_FALSE(wrapper.fields().at("replayed").bool_value());
  EXPECT_EQ(wrapper.fields().at("attempts").number_value(), 1);
  // The embedded order is an orders.v1.Order.
  std::string order_json;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(wrapper.fields().at("order"), &order_json).ok());
  auto order = Parse<orders::v1::Order>(order_json);
  ASSERT_GT(order.id(), 0);
  EXPECT_EQ(order.amount_cents(), 2 * 1250 + 300);
  EXPECT_EQ(order.items_size(), 2);
  const std::string id = absl::StrCat(order.id());

  // Same key again: the same order, replayed.
  CtlRun again = Orderctl({"--json", "create", "--customer=ctl-alice",
                           "--items=book:2:1250,pen:1:300", "--key=" + key});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto replay = Parse<google::protobuf::Struct>(again.out);
  EXPECT_TRUE(replay.fields().at("replayed").bool_value());
  EXPECT_EQ(replay.fields().at("order").struct_value().fields().at("id").string_value(), id);

  // get: PAID shortly after.
  orders::v1::Order got;
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        CtlRun r = Orderctl({"--json", "get", id});
        if (r.exit_code != 0) return false;
        got = Parse<orders::v1::Order>(r.out);
        return got.status() == orders::v1::ORDER_STATUS_PAID;
      },
      absl::Seconds(15), "orderctl get shows PAID"));
  EXPECT_GT(got.charge_id(), 0);

  // list: JSON is a ListOrdersResponse; the text form is a table.
  CtlRun listed = Orderctl({"--json", "list", "--customer=ctl-alice", "--status=paid"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto page = Parse<orders::v1::ListOrdersResponse>(listed.out);
  ASSERT_EQ(page.orders_size(), 1);
  EXPECT_EQ(page.orders(0).id(), order.id());
  CtlRun table = Orderctl({"list", "--customer=ctl-alice", "--all"});
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.out, HasSubstr("STATUS"));
  EXPECT_THAT(table.out, HasSubstr("28.00 USD"));

  CtlRun address = Orderctl({"--json", "address", id, "--name=Alice", "--line1=1 Main St",
                             "--city=Tokyo", "--postal_code=100-0001", "--country=JP"});
  ASSERT_EQ(address.exit_code, 0) << address.err;
  EXPECT_EQ(Parse<orders::v1::Order>(address.out).shipping_address().city(), "Tokyo");

  CtlRun cancelled = Orderctl({"--json", "cancel", id, "--reason=changed my mind"});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  auto cancel = Parse<google::protobuf::Struct>(cancelled.out);
  EXPECT_EQ(cancel.fields().at("order").struct_value().fields().at("status").string_value(),
            "ORDER_STATUS_CANCELLED");

  // Text output for people.
  CtlRun text = Orderctl({"get", id});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("order ", id, "  CANCELLED")));
  EXPECT_THAT(text.out, HasSubstr("ship to    Alice"));

  // Cancelling again with a new key: deterministic refusal, exit 1, code and reason on stderr.
  CtlRun twice = Orderctl({"cancel", id});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_THAT(twice.err, HasSubstr("FAILED_PRECONDITION ORDER_ALREADY_CANCELLED"));

  CtlRun stats = Orderctl({"--json", "outbox", "stats"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  auto outbox = Parse<orders::v1::OutboxStats>(stats.out);
  EXPECT_GE(outbox.relay_completed(), 1);
  CtlRun events = Orderctl({"--json", "outbox", "list", "--status=dead"});
  ASSERT_EQ(events.exit_code, 0) << events.err;
  EXPECT_EQ(Parse<orders::v1::ListOutboxEventsResponse>(events.out).events_size(), 0);
  CtlRun requeue = Orderctl({"outbox", "requeue"});
  EXPECT_EQ(requeue.exit_code, 0);
  EXPECT_THAT(requeue.out, HasSubstr("requeued 0 events"));
  CtlRun health = Orderctl({"health"});
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_THAT(health.out, HasSubstr("SERVING"));
  CtlRun liveness = Orderctl({"health", "liveness"});
  EXPECT_EQ(liveness.exit_code, 0) << liveness.err;
  EXPECT_THAT(liveness.out, HasSubstr("SERVING"));
  CtlRun unknown = Orderctl({"health", "no-such-name"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND"));
}

TEST_F(OpsOrderctlTest, ImportInChunksResumesWithTheSameIdAndAnalyticsCatchUp) {
  const std::string file = dir_ + "/orders.jsonl";
  {
    FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    for (int i = 1; i <= 5; ++i) {
      std::fprintf(f,
                   "{\"customer_id\":\"ctl-imp\",\"currency\":\"USD\",\"payment_method\":"
                   "\"pm_card_visa\",\"items\":[{\"sku\":\"s%d\",\"quantity\":1,"
                   "\"unit_price_cents\":%d}]}\n\n",
                   i, 100 * i);
    }
    std::fclose(f);
  }
  CtlRun first = Orderctl(
      {"--json", "import", "--file=" + file, "--import_id=ctl-import-1", "--chunk_size=2"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto summary = Parse<orders::v1::ImportSummary>(first.out);
  EXPECT_EQ(summary.order_count(), 5);
  EXPECT_EQ(summary.chunk_count(), 3);
  EXPECT_EQ(testing_support::AmountCents(summary), 1500);
  // Running it again (as after an interruption) creates nothing new.
  CtlRun again = Orderctl(
      {"--json", "import", "--file=" + file, "--import_id=ctl-import-1", "--chunk_size=2"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto second = Parse<orders::v1::ImportSummary>(again.out);
  EXPECT_EQ(second.first_order_id(), summary.first_order_id());
  EXPECT_EQ(second.last_order_id(), summary.last_order_id());
  CtlRun listed = Orderctl({"--json", "list", "--customer=ctl-imp", "--all"});
  ASSERT_EQ(listed.exit_code, 0);
  EXPECT_EQ(Parse<orders::v1::ListOrdersResponse>(listed.out).orders_size(), 5);

  orders::v1::OrderAnalytics analytics;
  EXPECT_TRUE(testing_support::Eventually(
      [&] {
        CtlRun r = Orderctl({"--json", "analytics", "ctl-imp"});
        if (r.exit_code != 0) return false;
        analytics = Parse<orders::v1::OrderAnalytics>(r.out);
        return analytics.order_count() == 5 && analytics.paid_count() == 5;
      },
      absl::Seconds(20), "analytics show 5 paid orders"))
      << analytics.DebugString();
  CtlRun text = Orderctl({"analytics", "ctl-imp"});
  EXPECT_THAT(text.out, HasSubstr("customer ctl-imp"));
}

// orderctl reconcile against the real services: clean after a paid order; an order left
// CREATED while its charge succeeded is found (exit 1) and repaired with --repair.
TEST_F(OpsOrderctlTest, ReconcileFindsAndRepairsAnOrderLeftUnpaid) {
  CtlRun created = Orderctl({"--json", "create", "--customer=ctl-rec", "--items=book:1:1250"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string db = stack_->order_db();
  auto scalar = [&](const char* sql) { return *testing_support::QueryScalar(db, sql); };
  ASSERT_TRUE(
      testing_support::Eventually([&] { return scalar("SELECT status FROM orders") == "2"; },
                                  absl::Seconds(10), "the order to be paid"));
  CtlRun clean = Orderctl({"--json", "reconcile"});
  ASSERT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  auto report = Parse<orders::v1::ReconcileReport>(clean.out);
  EXPECT_EQ(report.orders_checked(), 1);
  EXPECT_EQ(report.charges_checked(), 1);
  EXPECT_EQ(report.mismatches_size(), 0);

  // As if the relay had given up after payments charged: the order CREATED, its event DEAD.
  scalar(
      "WITH a AS (UPDATE orders SET status = 1, charge_id = 0 RETURNING 1), "
      "b AS (UPDATE outbox_events SET status = 'DEAD' RETURNING 1) SELECT 1");
  CtlRun found = Orderctl({"reconcile"});
  EXPECT_EQ(found.exit_code, 1) << found.out << found.err;
  EXPECT_THAT(found.out, HasSubstr("ORDER_NOT_PAID_CHARGE_SUCCEEDED"));
  CtlRun repaired = Orderctl({"reconcile", "--repair"});
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  EXPECT_THAT(repaired.out, HasSubstr("(repaired)"));
  EXPECT_EQ(scalar("SELECT status FROM orders"), "2");
  EXPECT_EQ(Orderctl({"reconcile"}).exit_code, 0);
}

// A chunk over the server's message limit (16 MiB) is refused by gRPC the same way every time:
// orderctl makes one attempt, says so, and points at --chunk_size instead of a resume.
TEST_F(OpsOrderctlTest, ImportOfAChunkOverTheMessageLimitFailsAfterOneAttempt) {
  const std::string file = dir_ + "/large.jsonl";
  constexpr int kOrders = 2300;  // about 17.6 MB as one chunk
  {
    FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    for (int i = 0; i < kOrders; ++i) {
      std::string line;
      ASSERT_TRUE(
          google::protobuf::util::MessageToJsonString(testing_support::LargestValidOrder(i), &line)
              .ok());
      std::fprintf(f, "%s\n", line.c_str());
    }
    std::fclose(f);
  }
  const absl::Time start = absl::Now();
  CtlRun run =
      Orderctl({"--json", "--timeout=60s", "--attempt_timeout=30s", "import", "--file=" + file,
                "--import_id=ctl-too-large", absl::StrCat("--chunk_size=", kOrders)});
  std::printf("orderctl took %s: %s\n", absl::FormatDuration(absl::Now() - start).c_str(),
              run.err.c_str());
  EXPECT_EQ(run.exit_code, 1);
  auto error = Parse<google::protobuf::Struct>(run.out);
  EXPECT_EQ(error.fields().at("error").string_value(), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(error.fields().at("attempts").number_value(), 1);
  EXPECT_THAT(run.err, HasSubstr("smaller --chunk_size"));
  EXPECT_THAT(run.err, ::testing::Not(HasSubstr("resume safely")));
}

TEST_F(OpsOrderctlTest, ErrorsAndUsage) {
  CtlRun missing = Orderctl({"get", "987654"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND"));
  CtlRun json_error = Orderctl({"--json", "get", "987654"});
  EXPECT_EQ(json_error.exit_code, 1);
  EXPECT_EQ(Parse<google::protobuf::Struct>(json_error.out).fields().at("error").string_value(),
            "NOT_FOUND");
  CtlRun invalid = Orderctl({"create", "--customer=", "--items=book:1:100"});
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_THAT(invalid.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(invalid.err, HasSubstr("invalid field: customer_id"));
  EXPECT_EQ(Orderctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Orderctl({"create", "--customer=x", "--items=book"}).exit_code, 2);
  EXPECT_EQ(Orderctl({"get"}).exit_code, 2);
  CtlRun unreachable = Orderctl({"--addr=127.0.0.1:1", "--timeout=1s", "get", "1"});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_THAT(unreachable.err, HasSubstr("UNAVAILABLE"));
}

// Secrets reach the binaries through the environment (deploy/k8s: ORDER_TOKENS from a Secret).
// A flag whose default came from the environment would print it in --help / --helpfull, which
// ends up in terminals, CI logs and bug reports; these flags read the environment after parsing
// (common::SecretFlagOrEnv), and still use it.
TEST(OpsSecretsTest, HelpNeverPrintsASecretFromTheEnvironment) {
  struct Binary {
    const char* path;
    const char* env;
    const char* flag;  // printed by --helpfull: the help did run
  };
  const std::string env =
      "ORDER_TOKENS=s3cretTOK=acme ORDER_ADMIN_TOKENS=adm1nTOK=ops PAYMENT_TOKEN=paytok9 "
      "ORDER_DATABASE='password=hunter2' ORDER_LISTEN_DATABASE='password=hunter3' "
      "PAYMENT_DATABASE='password=hunter4' ORDER_TOKEN=ctltok7 ORDER_ADMIN_TOKEN=ctladm8 "
      "FAILPOINTS=order_after_commit";
  for (const Binary& b : {Binary{ORDER_SERVICE_BIN, "order", "admin_tokens"},
                          Binary{PAYMENT_SERVICE_BIN, "payment", "database"},
                          Binary{ORDERCTL_BIN, "orderctl", "admin_token"}}) {
    SCOPED_TRACE(b.env);
    FILE* pipe = popen(absl::StrCat(env, " ", b.path, " --helpfull 2>&1").c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
    pclose(pipe);
    EXPECT_THAT(out, testing::HasSubstr(absl::StrCat("-", b.flag, " ")));
    for (const char* secret : {"s3cretTOK", "adm1nTOK", "paytok9", "hunter2", "hunter3", "hunter4",
                               "ctltok7", "ctladm8", "order_after_commit\""}) {
      EXPECT_THAT(out, testing::Not(testing::HasSubstr(secret)));
    }
  }
}

}  // namespace

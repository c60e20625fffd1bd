// The patterns of the source documents, each as a working RPC against real services:
// named import chunks (seed 003 pattern 4, with its arithmetic), the eventually consistent
// analytics projection with an inbox (seed 000 結果整合性, seed 003 pattern 5), tenancy.
#include <cmath>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/client_context.h"
#include "common/errors.h"
#include "common/pg/pool.h"
#include "common/status_mapper.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "order_service/analytics_projector.h"
#include "tests/support/deprecated_fields.h"
#include "tests/support/money.h"
#include "tests/support/order_builders.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"
#include "tests/support/wait.h"

namespace {

using testing_support::AmountCents;
using testing_support::MoneyTexts;
using testing_support::PaidCents;

using testing_support::ServiceStack;
constexpr auto& Scalar = testing_support::ScalarOrError;

std::string ReasonOf(const grpc::Status& status) {
  return common::ErrorReason(common::FromGrpcStatus(status)).value_or("");
}

orders::v1::CreateOrderRequest Order(const std::string& customer, int64_t cents,
                                     const std::string& method = "pm_card_visa") {
  return testing_support::OrderOf(customer, "JPY", {{"tea", 1, cents}}, method);
}

orders::v1::PutImportChunkRequest Chunk(const std::string& import_id, int index, int orders) {
  orders::v1::PutImportChunkRequest chunk;
  chunk.set_import_id(import_id);
  chunk.set_chunk_index(index);
  for (int i = 0; i < orders; ++i) {
    *chunk.add_orders() = Order(absl::StrCat("importer-", index % 7), 100 + index * 10 + i);
  }
  return chunk;
}

struct Call {
  grpc::Status status;
  bool replayed = false;
};

Call Put(ServiceStack& stack, const orders::v1::PutImportChunkRequest& chunk,
         orders::v1::ImportChunk* out = nullptr) {
  orders::v1::ImportChunk response;
  auto context = common::NewClientContext({});
  Call call;
  call.status = stack.orders().PutImportChunk(context.get(), chunk, out ? out : &response);
  call.replayed = context->GetServerInitialMetadata().count("idempotent-replayed") > 0;
  return call;
}

Call Commit(ServiceStack& stack, const std::string& import_id, int chunks,
            orders::v1::ImportSummary* out) {
  orders::v1::CommitImportRequest request;
  request.set_import_id(import_id);
  request.set_chunk_count(chunks);
  auto context = common::NewClientContext({.timeout = absl::Seconds(30)});
  Call call;
  call.status = stack.orders().CommitImport(context.get(), request, out);
  call.replayed = context->GetServerInitialMetadata().count("idempotent-replayed") > 0;
  return call;
}

TEST(ImportTest, NamedChunksAreIdempotentCreatesAndCommitHappensOnce) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Put(**stack, Chunk("imp-1", i, 4)).status.ok());
  Call again = Put(**stack, Chunk("imp-1", 1, 4));
  EXPECT_TRUE(again.status.ok());
  EXPECT_TRUE(again.replayed);
  Call reused = Put(**stack, Chunk("imp-1", 1, 5));
  EXPECT_EQ(reused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(reused.status), "IMPORT_CHUNK_REUSED");

  orders::v1::ImportSummary summary;
  Call incomplete = Commit(**stack, "imp-1", 4, &summary);
  EXPECT_EQ(incomplete.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(incomplete.status), "IMPORT_INCOMPLETE");
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM orders"), "0");

  Call committed = Commit(**stack, "imp-1", 3, &summary);
  ASSERT_TRUE(committed.status.ok()) << committed.status.error_message();
  EXPECT_EQ(summary.order_count(), 12);
  orders::v1::ImportSummary replay;
  Call second = Commit(**stack, "imp-1", 3, &replay);
  ASSERT_TRUE(second.status.ok());
  EXPECT_TRUE(second.replayed);
  EXPECT_EQ(replay.SerializeAsString(), summary.SerializeAsString());
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM orders"), "12");
  Call late = Put(**stack, Chunk("imp-1", 3, 1));
  EXPECT_EQ(ReasonOf(late.status), "IMPORT_ALREADY_COMMITTED");
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM import_chunks"), "3");
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar((*stack)->order_db(), "SELECT count(*) FROM orders WHERE status = 2") == "12";
      },
      absl::Seconds(10), "imported orders to be charged"));
}

// Seed 003's arithmetic: with a per-call failure rate p, an import of n chunks retried as a whole
// finishes only with probability (1-p)^(n+1) per try, while chunk-level retries always finish.
TEST(ImportTest, ChunkLevelRetriesFinishWhereWholeImportRetriesDoNot) {
  constexpr double kFailureRate = 0.05;
  constexpr int kChunks = 200;
  auto stack = ServiceStack::Start(
      {.order_args = {absl::StrCat("--chaos_failure_rate=", kFailureRate),
                      "--chaos_methods=PutImportChunk,CommitImport", "--chaos_seed=2024"}});
  ASSERT_TRUE(stack.ok()) << stack.status();

  // Whole-import retries: any failed call restarts the import from its first chunk.
  constexpr int kWholeTries = 20;
  int whole_calls = 0, whole_finished = 0;
  for (int attempt = 0; attempt < kWholeTries && !whole_finished; ++attempt) {
    const std::string id = absl::StrCat("whole-", attempt);
    bool failed = false;
    for (int i = 0; i < kChunks && !failed; ++i) {
      ++whole_calls;
      failed = !Put(**stack, Chunk(id, i, 2)).status.ok();
    }
    orders::v1::ImportSummary summary;
    if (!failed && (++whole_calls, Commit(**stack, id, kChunks, &summary).status.ok())) {
      whole_finished = 1;
    }
  }

  // Chunk-level retries: each call is retried alone, with the same chunk name.
  int chunk_calls = 0, failures = 0;
  for (int i = 0; i < kChunks; ++i) {
    for (int tries = 0;; ++tries) {
      ASSERT_LT(tries, 50);
      ++chunk_calls;
      Call call = Put(**stack, Chunk("chunked", i, 2));
      if (call.status.ok()) break;
      ASSERT_EQ(call.status.error_code(), grpc::StatusCode::UNAVAILABLE);
      ++failures;
    }
  }
  orders::v1::ImportSummary summary;
  for (int tries = 0;; ++tries) {
    ASSERT_LT(tries, 50);
    ++chunk_calls;
    if (Commit(**stack, "chunked", kChunks, &summary).status.ok()) break;
  }
  const double whole_success = std::pow(1 - kFailureRate, kChunks + 1);
  std::printf(
      "p=%.2f, %d chunks: whole-import tries succeed with probability %.6f; "
      "%d whole tries (%d calls) finished=%d; chunk-level finished in %d calls "
      "(%d failures absorbed)\n",
      kFailureRate, kChunks, whole_success, kWholeTries, whole_calls, whole_finished, chunk_calls,
      failures);
  EXPECT_EQ(whole_finished, 0);
  EXPECT_EQ(summary.order_count(), 2 * kChunks);
  EXPECT_LT(chunk_calls, 2 * kChunks);
  // Lost responses were retried, yet every order exists exactly once, and only committed imports
  // made orders.
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM orders"),
            std::to_string(2 * kChunks));
}

orders::v1::OrderAnalytics Analytics(ServiceStack& stack, const std::string& customer) {
  orders::v1::GetOrderAnalyticsRequest request;
  request.set_customer_id(customer);
  orders::v1::OrderAnalytics analytics;
  auto context = common::NewClientContext({});
  EXPECT_TRUE(stack.orders().GetOrderAnalytics(context.get(), request, &analytics).ok());
  return analytics;
}

TEST(AnalyticsTest, ProjectionIsEventuallyConsistentAndAppliesEachEventOnce) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  std::vector<int64_t> ids;
  const std::vector<std::pair<int64_t, std::string>> plan = {{1000, "pm_card_visa"},
                                                             {2000, "pm_card_visa"},
                                                             {3000, "pm_card_visa"},
                                                             {500, "pm_card_declined"}};
  for (size_t i = 0; i < plan.size(); ++i) {
    auto context = common::NewClientContext({.idempotency_key = absl::StrCat("an-", i)});
    orders::v1::CreateOrderResponse response;
    ASSERT_TRUE(
        (*stack)
            ->orders()
            .CreateOrder(context.get(), Order("carol", plan[i].first, plan[i].second), &response)
            .ok());
    ids.push_back(response.order().id());
  }
  for (int64_t id : ids) ASSERT_TRUE((*stack)->WaitForSettled(id, absl::Seconds(5)).ok());
  {
    orders::v1::CancelOrderRequest cancel;
    cancel.set_id(ids[0]);
    orders::v1::CancelOrderResponse response;
    auto context = common::NewClientContext({.idempotency_key = "an-cancel"});
    ASSERT_TRUE((*stack)->orders().CancelOrder(context.get(), cancel, &response).ok());
  }
  // 4 created + 3 paid + 1 declined + 1 cancelled = 9 events.
  ASSERT_TRUE(
      testing_support::Eventually([&] { return Analytics(**stack, "carol").events_applied() == 9; },
                                  absl::Seconds(10), "the projection to catch up"));
  orders::v1::OrderAnalytics caught_up = Analytics(**stack, "carol");
  EXPECT_EQ(caught_up.order_count(), 4);
  EXPECT_EQ(caught_up.paid_count(), 3);
  EXPECT_EQ(caught_up.payment_failed_count(), 1);
  EXPECT_EQ(caught_up.cancelled_count(), 1);
  ASSERT_EQ(caught_up.paid_totals_size(), 1);
  EXPECT_EQ(caught_up.paid_totals(0).currency(), "JPY");
  EXPECT_EQ(caught_up.paid_totals(0).amount_minor_units(), 6000);  // gross: the cancelled one too
  ASSERT_EQ(caught_up.cancelled_totals_size(), 1);
  EXPECT_EQ(caught_up.cancelled_totals(0).amount_minor_units(), 1000);
  EXPECT_GT(caught_up.as_of().seconds(), 0);

  // Deliver every event again: the inbox recognises them and nothing is counted twice.
  ASSERT_EQ(Scalar((*stack)->order_db(),
                   "WITH r AS (UPDATE order_events SET projected = false RETURNING 1) "
                   "SELECT count(*) FROM r"),
            "9");
  ASSERT_TRUE(testing_support::Eventually(
      [&] {
        return Scalar((*stack)->order_db(),
                      "SELECT count(*) FROM order_events WHERE NOT projected") == "0";
      },
      absl::Seconds(10), "the redelivered events to be consumed"));
  // The same figures; only the watermark (the read's own time once caught up) moves on.
  orders::v1::OrderAnalytics again = Analytics(**stack, "carol");
  EXPECT_GE(again.as_of().seconds(), caught_up.as_of().seconds());
  again.clear_as_of();
  caught_up.clear_as_of();
  EXPECT_EQ(again.SerializeAsString(), caught_up.SerializeAsString());
  EXPECT_EQ(Analytics(**stack, "nobody").order_count(), 0);
}

orders::v1::CreateOrderRequest InCurrency(orders::v1::CreateOrderRequest request,
                                          const std::string& currency) {
  request.set_currency(currency);
  return request;
}

// Issue 12, case 6, end to end: a customer paid JPY 500 and USD 1250 got paid_cents 1750.
// as_of is a watermark by the database's clock: while an event waits to be projected, as_of is
// not past its creation (the figures do not claim to include it); once everything is projected
// it is the time of the read.
TEST(AnalyticsTest, AsOfNeverClaimsAnEventThatIsNotCountedYet) {
  auto stack = ServiceStack::Start({.order_args = {"--analytics_projector=false"}});
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto context = common::NewClientContext({.idempotency_key = "asof-1"});
  orders::v1::CreateOrderResponse response;
  ASSERT_TRUE((*stack)->orders().CreateOrder(context.get(), Order("dave", 700), &response).ok());
  ASSERT_TRUE((*stack)->WaitForSettled(response.order().id(), absl::Seconds(10)).ok());
  const std::string db = (*stack)->order_db();
  auto micros = [&](const char* sql) {
    int64_t v = 0;
    EXPECT_TRUE(absl::SimpleAtoi(Scalar(db, sql), &v)) << sql;
    return v;
  };
  const int64_t oldest_pending = micros(
      "SELECT (extract(epoch FROM min(created_at)) * 1000000)::bigint FROM order_events "
      "WHERE customer_id = 'dave' AND NOT projected");
  const orders::v1::OrderAnalytics behind = Analytics(**stack, "dave");
  EXPECT_EQ(behind.events_applied(), 0);
  EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToMicroseconds(behind.as_of()),
            oldest_pending)
      << "the watermark stops at the oldest event not counted";

  // Project everything (an in-process projector on the same database).
  auto pool = std::make_unique<pg::Pool>(db, 1);
  orders::AnalyticsProjector projector(*pool);
  ASSERT_TRUE(projector.RunOnce().ok());
  const int64_t before_read = micros("SELECT (extract(epoch FROM now()) * 1000000)::bigint");
  const orders::v1::OrderAnalytics caught_up = Analytics(**stack, "dave");
  EXPECT_EQ(caught_up.events_applied(), 2);  // created, paid
  EXPECT_GE(google::protobuf::util::TimeUtil::TimestampToMicroseconds(caught_up.as_of()),
            before_read)
      << "caught up: the watermark is the read's own time";
}

TEST(AnalyticsTest, PaidMoneyIsPerCurrencyAndNeverOneMixedSum) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  std::vector<int64_t> ids;
  int n = 0;
  for (const auto& request :
       {InCurrency(Order("gina", 500), "JPY"), InCurrency(Order("gina", 1250), "USD"),
        InCurrency(Order("hal", 1250), "USD")}) {
    auto context = common::NewClientContext({.idempotency_key = absl::StrCat("cur-", n++)});
    orders::v1::CreateOrderResponse response;
    ASSERT_TRUE((*stack)->orders().CreateOrder(context.get(), request, &response).ok());
    ids.push_back(response.order().id());
  }
  for (int64_t id : ids) ASSERT_TRUE((*stack)->WaitForSettled(id, absl::Seconds(5)).ok());
  ASSERT_TRUE(
      testing_support::Eventually([&] { return Analytics(**stack, "gina").paid_count() == 2; },
                                  absl::Seconds(10), "the projection to count both payments"));
  const orders::v1::OrderAnalytics gina = Analytics(**stack, "gina");
  EXPECT_THAT(MoneyTexts(gina.paid_totals()), ::testing::ElementsAre("JPY 500", "USD 1250"));
  EXPECT_EQ(PaidCents(gina), 0) << "JPY 500 + USD 1250 is not 1750 of anything";
  ASSERT_TRUE(
      testing_support::Eventually([&] { return Analytics(**stack, "hal").paid_count() == 1; },
                                  absl::Seconds(10), "the projection to count hal's payment"));
  EXPECT_EQ(PaidCents(Analytics(**stack, "hal")), 1250) << "one currency: still said";

  // The ledger agrees, per currency.
  payments::v1::LedgerSummary summary;
  auto context = common::NewClientContext({});
  ASSERT_TRUE((*stack)->payments().GetLedgerSummary(context.get(), {}, &summary).ok());
  std::vector<std::string> captured;
  for (const auto& t : summary.captured_totals()) {
    captured.push_back(absl::StrCat(t.currency(), " ", t.amount_minor_units()));
  }
  EXPECT_THAT(captured, ::testing::ElementsAre("JPY 500", "USD 2500"));
}

// Issue 12, case 6, end to end: an import of USD 1000 and JPY 1000 reported 2000.
TEST(ImportTest, SummaryTotalsArePerCurrency) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  orders::v1::PutImportChunkRequest chunk;
  chunk.set_import_id("cur-imp");
  *chunk.add_orders() = InCurrency(Order("ivy", 1000), "USD");
  *chunk.add_orders() = InCurrency(Order("ivy", 1000), "JPY");
  orders::v1::ImportChunk stored;
  ASSERT_TRUE(Put(**stack, chunk, &stored).status.ok());
  EXPECT_THAT(MoneyTexts(stored.totals()), ::testing::ElementsAre("JPY 1000", "USD 1000"));
  orders::v1::ImportSummary summary;
  Call committed = Commit(**stack, "cur-imp", 1, &summary);
  ASSERT_TRUE(committed.status.ok()) << committed.status.error_message();
  EXPECT_EQ(summary.order_count(), 2);
  EXPECT_THAT(MoneyTexts(summary.totals()), ::testing::ElementsAre("JPY 1000", "USD 1000"));
  EXPECT_EQ(AmountCents(summary), 0) << "not 2000";
  orders::v1::ImportSummary replay;
  ASSERT_TRUE(Commit(**stack, "cur-imp", 1, &replay).status.ok());
  EXPECT_EQ(replay.SerializeAsString(), summary.SerializeAsString());
}

// Pattern 3: every line item in one CreateOrder, one transaction; one bad item rejects the whole
// request and nothing partial is ever stored (there is no AddItem to retry).
TEST(GroupingTest, AllItemsGoInOneRequestAndOneTransaction) {
  auto stack = ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  orders::v1::CreateOrderRequest request = Order("frank", 100);
  request.clear_items();
  int64_t total = 0;
  for (int i = 0; i < 50; ++i) {
    auto* item = request.add_items();
    item->set_sku(absl::StrCat("sku-", i));
    item->set_quantity(1 + i % 4);
    item->set_unit_price_cents(10 * (i + 1));
    total += item->quantity() * item->unit_price_cents();
  }
  orders::v1::CreateOrderRequest broken = request;
  broken.mutable_items(37)->set_quantity(0);
  orders::v1::CreateOrderResponse response;
  {
    auto context = common::NewClientContext({.idempotency_key = "group-1"});
    grpc::Status bad = (*stack)->orders().CreateOrder(context.get(), broken, &response);
    EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ReasonOf(bad), "ORDER_INVALID");
    EXPECT_EQ(common::ViolatedFields(common::FromGrpcStatus(bad)),
              std::vector<std::string>{"items[37].quantity"});
  }
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM order_items"), "0");
  {
    auto context = common::NewClientContext({.idempotency_key = "group-1"});
    ASSERT_TRUE((*stack)->orders().CreateOrder(context.get(), request, &response).ok());
  }
  EXPECT_EQ(response.order().amount_cents(), total);
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM order_items"), "50");
  EXPECT_EQ(
      Scalar((*stack)->order_db(), "SELECT sum(quantity * unit_price_cents) FROM order_items"),
      std::to_string(total));
  auto paid = (*stack)->WaitForSettled(response.order().id(), absl::Seconds(5));
  ASSERT_TRUE(paid.ok());
  auto charges = (*stack)->ChargesOf(response.order().id());
  ASSERT_TRUE(charges.ok() && charges->size() == 1);
  EXPECT_EQ((*charges)[0].amount_cents(), total);
}

TEST(TenancyTest, AnotherTenantSeesNotFoundAndChangesNothing) {
  auto stack = ServiceStack::Start({.order_args = {"--tokens=tok-a=acme,tok-b=globex"}});
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto as = [](const char* token, const std::string& key = "") {
    return common::NewClientContext({.idempotency_key = key, .bearer_token = token});
  };
  orders::v1::CreateOrderResponse a_order;
  ASSERT_TRUE((*stack)
                  ->orders()
                  .CreateOrder(as("tok-a", "shared-key").get(), Order("dave", 700), &a_order)
                  .ok());
  const int64_t id = a_order.order().id();

  orders::v1::GetOrderRequest get;
  get.set_id(id);
  orders::v1::Order order;
  grpc::Status peek = (*stack)->orders().GetOrder(as("tok-b").get(), get, &order);
  EXPECT_EQ(peek.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(peek), "ORDER_NOT_FOUND");
  orders::v1::CancelOrderRequest cancel;
  cancel.set_id(id);
  orders::v1::CancelOrderResponse cancelled;
  grpc::Status steal =
      (*stack)->orders().CancelOrder(as("tok-b", "b-cancel").get(), cancel, &cancelled);
  EXPECT_EQ(steal.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(steal), "ORDER_NOT_FOUND");
  // The same key under tenant B is B's own key: a new order, not A's replayed.
  orders::v1::CreateOrderResponse b_order;
  auto b_context = as("tok-b", "shared-key");
  ASSERT_TRUE((*stack)->orders().CreateOrder(b_context.get(), Order("dave", 700), &b_order).ok());
  EXPECT_NE(b_order.order().id(), id);
  EXPECT_EQ(b_context->GetServerInitialMetadata().count("idempotent-replayed"), 0u);
  orders::v1::ListOrdersResponse listed;
  ASSERT_TRUE((*stack)->orders().ListOrders(as("tok-b").get(), {}, &listed).ok());
  ASSERT_EQ(listed.orders_size(), 1);
  EXPECT_EQ(listed.orders(0).id(), b_order.order().id());
  grpc::Status anonymous = (*stack)->orders().GetOrder(as("").get(), get, &order);
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status wrong = (*stack)->orders().GetOrder(as("tok-zzz").get(), get, &order);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A's order is untouched by all of it.
  ASSERT_TRUE((*stack)->orders().GetOrder(as("tok-a").get(), get, &order).ok());
  EXPECT_NE(order.status(), orders::v1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM orders WHERE tenant = 'acme'"), "1");
  EXPECT_EQ(testing_support::CountOutboxEvents((*stack)->order_db(), "REFUND"), "0");
}

}  // namespace

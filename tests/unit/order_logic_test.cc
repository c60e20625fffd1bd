// Domain rules of CreateOrder/GetOrder/ListOrders over the in-memory repository.
#include "order_service/order_logic.h"

#include <tuple>

#include "common/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "order_service/memory_order_repository.h"
#include "tests/support/deprecated_fields.h"
#include "tests/support/import_chunks.h"
#include "tests/support/money.h"
#include "tests/support/order_builders.h"

namespace orders {
namespace {

using testing_support::AmountCents;
using testing_support::CancelledCents;
using testing_support::MoneyTexts;
using testing_support::PaidCents;

using ::testing::Contains;
using ::testing::UnorderedElementsAre;

orders::v1::CreateOrderRequest ValidRequest() {
  return testing_support::OrderOf("cust-1", "USD", {{"apple", 5, 120}, {"pear", 10, 80}});
}

class OrderLogicTest : public ::testing::Test {
 protected:
  RequestScope Scope(const std::string& key, const std::string& tenant = "default") {
    return RequestScope{tenant, key, absl::InfiniteFuture()};
  }
  MemoryOrderRepository repository_;
  int wakeups_ = 0;
  OrderLogic logic_{repository_, [this] { ++wakeups_; }};
};

TEST_F(OrderLogicTest, CreatesOneOrderWithTotalAndChargeEvent) {
  auto result = logic_.CreateOrder(Scope("k1"), ValidRequest());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->replayed);
  const auto& order = result->response.order();
  EXPECT_GT(order.id(), 0);
  EXPECT_EQ(order.amount_cents(), 5 * 120 + 10 * 80);
  EXPECT_EQ(order.status(), orders::v1::ORDER_STATUS_CREATED);
  EXPECT_EQ(order.items_size(), 2);
  EXPECT_EQ(wakeups_, 1);
  EXPECT_THAT(repository_.OutboxEvents(),
              UnorderedElementsAre(std::make_pair(
                  std::string("CHARGE"), ChargeKeyForOrder(repository_.deployment(), order.id()))));
}

TEST_F(OrderLogicTest, SameKeySameRequestReplaysWithoutSecondEffect) {
  auto first = logic_.CreateOrder(Scope("k1"), ValidRequest());
  auto second = logic_.CreateOrder(Scope("k1"), ValidRequest());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE(second->replayed);
  EXPECT_EQ(second->response.SerializeAsString(), first->response.SerializeAsString());
  EXPECT_EQ(repository_.OutboxEvents().size(), 1u);
  EXPECT_EQ(wakeups_, 1);
}

TEST_F(OrderLogicTest, SameKeyDifferentRequestIsRejectedAndWritesNothing) {
  ASSERT_TRUE(logic_.CreateOrder(Scope("k1"), ValidRequest()).ok());
  auto changed = ValidRequest();
  changed.mutable_items(0)->set_quantity(6);
  auto result = logic_.CreateOrder(Scope("k1"), changed);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(common::ErrorReason(result.status()), "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(repository_.OutboxEvents().size(), 1u);
}

TEST_F(OrderLogicTest, KeysAreScopedPerTenant) {
  auto a = logic_.CreateOrder(Scope("shared", "acme"), ValidRequest());
  auto b = logic_.CreateOrder(Scope("shared", "globex"), ValidRequest());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(b->replayed);
  EXPECT_NE(a->response.order().id(), b->response.order().id());
  orders::v1::GetOrderRequest get;
  get.set_id(a->response.order().id());
  EXPECT_EQ(logic_.GetOrder(Scope("", "globex"), get).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(OrderLogicTest, InvalidRequestListsEveryViolationAndWritesNothing) {
  orders::v1::CreateOrderRequest bad;
  bad.set_currency("XXX");
  auto* item = bad.add_items();
  item->set_quantity(0);
  item->set_unit_price_cents(-1);
  auto result = logic_.CreateOrder(Scope("k"), bad);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(common::ErrorReason(result.status()), "ORDER_INVALID");
  auto fields = common::ViolatedFields(result.status());
  EXPECT_THAT(fields, Contains("customer_id"));
  EXPECT_THAT(fields, Contains("payment_method"));
  EXPECT_THAT(fields, Contains("currency"));
  EXPECT_THAT(fields, Contains("items[0].sku"));
  EXPECT_THAT(fields, Contains("items[0].quantity"));
  EXPECT_THAT(fields, Contains("items[0].unit_price_cents"));
  EXPECT_TRUE(repository_.OutboxEvents().empty());
  // A fixed request may then use the same key: validation errors are not stored.
  EXPECT_TRUE(logic_.CreateOrder(Scope("k"), ValidRequest()).ok());
}

TEST_F(OrderLogicTest, RejectsEmptyItemsOverflowAndOversizedText) {
  auto empty = ValidRequest();
  empty.clear_items();
  EXPECT_THAT(common::ViolatedFields(logic_.CreateOrder(Scope("a"), empty).status()),
              Contains("items"));

  auto overflow = ValidRequest();
  overflow.mutable_items(0)->set_quantity(1'000'000);
  overflow.mutable_items(0)->set_unit_price_cents(1'000'000'000'000);
  EXPECT_THAT(common::ViolatedFields(logic_.CreateOrder(Scope("b"), overflow).status()),
              Contains("items"));

  auto long_customer = ValidRequest();
  long_customer.set_customer_id(std::string(129, 'c'));
  EXPECT_THAT(common::ViolatedFields(logic_.CreateOrder(Scope("c"), long_customer).status()),
              Contains("customer_id"));
  EXPECT_TRUE(repository_.OutboxEvents().empty());
}

TEST_F(OrderLogicTest, ListPaginatesNewestFirstAndFilters) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto request = ValidRequest();
    request.set_customer_id(i % 2 ? "odd" : "even");
    auto r = logic_.CreateOrder(Scope("key" + std::to_string(i)), request);
    ASSERT_TRUE(r.ok());
    ids.push_back(r->response.order().id());
  }
  orders::v1::ListOrdersRequest list;
  list.set_page_size(2);
  std::vector<int64_t> seen;
  for (int page = 0; page < 10; ++page) {
    auto response = logic_.ListOrders(Scope(""), list);
    ASSERT_TRUE(response.ok()) << response.status();
    for (const auto& o : response->orders()) seen.push_back(o.id());
    if (response->next_page_token().empty()) break;
    list.set_page_token(response->next_page_token());
  }
  EXPECT_EQ(seen, std::vector<int64_t>(ids.rbegin(), ids.rend()));

  orders::v1::ListOrdersRequest odd;
  odd.set_customer_id("odd");
  auto response = logic_.ListOrders(Scope(""), odd);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->orders_size(), 2);

  orders::v1::ListOrdersRequest bad_token;
  bad_token.set_page_token("garbage!");
  EXPECT_EQ(common::ErrorReason(logic_.ListOrders(Scope(""), bad_token).status()),
            "PAGE_TOKEN_INVALID");

  // A token is bound to its query: alice's page token used for another customer, another
  // status or another tenant is refused, never an empty (or someone else's) page.
  orders::v1::ListOrdersRequest first_even;
  first_even.set_customer_id("even");
  first_even.set_page_size(1);
  auto even_page = logic_.ListOrders(Scope(""), first_even);
  ASSERT_TRUE(even_page.ok());
  ASSERT_FALSE(even_page->next_page_token().empty());
  orders::v1::ListOrdersRequest as_odd = first_even;
  as_odd.set_customer_id("odd");
  as_odd.set_page_token(even_page->next_page_token());
  orders::v1::ListOrdersRequest as_paid = first_even;
  as_paid.set_status(orders::v1::ORDER_STATUS_PAID);
  as_paid.set_page_token(even_page->next_page_token());
  for (const auto& misuse : {as_odd, as_paid}) {
    EXPECT_EQ(common::ErrorReason(logic_.ListOrders(Scope(""), misuse).status()),
              "PAGE_TOKEN_INVALID");
  }
  orders::v1::ListOrdersRequest next_even = first_even;
  next_even.set_page_token(even_page->next_page_token());
  EXPECT_EQ(common::ErrorReason(logic_.ListOrders(Scope("", "other-tenant"), next_even).status()),
            "PAGE_TOKEN_INVALID");
  ASSERT_TRUE(logic_.ListOrders(Scope(""), next_even).ok());

  // A status number outside the enum is refused, never read as "no filter".
  for (int status : {99, -1, 5}) {
    orders::v1::ListOrdersRequest unknown;
    unknown.set_status(static_cast<orders::v1::OrderStatus>(status));
    const absl::Status s = logic_.ListOrders(Scope(""), unknown).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_EQ(common::ErrorReason(s), "ORDER_STATUS_INVALID") << status;
    EXPECT_EQ(common::ViolatedFields(s), std::vector<std::string>{"status"}) << status;
  }
  orders::v1::ListOrdersRequest paid;
  paid.set_status(orders::v1::ORDER_STATUS_PAID);
  ASSERT_TRUE(logic_.ListOrders(Scope(""), paid).ok());
  EXPECT_EQ(logic_.ListOrders(Scope(""), paid)->orders_size(), 0);
}

}  // namespace
}  // namespace orders

namespace orders {
namespace {

class CancelTest : public OrderLogicTest {
 protected:
  int64_t Created(const std::string& key) {
    auto r = logic_.CreateOrder(Scope(key), ValidRequest());
    EXPECT_TRUE(r.ok());
    return r->response.order().id();
  }
  absl::StatusOr<CancelResult> Cancel(int64_t id, const std::string& key,
                                      const std::string& tenant = "default") {
    orders::v1::CancelOrderRequest request;
    request.set_id(id);
    request.set_reason("changed my mind");
    return logic_.CancelOrder(Scope(key, tenant), request);
  }
};

TEST_F(CancelTest, CancelEnqueuesRefundAndSameKeyReplays) {
  const int64_t id = Created("create");
  auto first = Cancel(id, "cancel-1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->response.order().status(), orders::v1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(first->response.order().cancel_reason(), "changed my mind");
  auto again = Cancel(id, "cancel-1");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->response.SerializeAsString(), first->response.SerializeAsString());
  EXPECT_THAT(repository_.OutboxEvents(),
              Contains(std::make_pair(std::string("REFUND"),
                                      RefundKeyForOrder(repository_.deployment(), id))));
  EXPECT_EQ(repository_.OutboxEvents().size(), 2u);
}

TEST_F(CancelTest, AnotherRequestSeesAlreadyCancelledAndUnknownIdsAreNotFound) {
  const int64_t id = Created("create");
  ASSERT_TRUE(Cancel(id, "cancel-1").ok());
  auto other = Cancel(id, "cancel-2");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(common::ErrorReason(other.status()), "ORDER_ALREADY_CANCELLED");
  auto unknown = Cancel(424242, "cancel-3");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(common::ErrorReason(unknown.status()), "ORDER_NOT_FOUND");
  EXPECT_EQ(common::ErrorReason(Cancel(id, "x", "other-tenant").status()), "ORDER_NOT_FOUND");
  EXPECT_EQ(repository_.OutboxEvents().size(), 2u) << "one CHARGE, one REFUND";
}

TEST_F(CancelTest, ShippingAddressIsADeclarativeSet) {
  const int64_t id = Created("create");
  orders::v1::SetShippingAddressRequest set;
  set.set_id(id);
  auto* a = set.mutable_address();
  a->set_name("Hanako Yamada");
  a->set_line1("1-2-3 Shibuya");
  a->set_city("Tokyo");
  a->set_country("JP");
  auto once = logic_.SetShippingAddress(Scope(""), set);
  auto twice = logic_.SetShippingAddress(Scope(""), set);
  ASSERT_TRUE(once.ok() && twice.ok()) << once.status();
  EXPECT_EQ(twice->shipping_address().SerializeAsString(), a->SerializeAsString());
  a->set_country("Japan");
  EXPECT_THAT(common::ViolatedFields(logic_.SetShippingAddress(Scope(""), set).status()),
              Contains("address.country"));
  a->set_country("JP");
  ASSERT_TRUE(Cancel(id, "c").ok());
  EXPECT_EQ(common::ErrorReason(logic_.SetShippingAddress(Scope(""), set).status()),
            "ORDER_ALREADY_CANCELLED");
}

}  // namespace
}  // namespace orders

namespace orders {
namespace {

// kMaxImportChunkBytes is what the server's message limit must hold: every field of a chunk at
// its limit serializes to exactly that, and a valid chunk at the documented maximum (1,000
// orders of 100 items, 64-character SKUs) is larger than gRPC's 4 MiB default and still under it.
TEST_F(OrderLogicTest, LargestImportChunkFitsTheMessageLimitTheServerMustAccept) {
  orders::v1::PutImportChunkRequest every_limit = testing_support::LargestChunk("x", 9999);
  every_limit.set_import_id(std::string(128, 'i'));
  for (auto& order : *every_limit.mutable_orders()) {
    order.set_payment_method(std::string(64, 'p'));
    for (auto& item : *order.mutable_items()) item.set_unit_price_cents(1'000'000'000'000);
  }
  EXPECT_EQ(static_cast<int64_t>(every_limit.ByteSizeLong()), kMaxImportChunkBytes);

  orders::v1::PutImportChunkRequest largest = testing_support::LargestChunk("largest", 0);
  EXPECT_GT(largest.ByteSizeLong(), 4u << 20);
  EXPECT_LE(static_cast<int64_t>(largest.ByteSizeLong()), kMaxImportChunkBytes);
  auto put = logic_.PutImportChunk(Scope(""), largest);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->chunk.order_count(), 1000);

  // One order more is the service's own refusal, naming the field.
  *largest.add_orders() = testing_support::LargestValidOrder(1000);
  largest.set_chunk_index(1);
  auto over = logic_.PutImportChunk(Scope(""), largest);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(common::ViolatedFields(over.status()), Contains("orders"));
}

using ::testing::ElementsAre;

orders::v1::CreateOrderRequest OneItem(const std::string& customer, const std::string& currency,
                                       int64_t minor_units) {
  return testing_support::OrderOf(customer, currency, {{"tea", 1, minor_units}});
}

using MoneyTest = OrderLogicTest;

// Issue 12, case 6: JPY 500 and USD 1250 are not 1750 of anything.
TEST_F(MoneyTest, AnalyticsKeepMoneyPerCurrencyAndTheOldFieldsNeverMix) {
  std::vector<int64_t> ids;
  int n = 0;
  for (const auto& [customer, currency, amount] :
       std::vector<std::tuple<std::string, std::string, int64_t>>{
           {"mixed", "USD", 1250}, {"mixed", "JPY", 500}, {"single", "JPY", 700}}) {
    auto r = logic_.CreateOrder(Scope("create-" + std::to_string(n++)),
                                OneItem(customer, currency, amount));
    ASSERT_TRUE(r.ok()) << r.status();
    ids.push_back(r->response.order().id());
  }
  for (int64_t id : ids) {
    orders::v1::CancelOrderRequest cancel;
    cancel.set_id(id);
    ASSERT_TRUE(logic_.CancelOrder(Scope("cancel-" + std::to_string(id)), cancel).ok());
  }
  orders::v1::GetOrderAnalyticsRequest request;
  request.set_customer_id("mixed");
  auto mixed = logic_.GetOrderAnalytics(Scope(""), request);
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_EQ(mixed->cancelled_count(), 2);
  EXPECT_THAT(MoneyTexts(mixed->cancelled_totals()), ElementsAre("JPY 500", "USD 1250"));
  EXPECT_EQ(CancelledCents(*mixed), 0) << "two currencies have no single sum";
  EXPECT_TRUE(mixed->paid_totals().empty());
  EXPECT_EQ(PaidCents(*mixed), 0);

  request.set_customer_id("single");
  auto single = logic_.GetOrderAnalytics(Scope(""), request);
  ASSERT_TRUE(single.ok());
  EXPECT_THAT(MoneyTexts(single->cancelled_totals()), ElementsAre("JPY 700"));
  EXPECT_EQ(CancelledCents(*single), 700) << "one currency: the old field still says it";
}

// Issue 12, case 6: an import of USD 1000 and JPY 1000 reported 2000.
TEST_F(MoneyTest, ImportChunkAndSummaryTotalsArePerCurrency) {
  orders::v1::PutImportChunkRequest chunk;
  chunk.set_import_id("imp-money");
  *chunk.add_orders() = OneItem("erin", "USD", 1000);
  *chunk.add_orders() = OneItem("erin", "JPY", 1000);
  *chunk.add_orders() = OneItem("erin", "USD", 250);
  auto put = logic_.PutImportChunk(Scope(""), chunk);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_THAT(MoneyTexts(put->chunk.totals()), ElementsAre("JPY 1000", "USD 1250"));
  EXPECT_EQ(AmountCents(put->chunk), 0);

  orders::v1::PutImportChunkRequest usd_only;
  usd_only.set_import_id("imp-money");
  usd_only.set_chunk_index(1);
  *usd_only.add_orders() = OneItem("erin", "USD", 40);
  auto second = logic_.PutImportChunk(Scope(""), usd_only);
  ASSERT_TRUE(second.ok());
  EXPECT_THAT(MoneyTexts(second->chunk.totals()), ElementsAre("USD 40"));
  EXPECT_EQ(AmountCents(second->chunk), 40);

  orders::v1::CommitImportRequest commit;
  commit.set_import_id("imp-money");
  commit.set_chunk_count(2);
  auto summary = logic_.CommitImport(Scope(""), commit);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->summary.order_count(), 4);
  EXPECT_THAT(MoneyTexts(summary->summary.totals()), ElementsAre("JPY 1000", "USD 1290"));
  EXPECT_EQ(AmountCents(summary->summary), 0);
  auto replay = logic_.CommitImport(Scope(""), commit);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->summary.SerializeAsString(), summary->summary.SerializeAsString());
}

}  // namespace
}  // namespace orders

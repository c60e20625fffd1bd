// orderctl: the order commands (create, get, list, cancel, address, analytics).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/orders_client.h"
#include "common/env.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/status_mapper.h"
#include "common/tls.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "tools/orderctl.h"

namespace orderctl {

namespace v1 = orders::v1;
using google::protobuf::Message;

namespace {

bool ParseId(const std::vector<char*>& args, size_t index, int64_t* id) {
  return args.size() > index && absl::SimpleAtoi(args[index], id) && *id > 0;
}

bool ParseItems(v1::CreateOrderRequest* request, std::string* problem) {
  for (const std::string& spec : absl::GetFlag(FLAGS_items)) {
    std::vector<std::string> parts = absl::StrSplit(spec, ':');
    int64_t quantity = 0, price = 0;
    if (parts.size() != 3 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &quantity) ||
        !absl::SimpleAtoi(parts[2], &price)) {
      *problem = absl::StrCat("--items: '", spec, "' is not sku:quantity:unit_price_cents");
      return false;
    }
    v1::LineItem* item = request->add_items();
    item->set_sku(parts[0]);
    item->set_quantity(quantity);
    item->set_unit_price_cents(price);
  }
  return true;
}

// The order a read or an unkeyed change answered (JSON with --json): 0, or the error (1).
int Shown(const absl::StatusOr<v1::Order>& order) {
  if (!order.ok()) return Fail(order.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(*order).c_str());
  } else {
    PrintOrder(*order);
  }
  return 0;
}

// The order a keyed change answered, with its key and attempts: 0, or the error (1).
int Mutated(const absl::StatusOr<v1::Order>& order, const orders_client::CallInfo& info) {
  if (!order.ok()) return Fail(order.status(), &info);
  PrintMutation(*order, info);
  return 0;
}

}  // namespace

int Create(orders_client::OrdersClient& client) {
  v1::CreateOrderRequest request;
  request.set_customer_id(absl::GetFlag(FLAGS_customer));
  request.set_currency(absl::GetFlag(FLAGS_currency));
  request.set_payment_method(absl::GetFlag(FLAGS_payment_method));
  std::string problem;
  if (!ParseItems(&request, &problem)) return Usage(problem);
  if (request.items().empty()) return Usage("create needs --items=sku:quantity:unit_price_cents");
  orders_client::CallInfo info;
  auto order =
      client.CreateOrder(request, {.idempotency_key = absl::GetFlag(FLAGS_key), .info = &info});
  return Mutated(order, info);
}

int Get(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  int64_t id = 0;
  if (!ParseId(args, 2, &id)) return Usage("get needs an order id");
  auto order = client.GetOrder(id);
  return Shown(order);
}

int List(orders_client::OrdersClient& client) {
  v1::ListOrdersRequest request;
  request.set_customer_id(absl::GetFlag(FLAGS_customer));
  v1::OrderStatus status = v1::ORDER_STATUS_UNSPECIFIED;
  if (!ParseEnum<v1::OrderStatus>(absl::GetFlag(FLAGS_status), "ORDER_STATUS_",
                                  &v1::OrderStatus_Parse, &status)) {
    return Usage("--status must be CREATED, PAID, PAYMENT_FAILED or CANCELLED");
  }
  request.set_status(status);
  request.set_page_size(absl::GetFlag(FLAGS_page_size));
  request.set_page_token(absl::GetFlag(FLAGS_page_token));
  v1::ListOrdersResponse all;
  while (true) {
    auto page = client.ListOrders(request);
    if (!page.ok()) return Fail(page.status());
    for (const auto& o : page->orders()) *all.add_orders() = o;
    all.set_next_page_token(page->next_page_token());
    if (!absl::GetFlag(FLAGS_all) || page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(all).c_str());
    return 0;
  }
  std::printf("%-10s %-15s %-20s %16s  %s\n", "ID", "STATUS", "CUSTOMER", "AMOUNT", "CREATED");
  for (const auto& o : all.orders()) {
    std::printf("%-10lld %-15s %-20s %16s  %s\n", static_cast<long long>(o.id()),
                StatusName(o.status()).c_str(), o.customer_id().c_str(),
                Money(o.amount_cents(), o.currency()).c_str(), TimeText(o.create_time()).c_str());
  }
  if (!all.next_page_token().empty()) {
    std::printf("more: --page_token=%s (or --all)\n", all.next_page_token().c_str());
  }
  return 0;
}

int Cancel(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  int64_t id = 0;
  if (!ParseId(args, 2, &id)) return Usage("cancel needs an order id");
  orders_client::CallInfo info;
  auto order = client.CancelOrder(id, absl::GetFlag(FLAGS_reason),
                                  {.idempotency_key = absl::GetFlag(FLAGS_key), .info = &info});
  return Mutated(order, info);
}

int Address(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  int64_t id = 0;
  if (!ParseId(args, 2, &id)) return Usage("address needs an order id");
  v1::ShippingAddress address;
  address.set_name(absl::GetFlag(FLAGS_name));
  address.set_line1(absl::GetFlag(FLAGS_line1));
  address.set_line2(absl::GetFlag(FLAGS_line2));
  address.set_city(absl::GetFlag(FLAGS_city));
  address.set_postal_code(absl::GetFlag(FLAGS_postal_code));
  address.set_country(absl::GetFlag(FLAGS_country));
  auto order = client.SetShippingAddress(id, address);
  return Shown(order);
}

int Analytics(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  const std::string customer = args.size() > 2 ? args[2] : absl::GetFlag(FLAGS_customer);
  if (customer.empty()) return Usage("analytics needs a customer id");
  auto a = client.GetOrderAnalytics(customer);
  if (!a.ok()) return Fail(a.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(*a).c_str());
    return 0;
  }
  std::printf("customer %s (as of %s, %lld events)\n", a->customer_id().c_str(),
              TimeText(a->as_of()).c_str(), static_cast<long long>(a->events_applied()));
  std::printf("  orders          %lld\n", static_cast<long long>(a->order_count()));
  std::printf("  paid            %lld (%s)\n", static_cast<long long>(a->paid_count()),
              Totals(a->paid_totals()).c_str());
  std::printf("  payment failed  %lld\n", static_cast<long long>(a->payment_failed_count()));
  std::printf("  cancelled       %lld (%s)\n", static_cast<long long>(a->cancelled_count()),
              Totals(a->cancelled_totals()).c_str());
  return 0;
}

}  // namespace orderctl

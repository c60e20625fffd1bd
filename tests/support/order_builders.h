// Request builders for tests: one place for the shape of a simple order.
#pragma once

#include <cstdint>
#include <string>

#include "orders/v1/orders.pb.h"

namespace testing_support {

// One line item ("s" x1 at `unit_price` minor units) for `customer`.
inline orders::v1::CreateOrderRequest OneItemOrder(const std::string& customer, int64_t unit_price,
                                                   const std::string& currency = "USD",
                                                   const std::string& method = "pm_card_visa") {
  orders::v1::CreateOrderRequest request;
  request.set_customer_id(customer);
  request.set_currency(currency);
  request.set_payment_method(method);
  orders::v1::LineItem* item = request.add_items();
  item->set_sku("s");
  item->set_quantity(1);
  item->set_unit_price_cents(unit_price);
  return request;
}

}  // namespace testing_support

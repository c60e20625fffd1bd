// Request builders for tests: one place for the shape of an order and of a charge.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orders/v1/orders.pb.h"
#include "payments/v1/payments.pb.h"

namespace testing_support {

// One line of an order: `quantity` x `sku` at `unit_price_cents` minor units each.
struct Item {
  std::string sku;
  int64_t quantity = 1;
  int64_t unit_price_cents = 0;
};

// An order of `items` for `customer` in `currency` (ISO 4217), paid with `method`.
inline orders::v1::CreateOrderRequest OrderOf(const std::string& customer,
                                              const std::string& currency,
                                              const std::vector<Item>& items,
                                              const std::string& method = "pm_card_visa") {
  orders::v1::CreateOrderRequest request;
  request.set_customer_id(customer);
  request.set_currency(currency);
  request.set_payment_method(method);
  for (const Item& i : items) {
    orders::v1::LineItem* item = request.add_items();
    item->set_sku(i.sku);
    item->set_quantity(i.quantity);
    item->set_unit_price_cents(i.unit_price_cents);
  }
  return request;
}

// One line item ("s" x1 at `unit_price` minor units) for `customer`.
inline orders::v1::CreateOrderRequest OneItemOrder(const std::string& customer, int64_t unit_price,
                                                   const std::string& currency = "USD",
                                                   const std::string& method = "pm_card_visa") {
  return OrderOf(customer, currency, {{"s", 1, unit_price}}, method);
}

// A charge of `amount_cents` minor units of `currency` for `order_id`, paid with `method` by
// `customer` (left unset when empty).
inline payments::v1::ChargeRequest ChargeOf(int64_t order_id, int64_t amount_cents,
                                            const std::string& method = "pm_card_visa",
                                            const std::string& currency = "USD",
                                            const std::string& customer = "") {
  payments::v1::ChargeRequest request;
  request.set_order_id(order_id);
  request.set_amount_cents(amount_cents);
  request.set_currency(currency);
  request.set_payment_method(method);
  if (!customer.empty()) request.set_customer_id(customer);
  return request;
}

}  // namespace testing_support

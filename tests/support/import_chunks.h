// Import chunks at the documented limits (orders.proto, PutImportChunkRequest), for the tests of
// the limits that the service and the transport enforce. Header only: the targets that include
// it link the orders.v1 messages themselves.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "orders/v1/orders.pb.h"

namespace testing_support {

// An order at CreateOrder's limits: 100 line items with 64-character SKUs and a 128-character
// customer id; quantities and prices as large as the order total (at most 10^12) allows.
inline orders::v1::CreateOrderRequest LargestValidOrder(int n) {
  orders::v1::CreateOrderRequest order;
  const std::string name = absl::StrCat("order-", n, "-");
  order.set_customer_id(name + std::string(128 - name.size(), 'c'));
  order.set_currency("USD");
  order.set_payment_method("pm_card_visa");
  for (int i = 0; i < 100; ++i) {
    auto* item = order.add_items();
    const std::string sku = absl::StrCat("sku-", i, "-");
    item->set_sku(sku + std::string(64 - sku.size(), 's'));
    item->set_quantity(1'000'000);
    item->set_unit_price_cents(10'000);
  }
  return order;
}

// `orders` such orders as chunk `index` of `import_id` (1,000 is the most a chunk may hold).
inline orders::v1::PutImportChunkRequest LargestChunk(const std::string& import_id, int index,
                                                      int orders = 1000) {
  orders::v1::PutImportChunkRequest chunk;
  chunk.set_import_id(import_id);
  chunk.set_chunk_index(index);
  for (int n = 0; n < orders; ++n) *chunk.add_orders() = LargestValidOrder(n);
  return chunk;
}

}  // namespace testing_support

// Request validation rules of OrderService that hold below the domain too: the repository reads
// stored import chunks back and totals each order with the same rule that accepted it, so the
// rule lives here (beside the repository ports), not in order_logic.h (the domain). Invalid
// requests are never stored, so a fixed request may reuse the key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/errors.h"
#include "orders/v1/orders.pb.h"

namespace orders {

// An import chunk holds 1 to kMaxOrdersPerChunk orders, each within CreateOrder's limits.
inline constexpr int kMaxOrdersPerChunk = 1000;
// The largest PutImportChunkRequest those limits allow, serialized: 1,000 orders of 100 line
// items with every text at its longest and every number at its largest varint (8,105 bytes an
// order, 134 for the import's name and index). gRPC refuses a larger message before the service
// sees it (RESOURCE_EXHAUSTED, which no retry fixes), so order_service refuses to start with a
// --max_message_bytes below this: a chunk the service would accept always reaches it.
inline constexpr int64_t kMaxImportChunkBytes = 8'105'134;

// Validates a CreateOrderRequest and returns its total in minor units of its currency;
// INVALID_ARGUMENT ORDER_INVALID with every field violation otherwise (customer_id 1-128,
// payment_method 1-64, each sku 1-64 printable ASCII characters; 1-100 items).
absl::StatusOr<int64_t> ValidateCreateOrder(const orders::v1::CreateOrderRequest& request);

// Appends a violation of `field` to `out` unless `value` has 1 to `max_len` characters
// (common::CharacterCount: limits are documented in characters, never bytes), all printable
// ASCII.
void CheckText(absl::string_view value, const std::string& field, size_t max_len,
               std::vector<common::FieldViolation>& out);

}  // namespace orders

#include "order_service/validation.h"

#include "absl/strings/str_cat.h"
#include "common/currency.h"
#include "common/storable_text.h"

namespace orders {
namespace {

constexpr int kMaxItems = 100;
constexpr int64_t kMaxQuantity = 1'000'000;

bool IsPrintableAscii(absl::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

void CheckText(absl::string_view value, const std::string& field, size_t max_len,
               std::vector<common::FieldViolation>& out) {
  if (value.empty()) {
    out.push_back({field, "required"});
  } else if (common::CharacterCount(value) > max_len) {
    out.push_back({field, absl::StrCat("at most ", max_len, " characters")});
  } else if (!IsPrintableAscii(value)) {
    out.push_back({field, "printable ASCII only"});
  }
}

absl::StatusOr<int64_t> ValidateCreateOrder(const orders::v1::CreateOrderRequest& request) {
  std::vector<common::FieldViolation> violations;
  CheckText(request.customer_id(), "customer_id", 128, violations);
  CheckText(request.payment_method(), "payment_method", 64, violations);
  if (!common::IsSupportedCurrency(request.currency())) {
    violations.push_back({"currency", "an ISO 4217 code this service accepts, e.g. USD, EUR, JPY"});
  }
  if (request.items_size() == 0) {
    violations.push_back({"items", "at least one line item; send every item in this one request"});
  } else if (request.items_size() > kMaxItems) {
    violations.push_back({"items", absl::StrCat("at most ", kMaxItems, " line items")});
  }
  __int128 total = 0;
  for (int i = 0; i < request.items_size() && i < kMaxItems; ++i) {
    const auto& item = request.items(i);
    const std::string prefix = absl::StrCat("items[", i, "].");
    CheckText(item.sku(), prefix + "sku", 64, violations);
    if (item.quantity() <= 0 || item.quantity() > kMaxQuantity) {
      violations.push_back({prefix + "quantity", absl::StrCat("between 1 and ", kMaxQuantity)});
    }
    if (item.unit_price_cents() < 0 || item.unit_price_cents() > common::kMaxAmountCents) {
      violations.push_back(
          {prefix + "unit_price_cents", absl::StrCat("between 0 and ", common::kMaxAmountCents)});
    }
    total += static_cast<__int128>(item.quantity()) * item.unit_price_cents();
  }
  if (violations.empty() && (total <= 0 || total > common::kMaxAmountCents)) {
    violations.push_back(
        {"items", absl::StrCat("the order total must be between 1 and ", common::kMaxAmountCents)});
  }
  if (!violations.empty()) {
    return common::InvalidArgument("ORDER_INVALID", "the order request is not valid", violations);
  }
  return static_cast<int64_t>(total);
}

}  // namespace orders

#include "common/currency.h"

#include <array>

namespace common {

bool IsSupportedCurrency(absl::string_view code) {
  static constexpr std::array<absl::string_view, 12> kCodes = {
      "USD", "EUR", "JPY", "GBP", "CHF", "CAD", "AUD", "CNY", "SEK", "NOK", "DKK", "NZD"};
  for (absl::string_view c : kCodes) {
    if (c == code) return true;
  }
  return false;
}

}  // namespace common

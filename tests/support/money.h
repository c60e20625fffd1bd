// Money totals for assertions: one readable text per total, so a test compares lists.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace testing_support {

// "<currency> <amount in minor units>" for each total (orders.v1 or payments.v1 MoneyTotal, which
// have the same shape), in order: e.g. {"JPY 500", "USD 1250"}.
template <typename Totals>
std::vector<std::string> MoneyTexts(const Totals& totals) {
  std::vector<std::string> out;
  for (const auto& t : totals)
    out.push_back(absl::StrCat(t.currency(), " ", t.amount_minor_units()));
  return out;
}

}  // namespace testing_support

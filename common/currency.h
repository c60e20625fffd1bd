// The ISO 4217 currencies both services accept.
#pragma once

#include "absl/strings/string_view.h"

namespace common {

bool IsSupportedCurrency(absl::string_view code);

// Largest amount accepted for one order or charge, in minor units.
inline constexpr int64_t kMaxAmountCents = 1'000'000'000'000;

}  // namespace common

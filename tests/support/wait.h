// Polling helpers with explicit timeouts, returning AssertionResult so failures say what waited.
#pragma once

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace testing_support {

::testing::AssertionResult Eventually(const std::function<bool()>& condition,
                                      absl::Duration timeout, const std::string& what);

}  // namespace testing_support

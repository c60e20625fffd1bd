#include "tests/support/wait.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace testing_support {

::testing::AssertionResult Eventually(const std::function<bool()>& condition,
                                      absl::Duration timeout, const std::string& what) {
  const absl::Time until = absl::Now() + timeout;
  while (true) {
    if (condition()) return ::testing::AssertionSuccess();
    if (absl::Now() >= until) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return ::testing::AssertionFailure()
         << "timed out after " << absl::FormatDuration(timeout) << " waiting for " << what;
}

}  // namespace testing_support

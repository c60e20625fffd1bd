#include "common/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace common {
namespace {

std::atomic<bool> any_armed{false};
std::mutex mu;
std::map<std::string, long, std::less<>>& Armed() {
  static auto* armed = new std::map<std::string, long, std::less<>>();
  return *armed;
}

}  // namespace

void ArmFailpoints(absl::string_view spec) {
  std::lock_guard<std::mutex> lock(mu);
  for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(item, '@');
    long count = 1;
    if (!parts.second.empty() && !absl::SimpleAtoi(parts.second, &count)) count = 1;
    Armed()[std::string(parts.first)] = count;
    any_armed.store(true);
  }
}

void Failpoint(absl::string_view name) {
  if (!any_armed.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(mu);
  auto it = Armed().find(name);
  if (it == Armed().end()) return;
  if (--it->second > 0) return;
  std::fprintf(stderr, "failpoint %.*s: killing the process\n", static_cast<int>(name.size()),
               name.data());
  std::fflush(stderr);
  kill(getpid(), SIGKILL);
  _exit(137);
}

}  // namespace common

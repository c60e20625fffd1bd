#include "common/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config_check.h"

namespace common {
namespace {

std::atomic<bool> any_armed{false};
std::mutex mu;
std::map<std::string, long, std::less<>>& Armed() {
  static auto* armed = new std::map<std::string, long, std::less<>>();
  return *armed;
}

}  // namespace

absl::StatusOr<FailpointSpec> ParseFailpoints(absl::string_view spec,
                                              absl::Span<const absl::string_view> known,
                                              absl::Span<const absl::string_view> elsewhere) {
  std::set<std::string, std::less<>> named;  // every entry's name, ours or another process's
  FailpointSpec parsed;
  int n = 0;
  for (absl::string_view entry : ListEntries(spec)) {
    ++n;
    const size_t at = entry.find('@');
    const absl::string_view name = entry.substr(0, at);
    long count = 1;
    const absl::string_view digits =
        at == absl::string_view::npos ? absl::string_view("1") : entry.substr(at + 1);
    // Digits only: SimpleAtoi alone would also take a sign and surrounding spaces.
    if (digits.empty() || !absl::c_all_of(digits, absl::ascii_isdigit) ||
        !absl::SimpleAtoi(digits, &count) || count < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "entry ", n, " (", entry, "): the count after '@' must be a positive integer"));
    }
    if (!named.insert(std::string(name)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", n, " (", entry, ") arms a failpoint an earlier entry arms"));
    }
    if (absl::c_find(elsewhere, name) != elsewhere.end()) continue;  // another process's
    if (absl::c_find(known, name) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", n, " (", entry,
                                                     "): no such failpoint; this process has ",
                                                     absl::StrJoin(known, ", ")));
    }
    parsed.emplace(name, count);
  }
  return parsed;
}

absl::StatusOr<FailpointSpec> FailpointsFromFlagOrEnv(
    absl::string_view flag, absl::Span<const absl::string_view> known,
    absl::Span<const absl::string_view> elsewhere) {
  if (!flag.empty()) {
    absl::StatusOr<FailpointSpec> spec = ParseFailpoints(flag, known);
    if (!spec.ok()) return FlagError("failpoints", spec.status());
    return spec;
  }
  const char* env = std::getenv("FAILPOINTS");
  absl::StatusOr<FailpointSpec> spec = ParseFailpoints(env ? env : "", known, elsewhere);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment FAILPOINTS: ", spec.status().message()));
  }
  return spec;
}

void ArmFailpoints(const FailpointSpec& spec) {
  if (spec.empty()) return;
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [name, count] : spec) Armed()[name] = count;
  any_armed.store(true);
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

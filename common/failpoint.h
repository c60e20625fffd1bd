// Named failpoints that kill the process on the spot, for crash tests. Off unless armed by the
// --failpoints flag or the FAILPOINTS environment variable: "name" kills at the first hit,
// "name@N" at the N-th. Several are separated by commas.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace common {

// A parsed failpoint spec: each armed name and the hit that kills (1: the first).
using FailpointSpec = std::map<std::string, long, std::less<>>;

// `spec`: "name" or "name@N" (N a positive decimal integer, digits only) entries separated by
// commas; whitespace around an entry and blank entries are ignored; "" arms nothing. `known`:
// the failpoints this process has; `elsewhere`: another process's (common/failpoint_names.h),
// checked like the rest and then skipped. INVALID_ARGUMENT, naming the entry by position and
// text, for a name in neither list (a typo would arm nothing, and a crash test would pass
// without its crash), a count that is not a positive integer ("name@x", "name@0", "name@2@3"),
// or a name given twice.
absl::StatusOr<FailpointSpec> ParseFailpoints(absl::string_view spec,
                                              absl::Span<const absl::string_view> known,
                                              absl::Span<const absl::string_view> elsewhere = {});

// A service's failpoints from its --failpoints flag (`flag`), else from the FAILPOINTS
// environment variable: the flag is this process's alone and may name only `known`; the
// variable is shared by the stack (deploy/local/run.sh passes it to both services), so its
// names of `elsewhere` are skipped. Errors as ParseFailpoints, prefixed "--failpoints: " or
// "environment FAILPOINTS: ". The variable is read here, not as the flag's default, so --help
// never shows it.
absl::StatusOr<FailpointSpec> FailpointsFromFlagOrEnv(
    absl::string_view flag, absl::Span<const absl::string_view> known,
    absl::Span<const absl::string_view> elsewhere);

// Arms `spec` (call once, before anything starts).
void ArmFailpoints(const FailpointSpec& spec);

// Kills the process with SIGKILL when `name` is armed and its count is reached; otherwise
// returns at once (one relaxed atomic load when nothing is armed).
void Failpoint(absl::string_view name);

}  // namespace common

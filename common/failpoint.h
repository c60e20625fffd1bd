// Named failpoints that kill the process on the spot, for crash tests. Off unless armed by the
// --failpoints flag or the FAILPOINTS environment variable: "name" kills at the first hit,
// "name@N" at the N-th. Several are separated by commas.
#pragma once

#include "absl/strings/string_view.h"

namespace common {

void ArmFailpoints(absl::string_view spec);

// Kills the process with SIGKILL when `name` is armed and its count is reached; otherwise
// returns at once (one relaxed atomic load when nothing is armed).
void Failpoint(absl::string_view name);

}  // namespace common

// Start-up validation of flags: collects every problem, then reports them together with the flag
// names, so an operator fixes a configuration in one go instead of one crash at a time.
//
//   absl::Status s = common::ConfigCheck()
//                        .Port("port", absl::GetFlag(FLAGS_port))
//                        .AtLeast("pool_size", absl::GetFlag(FLAGS_pool_size), 1)
//                        .Status();
//   if (!s.ok()) { fprintf(stderr, "%s\n", std::string(s.message()).c_str()); return 2; }
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace common {

class ConfigCheck {
 public:
  // 0..65535 (0 picks a free port); with `allow_off`, -1 means "disabled".
  ConfigCheck& Port(absl::string_view flag, int value, bool allow_off = false);
  ConfigCheck& Probability(absl::string_view flag, double value);
  // Strictly positive and finite unless `allow_infinite`.
  ConfigCheck& Positive(absl::string_view flag, absl::Duration value, bool allow_infinite = false);
  ConfigCheck& NotNegative(absl::string_view flag, absl::Duration value);
  ConfigCheck& AtLeast(absl::string_view flag, int64_t value, int64_t minimum);
  ConfigCheck& InRange(absl::string_view flag, int64_t value, int64_t lo, int64_t hi);
  ConfigCheck& OneOf(absl::string_view flag, absl::string_view value,
                     std::initializer_list<absl::string_view> allowed);
  // When `path` is not empty, it must be a readable file.
  ConfigCheck& ReadableFile(absl::string_view flag, const std::string& path);
  // `dependent` may only be set together with `required` (e.g. --tls_key needs --tls_cert).
  ConfigCheck& Requires(absl::string_view dependent_flag, bool dependent_set,
                        absl::string_view required_flag, bool required_set);
  // Any other rule: adds `message` (about `flag`) when `ok` is false.
  ConfigCheck& Expect(bool ok, absl::string_view flag, absl::string_view message);

  // OK, or INVALID_ARGUMENT "invalid configuration: --a=1: must be ...; --b=...: ...".
  absl::Status Status() const;
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// INVALID_ARGUMENT "--<flag>: <message of status>": a parser's refusal of one flag's value (tokens,
// TLS files), with the flag named so the operator knows which one to fix.
absl::Status FlagError(absl::string_view flag, const absl::Status& status);

// The entries of a comma-separated list flag (--tokens, --failpoints, --chaos_methods), in order:
// each with the whitespace around it removed, blank ones dropped. An entry's position in an
// error message is its index + 1 here. The views point into `list`.
std::vector<absl::string_view> ListEntries(absl::string_view list);

}  // namespace common

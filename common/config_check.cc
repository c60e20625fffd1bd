#include "common/config_check.h"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace common {

ConfigCheck& ConfigCheck::Port(absl::string_view flag, int value, bool allow_off) {
  if (allow_off && value == -1) return *this;
  if (value < 0 || value > 65535) {
    problems_.push_back(absl::StrCat("--", flag, "=", value,
                                     ": must be 0..65535 (0 picks a free port",
                                     allow_off ? ", -1 turns it off)" : ")"));
  }
  return *this;
}

ConfigCheck& ConfigCheck::Probability(absl::string_view flag, double value) {
  if (!(value >= 0.0 && value <= 1.0)) {
    problems_.push_back(absl::StrCat("--", flag, "=", value, ": must be a probability in [0, 1]"));
  }
  return *this;
}

ConfigCheck& ConfigCheck::Positive(absl::string_view flag, absl::Duration value,
                                   bool allow_infinite) {
  if (value <= absl::ZeroDuration() || (!allow_infinite && value == absl::InfiniteDuration())) {
    problems_.push_back(absl::StrCat("--", flag, "=", absl::FormatDuration(value),
                                     ": must be a positive duration such as 500ms or 30s"));
  }
  return *this;
}

ConfigCheck& ConfigCheck::NotNegative(absl::string_view flag, absl::Duration value) {
  if (value < absl::ZeroDuration()) {
    problems_.push_back(
        absl::StrCat("--", flag, "=", absl::FormatDuration(value), ": must not be negative"));
  }
  return *this;
}

ConfigCheck& ConfigCheck::AtLeast(absl::string_view flag, int64_t value, int64_t minimum) {
  if (value < minimum) {
    problems_.push_back(absl::StrCat("--", flag, "=", value, ": must be at least ", minimum));
  }
  return *this;
}

ConfigCheck& ConfigCheck::InRange(absl::string_view flag, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    problems_.push_back(absl::StrCat("--", flag, "=", value, ": must be in ", lo, "..", hi));
  }
  return *this;
}

ConfigCheck& ConfigCheck::OneOf(absl::string_view flag, absl::string_view value,
                                std::initializer_list<absl::string_view> allowed) {
  for (absl::string_view a : allowed) {
    if (a == value) return *this;
  }
  problems_.push_back(
      absl::StrCat("--", flag, "=", value, ": must be one of ", absl::StrJoin(allowed, ", ")));
  return *this;
}

ConfigCheck& ConfigCheck::ReadableFile(absl::string_view flag, const std::string& path) {
  if (!path.empty() && access(path.c_str(), R_OK) != 0) {
    problems_.push_back(absl::StrCat("--", flag, "=", path, ": cannot read the file"));
  }
  return *this;
}

ConfigCheck& ConfigCheck::Requires(absl::string_view dependent_flag, bool dependent_set,
                                   absl::string_view required_flag, bool required_set) {
  if (dependent_set && !required_set) {
    problems_.push_back(absl::StrCat("--", dependent_flag, " needs --", required_flag));
  }
  return *this;
}

ConfigCheck& ConfigCheck::Expect(bool ok, absl::string_view flag, absl::string_view message) {
  if (!ok) problems_.push_back(absl::StrCat("--", flag, ": ", message));
  return *this;
}

absl::Status ConfigCheck::Status() const {
  if (problems_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid configuration: ", absl::StrJoin(problems_, "; ")));
}

std::vector<absl::string_view> ListEntries(absl::string_view list) {
  std::vector<absl::string_view> entries;
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (!entry.empty()) entries.push_back(entry);
  }
  return entries;
}

absl::Status FlagError(absl::string_view flag, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", status.message()));
}

}  // namespace common

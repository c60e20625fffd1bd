// Structured logs: one JSON object per line on stderr. Values are escaped; callers must never put
// raw idempotency keys or tokens in a line (use common::ShortHash).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace common {

// Builds one JSON object, field by field, in insertion order.
class JsonLine {
 public:
  JsonLine& Str(absl::string_view key, absl::string_view value);
  JsonLine& Int(absl::string_view key, int64_t value);
  JsonLine& Num(absl::string_view key, double value, int decimals = 3);
  JsonLine& Bool(absl::string_view key, bool value);
  // RFC 3339 UTC with milliseconds: 2024-05-01T12:00:00.123Z
  JsonLine& Time(absl::string_view key, absl::Time value);
  // The finished object, without a trailing newline.
  std::string Build() const { return body_ + "}"; }

 private:
  void Key(absl::string_view key);
  std::string body_ = "{";
};

// JSON string escaping (quotes, backslashes, control characters) without surrounding quotes.
std::string JsonEscape(absl::string_view text);

// Where log lines go: stderr by default, one write per line so lines never interleave.
using LogSink = std::function<void(const std::string& line)>;
void WriteLogLine(const std::string& line);

}  // namespace common

#include "common/logging.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace common {

std::string JsonEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void JsonLine::Key(absl::string_view key) {
  if (body_.size() > 1) body_ += ",";
  absl::StrAppend(&body_, "\"", JsonEscape(key), "\":");
}

JsonLine& JsonLine::Str(absl::string_view key, absl::string_view value) {
  Key(key);
  absl::StrAppend(&body_, "\"", JsonEscape(value), "\"");
  return *this;
}

JsonLine& JsonLine::Int(absl::string_view key, int64_t value) {
  Key(key);
  absl::StrAppend(&body_, value);
  return *this;
}

JsonLine& JsonLine::Num(absl::string_view key, double value, int decimals) {
  Key(key);
  absl::StrAppendFormat(&body_, "%.*f", decimals, value);
  return *this;
}

JsonLine& JsonLine::Bool(absl::string_view key, bool value) {
  Key(key);
  body_ += value ? "true" : "false";
  return *this;
}

JsonLine& JsonLine::Time(absl::string_view key, absl::Time value) {
  return Str(key, absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", value, absl::UTCTimeZone()));
}

void WriteLogLine(const std::string& line) {
  std::string buffer = line;
  buffer += '\n';
  // One write(2) per line: lines from concurrent RPCs never interleave, even across processes
  // sharing the stream.
  const char* p = buffer.data();
  size_t left = buffer.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace common

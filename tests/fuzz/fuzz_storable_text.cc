// The text rule of both services (common/storable_text.h) from arbitrary bytes.
//
// Invariants:
// - IsValidUtf8 agrees with an independent decoder of PostgreSQL's UTF8 rules (RFC 3629: no
//   overlong forms, no surrogates, nothing above U+10FFFF);
// - CharacterCount counts code points (for valid UTF-8: the bytes that do not continue a
//   sequence), never more than the bytes;
// - UnstorableTextFields, over a message whose string fields hold the fuzzed values, names exactly
//   the fields (by their BadRequest path) that hold a NUL or bytes that are not UTF-8, and never a
//   bytes field; CheckStorableText refuses exactly then, with INVALID_ARGUMENT TEXT_NOT_STORABLE.
#include <fuzzer/FuzzedDataProvider.h>

#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/storable_text.h"
#include "fuzz_input.pb.h"
#include "fuzz_support.h"

namespace {

// RFC 3629 section 4 (the syntax PostgreSQL's pg_utf8_islegal applies), byte by byte.
bool ReferenceUtf8(const std::string& s) {
  size_t i = 0;
  auto in = [&](size_t at, unsigned lo, unsigned hi) {
    return at < s.size() && static_cast<unsigned char>(s[at]) >= lo &&
           static_cast<unsigned char>(s[at]) <= hi;
  };
  while (i < s.size()) {
    const unsigned c = static_cast<unsigned char>(s[i]);
    if (c <= 0x7f) {
      i += 1;
    } else if (c >= 0xc2 && c <= 0xdf && in(i + 1, 0x80, 0xbf)) {
      i += 2;
    } else if (c == 0xe0 && in(i + 1, 0xa0, 0xbf) && in(i + 2, 0x80, 0xbf)) {
      i += 3;
    } else if (((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) && in(i + 1, 0x80, 0xbf) &&
               in(i + 2, 0x80, 0xbf)) {
      i += 3;
    } else if (c == 0xed && in(i + 1, 0x80, 0x9f) && in(i + 2, 0x80, 0xbf)) {
      i += 3;
    } else if (c == 0xf0 && in(i + 1, 0x90, 0xbf) && in(i + 2, 0x80, 0xbf) &&
               in(i + 3, 0x80, 0xbf)) {
      i += 4;
    } else if (c >= 0xf1 && c <= 0xf3 && in(i + 1, 0x80, 0xbf) && in(i + 2, 0x80, 0xbf) &&
               in(i + 3, 0x80, 0xbf)) {
      i += 4;
    } else if (c == 0xf4 && in(i + 1, 0x80, 0x8f) && in(i + 2, 0x80, 0xbf) &&
               in(i + 3, 0x80, 0xbf)) {
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

bool Storable(const std::string& s) {
  return s.find('\0') == std::string::npos && ReferenceUtf8(s);
}

// Fills `probe` with fuzzed values and records the paths that must be reported.
void Fill(FuzzedDataProvider& in, fuzz::TextProbe& probe, const std::string& prefix, int depth,
          std::multiset<std::string>& bad) {
  int fields = in.ConsumeIntegralInRange<int>(0, 6);
  while (fields-- > 0 && in.remaining_bytes() > 0) {
    switch (in.ConsumeIntegralInRange<int>(0, 5)) {
      case 0: {
        std::string v = in.ConsumeRandomLengthString(16);
        if (probe.text().empty() && !v.empty()) {  // proto3: an empty string is not set
          probe.set_text(v);
          if (!Storable(v)) bad.insert(prefix + "text");
        }
        break;
      }
      case 1: {
        std::string v = in.ConsumeRandomLengthString(16);
        if (!Storable(v)) bad.insert(absl::StrCat(prefix, "texts[", probe.texts_size(), "]"));
        probe.add_texts(v);
        break;
      }
      case 2: {
        std::string k = in.ConsumeRandomLengthString(8);
        std::string v = in.ConsumeRandomLengthString(8);
        if (probe.labels().contains(k)) break;
        const std::string path = absl::StrCat(prefix, "labels[\"", absl::CHexEscape(k), "\"]");
        // A bad key and a bad value are each one violation on the entry.
        if (!Storable(k)) bad.insert(path);
        if (!Storable(v)) bad.insert(path);
        (*probe.mutable_labels())[k] = v;
        break;
      }
      case 3:
        probe.set_raw(in.ConsumeRandomLengthString(16));  // bytes: never reported
        break;
      case 4:
        if (depth < 3) {
          Fill(in, *probe.mutable_nested(), prefix + "nested.", depth + 1, bad);
        }
        break;
      case 5:
        if (depth < 3) {
          const std::string path = absl::StrCat(prefix, "children[", probe.children_size(), "].");
          Fill(in, *probe.add_children(), path, depth + 1, bad);
        }
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string text = in.ConsumeRandomLengthString(64);
  const bool valid = common::IsValidUtf8(text);
  FUZZ_CHECK(valid == ReferenceUtf8(text), "IsValidUtf8 says %d for %s", valid,
             absl::CHexEscape(text).c_str());
  const size_t count = common::CharacterCount(text);
  FUZZ_CHECK(count <= text.size(), "more characters than bytes");
  if (valid) {
    size_t starts = 0;
    for (char c : text) starts += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    FUZZ_CHECK(count == starts, "CharacterCount %zu, code points %zu", count, starts);
  }

  fuzz::TextProbe probe;
  std::multiset<std::string> bad;
  Fill(in, probe, "", 0, bad);
  std::multiset<std::string> reported;
  for (const common::FieldViolation& v : common::UnstorableTextFields(probe)) {
    reported.insert(v.field);
  }
  // The rule may report a map entry once for key and value together; compare the field sets.
  std::set<std::string> want(bad.begin(), bad.end()), got(reported.begin(), reported.end());
  if (want != got) {
    std::string w, g;
    for (const auto& f : want) absl::StrAppend(&w, absl::CHexEscape(f), " ");
    for (const auto& f : got) absl::StrAppend(&g, absl::CHexEscape(f), " ");
    FUZZ_CHECK(false, "expected [%s], reported [%s]", w.c_str(), g.c_str());
  }
  absl::Status status = common::CheckStorableText(probe);
  FUZZ_CHECK(status.ok() == want.empty(), "CheckStorableText disagrees with its fields");
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument &&
                   common::ErrorReason(status) == common::kTextNotStorableReason,
               "text refused with %s", status.ToString().c_str());
  }
  return 0;
}

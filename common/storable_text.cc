#include "common/storable_text.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace common {
namespace {

namespace pb = google::protobuf;

constexpr char kNulDescription[] =
    "holds a NUL character (U+0000), which cannot be stored; remove it";
constexpr char kUtf8Description[] = "is not valid UTF-8";

// What is wrong with one string value, or nullptr when it can be stored.
const char* ProblemOf(absl::string_view value) {
  if (value.find('\0') != absl::string_view::npos) return kNulDescription;
  if (!IsValidUtf8(value)) return kUtf8Description;
  return nullptr;
}

void Check(absl::string_view value, const std::string& path, const char* what,
           std::vector<FieldViolation>& out) {
  if (const char* problem = ProblemOf(value)) {
    out.push_back({path, what == nullptr ? problem : absl::StrCat(what, " ", problem)});
  }
}

// The path of one map entry: name["key"] for string keys, name[7] / name[true] otherwise.
std::string EntryPath(const std::string& path, const pb::Message& entry) {
  const pb::Descriptor* d = entry.GetDescriptor();
  const pb::Reflection* r = entry.GetReflection();
  const pb::FieldDescriptor* key = d->map_key();
  switch (key->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return absl::StrCat(path, "[\"", absl::CHexEscape(r->GetString(entry, key)), "\"]");
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(path, "[", r->GetInt32(entry, key), "]");
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(path, "[", r->GetInt64(entry, key), "]");
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(path, "[", r->GetUInt32(entry, key), "]");
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(path, "[", r->GetUInt64(entry, key), "]");
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return absl::StrCat(path, "[", r->GetBool(entry, key) ? "true" : "false", "]");
    default:
      return path;
  }
}

void Walk(const pb::Message& message, const std::string& prefix, std::vector<FieldViolation>& out);

// One map entry: its key (when a string) and its value (a string, or a message walked further).
void WalkEntry(const pb::Message& entry, const std::string& path,
               std::vector<FieldViolation>& out) {
  const pb::Descriptor* d = entry.GetDescriptor();
  const pb::Reflection* r = entry.GetReflection();
  const pb::FieldDescriptor* key = d->map_key();
  const pb::FieldDescriptor* value = d->map_value();
  const std::string at = EntryPath(path, entry);
  if (key->type() == pb::FieldDescriptor::TYPE_STRING) {
    Check(r->GetString(entry, key), at, "the key", out);
  }
  if (value->type() == pb::FieldDescriptor::TYPE_STRING) {
    Check(r->GetString(entry, value), at, nullptr, out);
  } else if (value->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
             r->HasField(entry, value)) {
    Walk(r->GetMessage(entry, value), absl::StrCat(at, "."), out);
  }
}

void Walk(const pb::Message& message, const std::string& prefix, std::vector<FieldViolation>& out) {
  const pb::Reflection* r = message.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(message, &fields);  // set fields only, in field-number order
  for (const pb::FieldDescriptor* field : fields) {
    const std::string path = absl::StrCat(prefix, field->name());
    if (field->is_map()) {
      for (int i = 0; i < r->FieldSize(message, field); ++i) {
        WalkEntry(r->GetRepeatedMessage(message, field, i), path, out);
      }
    } else if (field->is_repeated()) {
      for (int i = 0; i < r->FieldSize(message, field); ++i) {
        const std::string element = absl::StrCat(path, "[", i, "]");
        if (field->type() == pb::FieldDescriptor::TYPE_STRING) {
          std::string scratch;
          Check(r->GetRepeatedStringReference(message, field, i, &scratch), element, nullptr, out);
        } else if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
          Walk(r->GetRepeatedMessage(message, field, i), absl::StrCat(element, "."), out);
        }
      }
    } else if (field->type() == pb::FieldDescriptor::TYPE_STRING) {
      std::string scratch;
      Check(r->GetStringReference(message, field, &scratch), path, nullptr, out);
    } else if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      Walk(r->GetMessage(message, field), absl::StrCat(path, "."), out);
    }
  }
}

}  // namespace

size_t CharacterCount(absl::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;  // continuation bytes add nothing
  return n;
}

bool IsValidUtf8(absl::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t len = text.size();
  for (size_t i = 0; i < len;) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (RFC 3629, table 3-7)
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) lo = 0xA0;  // no overlong forms
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) lo = 0x90;  // no overlong forms
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return false;
    }
    if (i + extra >= len) return false;  // cut short
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (int k = 2; k <= extra; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

std::vector<FieldViolation> UnstorableTextFields(const google::protobuf::Message& message) {
  std::vector<FieldViolation> out;
  Walk(message, "", out);
  return out;
}

absl::Status CheckStorableText(const google::protobuf::Message& request) {
  std::vector<FieldViolation> violations = UnstorableTextFields(request);
  if (violations.empty()) return absl::OkStatus();
  std::vector<std::string> fields;
  for (const FieldViolation& v : violations) fields.push_back(v.field);
  return InvalidArgument(kTextNotStorableReason,
                         absl::StrCat("text that cannot be stored in ", absl::StrJoin(fields, ", "),
                                      ": a NUL character (U+0000) or bytes that are not UTF-8"),
                         violations);
}

}  // namespace common

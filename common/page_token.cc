#include "common/page_token.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/idempotency.h"

namespace common {
namespace {

constexpr absl::string_view kVersion = "p1";

// "p1:<query hash>:<position>"; the token is this plus ":<checksum of it>".
std::string Body(absl::string_view query, int64_t position) {
  return absl::StrCat(kVersion, ":", ShortHash(query), ":", position);
}

}  // namespace

std::string PageQuery(std::initializer_list<absl::string_view> parts) {
  std::string out;
  for (absl::string_view part : parts) absl::StrAppend(&out, part.size(), ":", part, ";");
  return out;
}

std::string EncodePageToken(absl::string_view query, int64_t position) {
  const std::string body = Body(query, position);
  return absl::WebSafeBase64Escape(absl::StrCat(body, ":", ShortHash(body)));
}

absl::StatusOr<int64_t> DecodePageToken(absl::string_view token, absl::string_view query,
                                        absl::string_view reason) {
  if (token.empty()) return 0;
  auto invalid = [reason](absl::string_view why) {
    return InvalidArgument(reason, absl::StrCat("page_token ", why),
                           {{"page_token", std::string(why)}});
  };
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return invalid("is not one this service issued");
  std::vector<absl::string_view> parts = absl::StrSplit(raw, ':');
  int64_t position = 0;
  if (parts.size() != 4 || parts[0] != kVersion || !absl::SimpleAtoi(parts[2], &position) ||
      position <= 0 ||
      parts[3] != ShortHash(absl::StrCat(parts[0], ":", parts[1], ":", parts[2]))) {
    return invalid("is not one this service issued");
  }
  if (parts[1] != ShortHash(query)) {
    return invalid("belongs to another query (filter, tenant or method); start again without it");
  }
  return position;
}

}  // namespace common

#include "payment_service/page_token.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"

namespace payment_service {
namespace {

constexpr absl::string_view kVersion = "c1";

}  // namespace

absl::Status InvalidPageTokenError() {
  return common::InvalidArgument("INVALID_PAGE_TOKEN",
                                 "page_token was not returned by ListCharges for this query",
                                 {{"page_token", "not a token from a previous page"}});
}

std::string EncodePageToken(const PageCursor& cursor) {
  return absl::WebSafeBase64Escape(absl::StrCat(kVersion, ":", cursor.after_id, ":",
                                                cursor.order_id, ":", cursor.created_after_us));
}

absl::StatusOr<PageCursor> DecodePageToken(absl::string_view token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return InvalidPageTokenError();
  std::vector<absl::string_view> parts = absl::StrSplit(raw, ':');
  PageCursor cursor;
  if (parts.size() != 4 || parts[0] != kVersion || !absl::SimpleAtoi(parts[1], &cursor.after_id) ||
      !absl::SimpleAtoi(parts[2], &cursor.order_id) ||
      !absl::SimpleAtoi(parts[3], &cursor.created_after_us) || cursor.after_id <= 0) {
    return InvalidPageTokenError();
  }
  return cursor;
}

}  // namespace payment_service

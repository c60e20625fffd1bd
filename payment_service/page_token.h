// Opaque page tokens for ListCharges: where the previous page ended and which filter it was
// for, so a token cannot be replayed against a different query.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace payment_service {

struct PageCursor {
  int64_t after_id = 0;
  int64_t order_id = 0;
  int64_t created_after_us = 0;  // 0: no time filter
};

// INVALID_ARGUMENT INVALID_PAGE_TOKEN.
absl::Status InvalidPageTokenError();

std::string EncodePageToken(const PageCursor& cursor);
// INVALID_ARGUMENT INVALID_PAGE_TOKEN when the token was not made by EncodePageToken.
absl::StatusOr<PageCursor> DecodePageToken(absl::string_view token);

}  // namespace payment_service

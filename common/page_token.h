// Page tokens for every List method of both services, in one format (AIP-158).
//
// A token is opaque (base64url), tamper-evident (a SHA-256 checksum over its content), and bound
// to the query it continues: `query` (built with PageQuery) names the method, the caller's tenant
// and every filter, but not page_size, which AIP-158 lets a caller change between pages. A token
// used with another filter, tenant or method, altered, or not issued by us is refused; it never
// answers with another query's page (for example an empty page for a customer who has orders).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace common {

// The query a token is bound to: each part length-prefixed, so no two part lists collide.
std::string PageQuery(std::initializer_list<absl::string_view> parts);

// A token that resumes `query` at `position` (a row id; > 0).
std::string EncodePageToken(absl::string_view query, int64_t position);

// The position in `token`; 0 for an empty token (the first page). A token not issued for `query`
// is INVALID_ARGUMENT `reason` with a BadRequest violation on `page_token`.
absl::StatusOr<int64_t> DecodePageToken(absl::string_view token, absl::string_view query,
                                        absl::string_view reason);

}  // namespace common

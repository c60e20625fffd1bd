// Page tokens (common/page_token.h) from arbitrary bytes, in two modes chosen by the first byte:
// - decode: an arbitrary token against an arbitrary query. A token that decodes gives a positive
//   position, and the token this service issues for that query and position decodes to it again;
//   the same token is refused for another query. A refusal is INVALID_ARGUMENT with the caller's
//   reason and a BadRequest violation on page_token, never anything else.
// - tamper: a token issued for (query, position), then changed at fuzzer-chosen bytes. If the
//   changed token still decodes, it decodes to the same position for the same query (a token
//   is tamper-evident: it never resumes another page).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

#include "common/errors.h"
#include "common/page_token.h"
#include "fuzz_support.h"

namespace {

constexpr char kReason[] = "PAGE_TOKEN_INVALID";

void CheckTokenRefusal(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, "page token refused with %s",
             status.ToString().c_str());
  FUZZ_CHECK(common::ErrorReason(status) == kReason, "page token refused without its reason");
  const auto fields = common::ViolatedFields(status);
  FUZZ_CHECK(fields.size() == 1 && fields[0] == "page_token", "violation not on page_token");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const bool tamper = in.ConsumeBool();
  const std::string query = in.ConsumeRandomLengthString(64);
  const std::string other_query = query + in.ConsumeRandomLengthString(8) + ";";
  if (!tamper) {
    const std::string token = in.ConsumeRemainingBytesAsString();
    absl::StatusOr<int64_t> position = common::DecodePageToken(token, query, kReason);
    if (!position.ok()) {
      CheckTokenRefusal(position.status());
      return 0;
    }
    if (token.empty()) {
      FUZZ_CHECK(*position == 0, "an empty token is the first page");
      return 0;
    }
    FUZZ_CHECK(*position > 0, "a token decoded to position %lld",
               static_cast<long long>(*position));
    const std::string reissued = common::EncodePageToken(query, *position);
    FUZZ_CHECK(common::DecodePageToken(reissued, query, kReason).value_or(-1) == *position,
               "a re-issued token does not decode to its position");
    absl::StatusOr<int64_t> elsewhere = common::DecodePageToken(token, other_query, kReason);
    FUZZ_CHECK(!elsewhere.ok(), "a token was accepted for another query");
    CheckTokenRefusal(elsewhere.status());
    return 0;
  }
  int64_t position = in.ConsumeIntegralInRange<int64_t>(1, INT64_MAX);
  std::string token = common::EncodePageToken(query, position);
  absl::StatusOr<int64_t> decoded = common::DecodePageToken(token, query, kReason);
  FUZZ_CHECK(decoded.ok() && *decoded == position, "an issued token does not round-trip");
  FUZZ_CHECK(!common::DecodePageToken(token, other_query, kReason).ok(),
             "an issued token was accepted for another query");
  // Changes: (index, new byte) pairs, then maybe a cut or an appended tail.
  while (in.remaining_bytes() >= 2) {
    const size_t at = in.ConsumeIntegralInRange<size_t>(0, token.size());
    const char byte = in.ConsumeIntegral<char>();
    if (at == token.size()) {
      token.push_back(byte);
    } else {
      token[at] = byte;
    }
  }
  if (in.remaining_bytes() == 1) token.resize(token.size() / 2);
  absl::StatusOr<int64_t> changed = common::DecodePageToken(token, query, kReason);
  if (!changed.ok()) {
    CheckTokenRefusal(changed.status());
  } else if (!token.empty()) {
    FUZZ_CHECK(*changed == position, "a changed token resumed position %lld instead of %lld",
               static_cast<long long>(*changed), static_cast<long long>(position));
  }
  return 0;
}

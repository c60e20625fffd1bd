// AIP-158 page tokens: opaque, tamper-evident, bound to the query they continue.
#include "absl/strings/escaping.h"
#include "common/errors.h"
#include "common/page_token.h"
#include "gtest/gtest.h"

namespace common {
namespace {

const std::string kAlice = PageQuery({"ListOrders", "tenant-a", "alice", "0"});

TEST(PageTokenTest, RoundTripsWithinItsQueryAndEmptyIsTheFirstPage) {
  const std::string token = EncodePageToken(kAlice, 42);
  absl::StatusOr<int64_t> back = DecodePageToken(token, kAlice, "PAGE_TOKEN_INVALID");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, 42);
  EXPECT_EQ(*DecodePageToken("", kAlice, "PAGE_TOKEN_INVALID"), 0);
  EXPECT_EQ(token.find("42"), std::string::npos) << "opaque: " << token;
}

// The token of alice's list used for bob's, another status, another tenant or another method.
TEST(PageTokenTest, AnotherQueryIsRefused) {
  const std::string token = EncodePageToken(kAlice, 42);
  for (const std::string& other :
       {PageQuery({"ListOrders", "tenant-a", "bob", "0"}),
        PageQuery({"ListOrders", "tenant-a", "alice", "2"}),
        PageQuery({"ListOrders", "tenant-b", "alice", "0"}),
        PageQuery({"ListCharges", "tenant-a", "alice", "0"}),
        // Parts are length-prefixed: a shifted boundary is another query.
        PageQuery({"ListOrders", "tenant-aa", "lice", "0"})}) {
    absl::StatusOr<int64_t> r = DecodePageToken(token, other, "PAGE_TOKEN_INVALID");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ErrorReason(r.status()), "PAGE_TOKEN_INVALID");
    EXPECT_EQ(ViolatedFields(r.status()), std::vector<std::string>{"page_token"});
  }
}

TEST(PageTokenTest, AlteredOrForeignTokensAreRefused) {
  const std::string token = EncodePageToken(kAlice, 42);
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw));
  std::string moved = raw;
  moved.replace(moved.find(":42:"), 4, ":43:");  // another position, same checksum
  for (const std::string& bad :
       {std::string("garbage!"), absl::WebSafeBase64Escape("before:42"),
        absl::WebSafeBase64Escape(moved), token.substr(0, token.size() - 2),
        EncodePageToken(kAlice, 0), EncodePageToken(kAlice, -5)}) {
    absl::StatusOr<int64_t> r = DecodePageToken(bad, kAlice, "PAGE_TOKEN_INVALID");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ErrorReason(r.status()), "PAGE_TOKEN_INVALID") << bad;
  }
}

}  // namespace
}  // namespace common

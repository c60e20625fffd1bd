#include "gtest/gtest.h"
#include "common/errors.h"
#include "payment_service/page_token.h"

namespace payment_service {
namespace {

TEST(PaymentPageTokenTest, RoundTrips) {
  const PageCursor cursor{.after_id = 123, .order_id = 7, .created_after_us = 1700000000000000};
  const std::string token = EncodePageToken(cursor);
  absl::StatusOr<PageCursor> back = DecodePageToken(token);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->after_id, 123);
  EXPECT_EQ(back->order_id, 7);
  EXPECT_EQ(back->created_after_us, 1700000000000000);
  EXPECT_EQ(token.find(':'), std::string::npos) << "opaque: " << token;
}

TEST(PaymentPageTokenTest, GarbageIsInvalidPageToken) {
  for (const char* token : {"", "!!!", "YWJj", "YzE6MDowOjA"}) {  // "abc", "c1:0:0:0"
    absl::StatusOr<PageCursor> bad = DecodePageToken(token);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_EQ(common::ErrorReason(bad.status()).value_or(""), "INVALID_PAGE_TOKEN") << token;
  }
}

}  // namespace
}  // namespace payment_service

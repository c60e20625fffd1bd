#include <string>

#include "common/errors.h"
#include "common/idempotency.h"
#include "gtest/gtest.h"
#include "orders/v1/orders.pb.h"

namespace {

std::string ReasonOf(const absl::StatusOr<std::string>& result) {
  return common::ErrorReason(result.status()).value_or("");
}

TEST(IdempotencyKeyTest, AcceptsOneVisibleAsciiKey) {
  auto key = common::ValidateIdempotencyKey({"order-7f3a~!"});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "order-7f3a~!");
  EXPECT_TRUE(common::ValidateIdempotencyKey({std::string(255, 'k')}).ok());
}

TEST(IdempotencyKeyTest, RejectsMissingRepeatedEmptyLongAndInvisible) {
  auto missing = common::ValidateIdempotencyKey({});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(missing), "IDEMPOTENCY_KEY_MISSING");

  for (const std::vector<absl::string_view>& values : std::vector<std::vector<absl::string_view>>{
           {"a", "b"}, {""}, {std::string(256, 'k')}, {"has space"}, {"tab\t"}, {"caf\xc3\xa9"}}) {
    auto result = common::ValidateIdempotencyKey(values);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ReasonOf(result), "IDEMPOTENCY_KEY_INVALID");
    EXPECT_EQ(common::ViolatedFields(result.status()), std::vector<std::string>{"idempotency-key"});
  }
}

// A proxy that folds two copies of the header sends "K3,K3": refused, so that a later retry
// with "K3" cannot become a second order (or charge).
TEST(IdempotencyKeyTest, RejectsACommaJoinedValue) {
  for (absl::string_view folded : {"K3,K3", "K3,", ",K3", ","}) {
    auto result = common::ValidateIdempotencyKey({folded});
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << folded;
    EXPECT_EQ(ReasonOf(result), "IDEMPOTENCY_KEY_INVALID") << folded;
  }
}

TEST(FingerprintTest, SameRequestSameFingerprintDifferentRequestOrMethodDiffers) {
  orders::v1::CreateOrderRequest a;
  a.set_customer_id("c1");
  a.set_currency("USD");
  auto* item = a.add_items();
  item->set_sku("sku-1");
  item->set_quantity(2);
  item->set_unit_price_cents(500);
  orders::v1::CreateOrderRequest b = a;
  EXPECT_EQ(common::RequestFingerprint("m", a), common::RequestFingerprint("m", b));
  EXPECT_EQ(common::RequestFingerprint("m", a).size(), 32u);
  b.mutable_items(0)->set_quantity(3);
  EXPECT_NE(common::RequestFingerprint("m", a), common::RequestFingerprint("m", b));
  EXPECT_NE(common::RequestFingerprint("m1", a), common::RequestFingerprint("m2", a));
}

}  // namespace

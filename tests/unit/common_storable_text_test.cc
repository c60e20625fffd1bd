// The text rule of both services (common/storable_text.h): every string field of a request,
// nested, repeated and map fields included, is found with its path when PostgreSQL could not
// store it verbatim; lengths are counted in characters.
#include <string>

#include "common/errors.h"
#include "common/storable_text.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "orders/v1/orders.pb.h"
#include "payments/v1/payments.pb.h"

namespace common {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using namespace std::string_literals;

std::vector<std::string> Fields(const google::protobuf::Message& message) {
  std::vector<std::string> fields;
  for (const FieldViolation& v : UnstorableTextFields(message)) fields.push_back(v.field);
  return fields;
}

TEST(StorableTextTest, TopLevelStringsWithANulAreNamed) {
  orders::v1::CancelOrderRequest cancel;
  cancel.set_id(1);
  cancel.set_reason("changed\0mind"s);
  EXPECT_THAT(Fields(cancel), ElementsAre("reason"));

  orders::v1::ListOrdersRequest list;
  list.set_customer_id("alice\0x"s);
  EXPECT_THAT(Fields(list), ElementsAre("customer_id"));

  payments::v1::ChargeRequest charge;
  charge.set_customer_id("c\0d"s);
  charge.set_payment_method("pm_card_visa\0"s);
  EXPECT_THAT(Fields(charge), ElementsAre("payment_method", "customer_id"));
}

TEST(StorableTextTest, NestedAndRepeatedFieldsAreWalkedWithTheirPaths) {
  orders::v1::PutImportChunkRequest chunk;
  chunk.set_import_id("imp");
  for (int i = 0; i < 3; ++i) {
    auto* order = chunk.add_orders();
    order->set_customer_id("cust");
    order->add_items()->set_sku("ok");
    order->add_items()->set_sku("ok");
  }
  chunk.mutable_orders(1)->mutable_items(1)->set_sku("bad\0sku"s);
  chunk.mutable_orders(2)->set_payment_method("\0"s);
  EXPECT_THAT(Fields(chunk), ElementsAre("orders[1].items[1].sku", "orders[2].payment_method"));

  orders::v1::SetShippingAddressRequest address;
  address.mutable_address()->set_line1("1-2-3\0Shibuya"s);
  address.mutable_address()->set_postal_code("150\0"s);
  EXPECT_THAT(Fields(address), ElementsAre("address.line1", "address.postal_code"));
}

TEST(StorableTextTest, MapKeysAndValuesAreWalked) {
  google::rpc::ErrorInfo info;
  (*info.mutable_metadata())["fine"] = "value";
  (*info.mutable_metadata())["k"] = "a\0b"s;
  (*info.mutable_metadata())["x\0y"s] = "ok";
  std::vector<FieldViolation> violations = UnstorableTextFields(info);
  std::vector<std::string> fields;
  for (const auto& v : violations) fields.push_back(v.field);
  EXPECT_THAT(fields, ::testing::UnorderedElementsAre("metadata[\"k\"]", "metadata[\"x\\x00y\"]"));
  for (const auto& v : violations) {
    if (v.field == "metadata[\"x\\x00y\"]") {
      EXPECT_THAT(v.description, ::testing::StartsWith("the key"));
    }
  }

  // Map values that are messages are walked further.
  google::protobuf::Struct doc;
  auto& inner = *(*doc.mutable_fields())["outer"].mutable_struct_value()->mutable_fields();
  inner["name"].set_string_value("N\0"s);
  (*doc.mutable_fields())["list"].mutable_list_value()->add_values()->set_string_value("\0"s);
  EXPECT_THAT(Fields(doc), ::testing::UnorderedElementsAre(
                               "fields[\"outer\"].struct_value.fields[\"name\"].string_value",
                               "fields[\"list\"].list_value.values[0].string_value"));
}

TEST(StorableTextTest, BytesFieldsAndStorableTextPass) {
  orders::v1::CancelOrderRequest cancel;
  cancel.set_reason("気が変わった — changed my mind");
  EXPECT_THAT(Fields(cancel), IsEmpty());
  EXPECT_TRUE(CheckStorableText(cancel).ok());
  // bytes are stored as bytea, where a NUL is an ordinary byte.
  google::protobuf::BytesValue bytes;
  bytes.set_value("a\0b"s);
  EXPECT_THAT(Fields(bytes), IsEmpty());
}

TEST(StorableTextTest, BytesThatAreNotUtf8AreNamed) {
  orders::v1::CancelOrderRequest cancel;
  cancel.set_reason("\xff");  // in-process callers are held to what gRPC enforces on the wire
  ASSERT_THAT(Fields(cancel), ElementsAre("reason"));
  EXPECT_EQ(UnstorableTextFields(cancel)[0].description, "is not valid UTF-8");
  EXPECT_TRUE(IsValidUtf8("ascii, é, 気, 😀"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe6\xb0"));          // cut short
}

TEST(StorableTextTest, RefusalIsInvalidArgumentWithOneViolationPerField) {
  orders::v1::CreateOrderRequest create;
  create.set_customer_id("a\0"s);
  create.add_items()->set_sku("b\0"s);
  absl::Status status = CheckStorableText(create);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(status), "TEXT_NOT_STORABLE");
  EXPECT_THAT(ViolatedFields(status), ElementsAre("customer_id", "items[0].sku"));
}

TEST(StorableTextTest, CharactersAreCodePointsNotBytes) {
  EXPECT_EQ(CharacterCount(""), 0u);
  EXPECT_EQ(CharacterCount("abc"), 3u);
  EXPECT_EQ(CharacterCount("気が変わった"), 6u);  // 18 bytes
  EXPECT_EQ(CharacterCount("😀é"), 2u);            // 6 bytes
}

}  // namespace
}  // namespace common

#include "common/errors.h"
#include "common/status_mapper.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace {

google::rpc::Status DetailsOf(const grpc::Status& status) {
  google::rpc::Status rpc;
  EXPECT_TRUE(rpc.ParseFromString(status.error_details()));
  return rpc;
}

TEST(StatusMapperTest, DomainErrorCarriesOneErrorInfoAndFieldViolations) {
  absl::Status domain = common::InvalidArgument("ORDER_INVALID", "bad order",
                                                {{"items", "required"}, {"currency", "unknown"}});
  grpc::Status wire = common::ToGrpcStatus(domain, "orders.example");
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(wire.error_message(), "bad order");
  google::rpc::Status rpc = DetailsOf(wire);
  EXPECT_EQ(rpc.code(), 3);
  int error_infos = 0;
  for (const auto& any : rpc.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) {
      ++error_infos;
      EXPECT_EQ(info.reason(), "ORDER_INVALID");
      EXPECT_EQ(info.domain(), "orders.example");
    }
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&bad)) {
      ASSERT_EQ(bad.field_violations_size(), 2);
      EXPECT_EQ(bad.field_violations(0).field(), "items");
    }
  }
  EXPECT_EQ(error_infos, 1);
}

TEST(StatusMapperTest, PlainErrorGetsReasonFromCodeAndRoundTrips) {
  grpc::Status wire = common::ToGrpcStatus(absl::UnavailableError("db down"), "payments.example");
  absl::Status back = common::FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(common::ErrorReason(back), "UNAVAILABLE");
  EXPECT_TRUE(common::IsTransient(back.code()));
  EXPECT_FALSE(common::IsTransient(absl::StatusCode::kFailedPrecondition));
}

// gRPC's own refusal of an oversize message (no ErrorInfo, "larger than max") is deterministic;
// a service's RESOURCE_EXHAUSTED, which always leaves with an ErrorInfo, stays transient.
TEST(StatusMapperTest, MessageOverTheSizeLimitIsNotTransient) {
  for (const char* message : {"Received message larger than max (7200000 vs. 4194304)",
                              "Sent message larger than max (7200000 vs. 4194304)"}) {
    absl::Status transport =
        common::FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, message));
    EXPECT_TRUE(common::IsMessageTooLarge(transport)) << message;
    EXPECT_FALSE(common::IsTransient(transport)) << message;
    EXPECT_TRUE(common::IsTransient(transport.code()));
  }
  absl::Status pool = common::FromGrpcStatus(common::ToGrpcStatus(
      absl::ResourceExhaustedError("no free connection before the deadline"), "orders.example"));
  EXPECT_FALSE(common::IsMessageTooLarge(pool));
  EXPECT_TRUE(common::IsTransient(pool));
  // Even with the words, a status that carries an ErrorInfo came from a service, not the transport.
  absl::Status worded = common::FromGrpcStatus(common::ToGrpcStatus(
      absl::ResourceExhaustedError("a batch larger than max"), "orders.example"));
  EXPECT_FALSE(common::IsMessageTooLarge(worded));
  EXPECT_TRUE(common::IsTransient(absl::UnavailableError("down")));
  EXPECT_FALSE(common::IsTransient(absl::InvalidArgumentError("bad")));
}

TEST(StatusMapperTest, RetryInfoTravels) {
  absl::Status in_use = common::WithRetryDelay(
      common::ErrorWithReason(absl::StatusCode::kAborted, "IDEMPOTENCY_KEY_IN_USE", "busy"),
      absl::Milliseconds(1500));
  google::rpc::Status rpc = DetailsOf(common::ToGrpcStatus(in_use, "orders.example"));
  bool found = false;
  for (const auto& any : rpc.details()) {
    google::rpc::RetryInfo retry;
    if (any.UnpackTo(&retry)) {
      found = true;
      EXPECT_EQ(retry.retry_delay().seconds(), 1);
      EXPECT_EQ(retry.retry_delay().nanos(), 500000000);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(common::ToGrpcStatus(absl::OkStatus(), "x").ok());
}

}  // namespace

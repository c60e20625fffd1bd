// grpc.health.v1 for tests: what a server answers for one health name.
#pragma once

#include <string>

#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/support/wait.h"

namespace testing_support {

// The status `addr` reports for health name `service` ("" readiness, "liveness"); UNKNOWN when
// the call fails (not listening, unknown name, 1 s deadline).
inline grpc::health::v1::HealthCheckResponse::ServingStatus HealthOf(const std::string& addr,
                                                                     const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  if (!stub->Check(&context, request, &response).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

// Whether `addr` reports `want` for health name `service` within `timeout` (polled; the failure
// message names `what`).
inline ::testing::AssertionResult HealthBecomes(
    const std::string& addr, const std::string& service,
    grpc::health::v1::HealthCheckResponse::ServingStatus want, absl::Duration timeout,
    const std::string& what) {
  return Eventually([&] { return HealthOf(addr, service) == want; }, timeout, what);
}

}  // namespace testing_support

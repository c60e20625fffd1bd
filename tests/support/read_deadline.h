// Reads bounded by the caller's deadline, as both services' integration tests check them: an
// in-process gRPC server on a loopback port, and a read run while every pooled connection is on
// loan (header-only: the area test binaries link gRPC and common_pg already).
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "common/pg/pool.h"
#include "common/pg/timeouts.h"
#include "common/status_mapper.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace testing_support {

// `service` served on 127.0.0.1, a free port (written to `*port`); null when it did not start.
// A bare server: common::GrpcServer brings gRPC reflection, whose descriptors the area test
// binaries already hold (grpc_std_proto).
inline std::unique_ptr<grpc::Server> StartLoopbackServer(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

// `service` served on a loopback port (into `*server`) and a stub of GrpcService on it; null when
// the server did not start.
template <typename GrpcService>
std::unique_ptr<typename GrpcService::Stub> StartLoopbackStub(
    grpc::Service* service, std::unique_ptr<grpc::Server>* server) {
  int port = 0;
  *server = StartLoopbackServer(service, &port);
  if (*server == nullptr) return nullptr;
  return GrpcService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
}

// Runs `read` (an RPC whose client deadline is `deadline` from its start) while all of `pool`'s
// pool_size connections are on loan, and expects the store's answer for a pool wait that ran
// out (RESOURCE_EXHAUSTED from pg::Pool::Acquire, as for keyed writes) to reach the caller
// within about `deadline`: the pool wait ends at pg::WaitDeadline, pg::LockTimeoutMargin before it.
// Then, with the connections back, the same read must succeed.
inline void ExpectReadBoundedByDeadline(pg::Pool& pool, int pool_size, absl::Duration deadline,
                                        const std::function<grpc::Status(absl::Duration)>& read) {
  const int64_t exhausted_before = pool.usage().exhausted;
  std::vector<pg::Pool::Lease> held;
  for (int i = 0; i < pool_size; ++i) {
    ASSERT_OK_AND_ASSIGN(pg::Pool::Lease lease, pool.Acquire(absl::Now() + absl::Seconds(5)));
    held.push_back(std::move(lease));
  }
  const absl::Time start = absl::Now();
  const grpc::Status status = read(deadline);
  const absl::Duration took = absl::Now() - start;
  std::printf("read with a %s deadline, pool exhausted: answered after %s\n",
              absl::FormatDuration(deadline).c_str(), absl::FormatDuration(took).c_str());
  // The store's answer, or (on a machine so loaded that it came later than the margin) the
  // caller's own DEADLINE_EXCEEDED: either way the read ended by the caller's deadline, not after
  // a fixed bound of seconds.
  EXPECT_TRUE(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
              status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_code() << " " << status.error_message() << " after " << took;
  // The store's answer asks for a retry later (RetryInfo, sent as grpc-retry-pushback-ms too).
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    EXPECT_EQ(common::RetryDelayOf(common::FromGrpcStatus(status)), pg::Pool::kExhaustedRetryDelay);
  }
  // The pool wait is what ended (counted by the server, perhaps just after the caller gave up).
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (pool.usage().exhausted == exhausted_before && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(pool.usage().exhausted, exhausted_before + 1);
  EXPECT_GE(took, deadline - pg::LockTimeoutMargin(deadline) - absl::Milliseconds(100)) << took;
  held.clear();
  const grpc::Status again = read(deadline);
  EXPECT_TRUE(again.ok()) << again.error_message();
}

}  // namespace testing_support

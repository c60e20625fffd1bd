// OutboxAdmin's request checks, in process over a store that records what reaches it.
#include <string>
#include <vector>

#include "common/auth.h"
#include "common/errors.h"
#include "common/status_mapper.h"
#include "grpcpp/server_context.h"
#include "gtest/gtest.h"
#include "order_service/outbox_admin_service.h"

namespace orders {
namespace {

class ListOnlyStore final : public OutboxStore {
 public:
  absl::StatusOr<std::vector<OutboxEvent>> Claim(const std::string&, int, absl::Duration) override {
    return std::vector<OutboxEvent>{};
  }
  absl::StatusOr<int64_t> ExtendLeases(const std::vector<int64_t>&, const std::string&,
                                       absl::Duration) override {
    return 0;
  }
  absl::StatusOr<std::vector<bool>> CompleteAll(const std::vector<Completion>& completions,
                                                const std::string&) override {
    return std::vector<bool>(completions.size(), false);
  }
  absl::StatusOr<bool> Reschedule(const OutboxEvent&, const std::string&, absl::Duration,
                                  const std::string&) override {
    return false;
  }
  absl::StatusOr<bool> Bury(const OutboxEvent&, const std::string&, const std::string&) override {
    return false;
  }
  absl::StatusOr<std::vector<orders::v1::OutboxEvent>> List(const OutboxListQuery& q) override {
    queries.push_back(q);
    return std::vector<orders::v1::OutboxEvent>{};
  }
  absl::StatusOr<int64_t> Requeue(const std::vector<int64_t>&) override { return 0; }
  absl::StatusOr<OutboxCounts> Counts() override { return OutboxCounts{}; }

  std::vector<OutboxListQuery> queries;
};

// Found by fuzz_outbox_admin_requests (tests/fuzz/corpus/fuzz_outbox_admin_requests/
// list_huge_min_age): a min_age_seconds of 2^63-1 reached PostgreSQL, whose now() - interval
// failed with "interval out of range" (SQLSTATE 22008) instead of a clear refusal.
TEST(OutboxAdminTest, MinAgeBeyondACenturyIsRefusedBeforeTheStore) {
  ListOnlyStore store;
  const common::TokenAuthenticator open = *common::TokenAuthenticator::Parse("");
  OutboxAdminService service(store, nullptr, open, open);
  for (int64_t age : {kMaxOutboxMinAgeSeconds + 1, int64_t{1'000'000'000'000}, INT64_MAX}) {
    grpc::ServerContext context;
    orders::v1::ListOutboxEventsRequest request;
    request.set_min_age_seconds(age);
    orders::v1::ListOutboxEventsResponse response;
    const absl::Status s =
        common::FromGrpcStatus(service.ListOutboxEvents(&context, &request, &response));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << age;
    EXPECT_EQ(common::ErrorReason(s).value_or(""), "MIN_AGE_INVALID") << age;
    EXPECT_EQ(common::ViolatedFields(s), std::vector<std::string>{"min_age_seconds"});
  }
  EXPECT_TRUE(store.queries.empty());
  grpc::ServerContext context;
  orders::v1::ListOutboxEventsRequest request;
  request.set_min_age_seconds(kMaxOutboxMinAgeSeconds);
  orders::v1::ListOutboxEventsResponse response;
  EXPECT_TRUE(service.ListOutboxEvents(&context, &request, &response).ok());
  ASSERT_EQ(store.queries.size(), 1u);
  EXPECT_EQ(store.queries[0].min_age, absl::Seconds(kMaxOutboxMinAgeSeconds));
}

}  // namespace
}  // namespace orders

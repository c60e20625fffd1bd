// The limits the transport enforces, against the real pair through the client library: an import
// chunk at the documented maximum (1,000 orders of 100 line items with 64-character SKUs, over
// gRPC's 4 MiB default) is put and committed; a larger message is refused by gRPC before the
// service sees it, and the client makes exactly one attempt; and order_service refuses to start
// with a message limit below the largest valid chunk.
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/orders_client.h"
#include "common/status_mapper.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"
#include "tests/support/import_chunks.h"
#include "tests/support/service_stack.h"
#include "tests/support/test_db.h"

namespace {

using ::testing::HasSubstr;
constexpr auto& Scalar = testing_support::ScalarOrError;

TEST(OpsMessageLimitsTest, LargestChunkIsImportedAndALargerMessageIsRefusedAfterOneAttempt) {
  auto stack = testing_support::ServiceStack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  orders_client::ClientOptions options;
  options.target = (*stack)->order_addr();
  options.attempt_timeout = absl::Seconds(60);
  options.overall_timeout = absl::Seconds(120);
  auto client = orders_client::OrdersClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();

  const orders::v1::PutImportChunkRequest largest = testing_support::LargestChunk("limits", 0);
  ASSERT_GT(largest.ByteSizeLong(), 4u << 20);
  orders_client::CallInfo info;
  auto chunk = (*client)->PutImportChunk(largest, {.info = &info});
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_EQ(info.attempts, 1);
  EXPECT_EQ(chunk->order_count(), 1000);
  auto summary = (*client)->CommitImport("limits", 1);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->order_count(), 1000);
  EXPECT_EQ(summary->last_order_id() - summary->first_order_id() + 1, 1000);
  EXPECT_EQ(Scalar((*stack)->order_db(), "SELECT count(*) FROM order_items"), "100000");

  // Over the server's limit (16 MiB): gRPC refuses it before the service, the same way every time.
  const orders::v1::PutImportChunkRequest larger =
      testing_support::LargestChunk("limits-larger", 0, 2300);
  ASSERT_GT(larger.ByteSizeLong(), 16u << 20);
  const absl::Time start = absl::Now();
  auto refused = (*client)->PutImportChunk(larger, {.info = &info});
  std::printf("%zu bytes: %s after %s\n", larger.ByteSizeLong(),
              refused.status().ToString().c_str(),
              absl::FormatDuration(absl::Now() - start).c_str());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(common::IsMessageTooLarge(refused.status()));
  EXPECT_EQ(info.attempts, 1);
  EXPECT_EQ(Scalar((*stack)->order_db(),
                   "SELECT count(*) FROM import_chunks WHERE import_id = 'limits-larger'"),
            "0");
}

TEST(OpsMessageLimitsTest, OrderServiceRefusesAMessageLimitBelowTheLargestChunk) {
  const std::string dir = testing_support::MakeTempDir("limits");
  auto child = testing_support::ChildProcess::Start(
      ORDER_SERVICE_BIN, {"--port=0", "--max_message_bytes=4194304"}, dir + "/order.log");
  ASSERT_TRUE(child.ok()) << child.status();
  const int status = child->WaitExit(absl::Seconds(20));
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::ifstream in(dir + "/order.log");
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_THAT(log.str(), HasSubstr("max_message_bytes"));
  EXPECT_THAT(log.str(), HasSubstr("8105134"));
}

}  // namespace

// OrderServiceConfigFromFlags: every flag read in one place, each bad value refused with a
// message naming the flag, and the deprecated --handler_threads still accepted.
#include <optional>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "order_service/config.h"
#include "order_service/validation.h"

ABSL_DECLARE_FLAG(std::string, role);
ABSL_DECLARE_FLAG(std::string, database);
ABSL_DECLARE_FLAG(std::string, listen_database);
ABSL_DECLARE_FLAG(std::string, tokens);
ABSL_DECLARE_FLAG(int, relay_batch);
ABSL_DECLARE_FLAG(int, max_message_bytes);
ABSL_DECLARE_FLAG(int, max_pollers);
ABSL_DECLARE_FLAG(std::optional<int>, handler_threads);
ABSL_DECLARE_FLAG(double, chaos_failure_rate);
ABSL_DECLARE_FLAG(absl::Duration, relay_backoff_initial);

namespace orders {
namespace {

using ::testing::HasSubstr;

class OrderConfigTest : public ::testing::Test {
 protected:
  // Each test sets flags; the saver puts every flag back for the next.
  absl::FlagSaver saver_;

  static std::string ErrorOf(const absl::StatusOr<OrderServiceConfig>& config) {
    EXPECT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(config.status().message());
  }
};

TEST_F(OrderConfigTest, DefaultsMakeAValidConfig) {
  absl::SetFlag(&FLAGS_database, "dbname=orders_test");
  absl::SetFlag(&FLAGS_listen_database, "");
  absl::StatusOr<OrderServiceConfig> config = OrderServiceConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->role, "all");
  EXPECT_TRUE(config->serves_api());
  EXPECT_TRUE(config->runs_relay());
  EXPECT_EQ(config->listen_database, "dbname=orders_test");  // --database when empty
  EXPECT_EQ(config->server.max_pollers, 64);
  EXPECT_EQ(config->server.service_name, "order_service");
  EXPECT_EQ(config->server.port_file, "");  // written once the database answered
  EXPECT_EQ(config->metrics.host, config->server.host);
  EXPECT_GT(config->server.max_threads, config->admission.limit);
  EXPECT_FALSE(config->tenants.enabled());
}

TEST_F(OrderConfigTest, RoleSelectsWhatRuns) {
  absl::SetFlag(&FLAGS_role, "api");
  absl::StatusOr<OrderServiceConfig> api = OrderServiceConfigFromFlags();
  ASSERT_TRUE(api.ok()) << api.status();
  EXPECT_TRUE(api->serves_api());
  EXPECT_FALSE(api->runs_relay());
  absl::SetFlag(&FLAGS_role, "relay");
  absl::StatusOr<OrderServiceConfig> relay = OrderServiceConfigFromFlags();
  ASSERT_TRUE(relay.ok()) << relay.status();
  EXPECT_FALSE(relay->serves_api());
  EXPECT_TRUE(relay->runs_relay());
}

TEST_F(OrderConfigTest, EachBadFlagIsNamedInTheError) {
  absl::SetFlag(&FLAGS_role, "worker");
  EXPECT_THAT(ErrorOf(OrderServiceConfigFromFlags()), HasSubstr("--role=worker"));
  absl::SetFlag(&FLAGS_role, "all");

  absl::SetFlag(&FLAGS_relay_batch, 0);
  EXPECT_THAT(ErrorOf(OrderServiceConfigFromFlags()), HasSubstr("--relay_batch=0"));
  absl::SetFlag(&FLAGS_relay_batch, 16);

  absl::SetFlag(&FLAGS_max_message_bytes, static_cast<int>(kMaxImportChunkBytes - 1));
  EXPECT_THAT(ErrorOf(OrderServiceConfigFromFlags()), HasSubstr("--max_message_bytes"));
  absl::SetFlag(&FLAGS_max_message_bytes, 16 << 20);

  absl::SetFlag(&FLAGS_chaos_failure_rate, 1.5);
  EXPECT_THAT(ErrorOf(OrderServiceConfigFromFlags()), HasSubstr("--chaos_failure_rate"));
  absl::SetFlag(&FLAGS_chaos_failure_rate, 0);

  absl::SetFlag(&FLAGS_relay_backoff_initial, absl::Seconds(10));
  EXPECT_THAT(ErrorOf(OrderServiceConfigFromFlags()), HasSubstr("--relay_backoff_initial"));
  absl::SetFlag(&FLAGS_relay_backoff_initial, absl::Milliseconds(50));

  absl::SetFlag(&FLAGS_tokens, "no-equals-sign");
  EXPECT_THAT(ErrorOf(OrderServiceConfigFromFlags()), HasSubstr("--tokens: "));
  absl::SetFlag(&FLAGS_tokens, "");

  absl::SetFlag(&FLAGS_max_pollers, 0);
  EXPECT_THAT(ErrorOf(OrderServiceConfigFromFlags()), HasSubstr("--max_pollers=0"));
}

TEST_F(OrderConfigTest, DeprecatedHandlerThreadsFlagSetsThePollersWithAWarning) {
  absl::SetFlag(&FLAGS_handler_threads, 8);
  ::testing::internal::CaptureStderr();
  absl::StatusOr<OrderServiceConfig> config = OrderServiceConfigFromFlags();
  const std::string warning = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.max_pollers, 8);
  EXPECT_THAT(warning, HasSubstr("--handler_threads is deprecated, use --max_pollers"));

  absl::SetFlag(&FLAGS_handler_threads, std::nullopt);
  absl::SetFlag(&FLAGS_max_pollers, 12);
  ::testing::internal::CaptureStderr();
  config = OrderServiceConfigFromFlags();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.max_pollers, 12);
}

}  // namespace
}  // namespace orders

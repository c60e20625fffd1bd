// OrderServiceConfigFromFlags: every flag read in one place, each bad value refused with a
// message naming the flag, and the deprecated --handler_threads still accepted.
#include <cstdlib>
#include <string>

#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "order_service/config.h"
#include "tests/support/flags.h"

namespace orders {
namespace {

using ::testing::HasSubstr;
using testing_support::SetFlagFromText;

class OrderConfigTest : public ::testing::Test {
 protected:
  absl::FlagSaver saver_;  // every flag back for the next test
};

TEST_F(OrderConfigTest, DefaultsMakeAValidConfig) {
  SetFlagFromText("database", "dbname=orders_test");
  SetFlagFromText("listen_database", "");
  absl::StatusOr<OrderServiceConfig> config = OrderServiceConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->role, "all");
  EXPECT_TRUE(config->serves_api());
  EXPECT_TRUE(config->runs_relay());
  EXPECT_EQ(config->listen_database, "dbname=orders_test");  // --database when empty
  EXPECT_EQ(config->server.max_pollers, 64);
  EXPECT_EQ(config->server.service_name, "order_service");
  EXPECT_EQ(config->server.error_domain, "orders.example");
  EXPECT_EQ(config->server.port_file, "");  // written once the database answered
  EXPECT_EQ(config->metrics.host, config->server.host);
  EXPECT_GT(config->server.max_threads, config->admission.options.limit);
  EXPECT_FALSE(config->tenants.enabled());
}

TEST_F(OrderConfigTest, RoleSelectsWhatRuns) {
  SetFlagFromText("role", "api");
  absl::StatusOr<OrderServiceConfig> api = OrderServiceConfigFromFlags();
  ASSERT_TRUE(api.ok()) << api.status();
  EXPECT_TRUE(api->serves_api());
  EXPECT_FALSE(api->runs_relay());
  SetFlagFromText("role", "relay");
  absl::StatusOr<OrderServiceConfig> relay = OrderServiceConfigFromFlags();
  ASSERT_TRUE(relay.ok()) << relay.status();
  EXPECT_FALSE(relay->serves_api());
  EXPECT_TRUE(relay->runs_relay());
}

TEST_F(OrderConfigTest, EachBadFlagIsNamedInTheError) {
  testing_support::ExpectEachBadFlagNamed(
      OrderServiceConfigFromFlags,
      {
          {"role", "worker", "all", "--role=worker"},
          {"relay_batch", "0", "16", "--relay_batch=0"},
          // One byte below the largest valid import chunk (order_service/validation.h).
          {"max_message_bytes", "8105133", "16777216", "--max_message_bytes=8105133"},
          {"chaos_failure_rate", "1.5", "0", "--chaos_failure_rate"},
          {"relay_backoff_initial", "10s", "50ms", "--relay_backoff_initial"},
          {"tokens", "no-equals-sign", "", "--tokens: "},
          {"admin_tokens", "no-equals-sign", "", "--admin_tokens: "},
          {"tokens", "tok=a=b", "", "--tokens: entry 1: the token is not"},
          {"admin_tokens", "ops=oncall,ops=other", "", "--admin_tokens: entry 2 repeats"},
          {"failpoints", "order_after_comit", "",
           "--failpoints: entry 1 (order_after_comit): no such"},
          {"failpoints", "relay_after_payment@0", "", "--failpoints: entry 1"},
          {"chaos_methods", "CreateOrder,CreateOrders", "",
           "--chaos_methods: entry 2 (CreateOrders)"},
          {"chaos_methods", "CreateOrder, CreateOrder", "",
           "--chaos_methods: entry 2 (CreateOrder) names a method an earlier entry names"},
          {"max_pollers", "0", "64", "--max_pollers=0"},
          {"admission_max_pushback", "50ms", "5s", "--admission_max_pushback"},
          {"admission_algorithm", "lifo", "fixed", "--admission_algorithm"},
          {"admission_standing_queue_wait", "0s", "1ms", "--admission_standing_queue_wait"},
          {"relay_busy_pace", "0.9", "1.1", "--relay_busy_pace"},
      });
}

// A tenant's token never opens OutboxAdmin: not even when the operator list names it too.
TEST_F(OrderConfigTest, ATokenThatIsBothATenantsAndAnOperatorsIsRefused) {
  SetFlagFromText("tokens", "tok-a=acme,shared9=globex");
  SetFlagFromText("admin_tokens", "ops-1=oncall,shared9=ops");
  absl::StatusOr<OrderServiceConfig> config = OrderServiceConfigFromFlags();
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("--admin_tokens: a token is also a tenant's"));
  EXPECT_THAT(config.status().message(), testing::Not(HasSubstr("shared9")));
  SetFlagFromText("admin_tokens", "ops-1=oncall");
  config = OrderServiceConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->operators.Identify("tok-a").ok());
}

// The same FAILPOINTS reaches both services: order_service arms its own names only.
TEST_F(OrderConfigTest, SharedFailpointsEnvironmentArmsOnlyOrdersOwnNames) {
  struct RestoreEnv {
    ~RestoreEnv() { unsetenv("FAILPOINTS"); }
  } restore;
  setenv("FAILPOINTS", "order_after_commit@2,payment_after_charge_commit", 1);
  absl::StatusOr<OrderServiceConfig> config = OrderServiceConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->failpoints, (common::FailpointSpec{{"order_after_commit", 2}}));
  SetFlagFromText("failpoints", "payment_after_charge_commit");  // the flag is order_service's
  EXPECT_THAT(OrderServiceConfigFromFlags().status().message(),
              HasSubstr("--failpoints: entry 1 (payment_after_charge_commit): no such failpoint"));
}

TEST_F(OrderConfigTest, DeprecatedHandlerThreadsFlagSetsThePollersWithAWarning) {
  SetFlagFromText("handler_threads", "8");
  ::testing::internal::CaptureStderr();
  absl::StatusOr<OrderServiceConfig> config = OrderServiceConfigFromFlags();
  const std::string warning = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.max_pollers, 8);
  EXPECT_THAT(warning, HasSubstr("--handler_threads is deprecated, use --max_pollers"));

  SetFlagFromText("handler_threads", "");  // unset again (an optional flag)
  SetFlagFromText("max_pollers", "12");
  ::testing::internal::CaptureStderr();
  config = OrderServiceConfigFromFlags();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.max_pollers, 12);
}

}  // namespace
}  // namespace orders

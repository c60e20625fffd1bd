// PaymentServiceConfigFromFlags: every flag read in one place, each bad value refused with a
// message naming the flag.
#include <cstdlib>

#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "payment_service/config.h"
#include "tests/support/flags.h"

namespace payment_service {
namespace {

using testing_support::SetFlagFromText;

class PaymentConfigTest : public ::testing::Test {
 protected:
  absl::FlagSaver saver_;  // every flag back for the next test
};

TEST_F(PaymentConfigTest, FlagsMakeTheConfig) {
  SetFlagFromText("store", "memory");
  SetFlagFromText("fail_after_charge", "0.25");
  SetFlagFromText("latency_ms", "7");
  SetFlagFromText("retention", "2h");
  SetFlagFromText("tokens", "t1=orders");
  absl::StatusOr<PaymentServiceConfig> config = PaymentServiceConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store, "memory");
  EXPECT_EQ(config->faults.fail_after_charge, 0.25);
  EXPECT_EQ(config->faults.latency_ms, 7);
  EXPECT_EQ(config->retention.retention, absl::Hours(2));
  EXPECT_TRUE(config->callers.enabled());
  EXPECT_EQ(config->server.service_name, "payment_service");
  EXPECT_EQ(config->server.error_domain, "payments.example");
  EXPECT_EQ(config->server.port_file, "");  // written once the schema is in place
  EXPECT_EQ(config->server.max_pollers, 64);
  EXPECT_GT(config->server.max_threads, config->admission.options.limit);
}

// FAILPOINTS is shared by the stack (deploy/local/run.sh passes it to both services): payments
// arms its own names, skips order_service's and refuses any other; --failpoints is its own.
TEST_F(PaymentConfigTest, SharedFailpointsEnvironmentArmsOnlyPaymentsOwnNames) {
  struct RestoreEnv {
    ~RestoreEnv() { unsetenv("FAILPOINTS"); }
  } restore;
  SetFlagFromText("store", "memory");
  setenv("FAILPOINTS", "order_after_commit@2, payment_after_charge_commit@3,relay_after_payment",
         1);
  absl::StatusOr<PaymentServiceConfig> config = PaymentServiceConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->failpoints, (common::FailpointSpec{{"payment_after_charge_commit", 3}}));

  setenv("FAILPOINTS", "payment_after_charge_comit", 1);
  config = PaymentServiceConfigFromFlags();
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              testing::HasSubstr("environment FAILPOINTS: entry 1 (payment_after_charge_comit): "
                                 "no such failpoint"));

  setenv("FAILPOINTS", "order_after_commit,order_after_commit@2", 1);
  EXPECT_FALSE(PaymentServiceConfigFromFlags().ok()) << "a repeat is refused even when skipped";

  SetFlagFromText("failpoints", "payment_after_refund_commit");  // the flag wins, and is ours
  config = PaymentServiceConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->failpoints, (common::FailpointSpec{{"payment_after_refund_commit", 1}}));
}

TEST_F(PaymentConfigTest, BadStoreFaultsReaperTokensAndTlsAreRefusedNamingTheFlag) {
  testing_support::ExpectEachBadFlagNamed(
      PaymentServiceConfigFromFlags,
      {{"store", "redis", "postgres", "--store=redis"},
       {"fail_after_charge", "2", "0", "--fail_after_charge"},
       {"reap_batch", "0", "1000", "--reap_batch=0"},
       {"tokens", "no-equals-sign", "", "--tokens: "},
       {"tokens", "t1=orders,t1=other", "", "--tokens: entry 2 repeats"},
       {"failpoints", "order_after_commit", "",
        "--failpoints: entry 1 (order_after_commit): no such"},
       {"failpoints", "payment_after_charge_commit@x", "", "--failpoints: entry 1"},
       {"tls_cert", "/nonexistent/server.pem", "", "--tls_cert needs --tls_key"}});
}

}  // namespace
}  // namespace payment_service

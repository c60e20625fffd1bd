// PaymentServiceConfigFromFlags: every flag read in one place, each bad value refused with a
// message naming the flag.
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "payment_service/config.h"

ABSL_DECLARE_FLAG(std::string, store);
ABSL_DECLARE_FLAG(std::string, tokens);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(double, fail_after_charge);
ABSL_DECLARE_FLAG(int, reap_batch);
ABSL_DECLARE_FLAG(int, latency_ms);
ABSL_DECLARE_FLAG(absl::Duration, retention);

namespace payment_service {
namespace {

using ::testing::HasSubstr;

class PaymentConfigTest : public ::testing::Test {
 protected:
  absl::FlagSaver saver_;  // puts every flag back for the next test

  static std::string ErrorOf(const absl::StatusOr<PaymentServiceConfig>& config) {
    EXPECT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(config.status().message());
  }
};

TEST_F(PaymentConfigTest, FlagsMakeTheConfig) {
  absl::SetFlag(&FLAGS_store, "memory");
  absl::SetFlag(&FLAGS_fail_after_charge, 0.25);
  absl::SetFlag(&FLAGS_latency_ms, 7);
  absl::SetFlag(&FLAGS_retention, absl::Hours(2));
  absl::SetFlag(&FLAGS_tokens, "t1=orders");
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
  EXPECT_GT(config->server.max_threads, config->admission.limit);
}

TEST_F(PaymentConfigTest, EachBadFlagIsNamedInTheError) {
  absl::SetFlag(&FLAGS_store, "redis");
  EXPECT_THAT(ErrorOf(PaymentServiceConfigFromFlags()), HasSubstr("--store=redis"));
  absl::SetFlag(&FLAGS_store, "memory");

  absl::SetFlag(&FLAGS_fail_after_charge, 2);
  EXPECT_THAT(ErrorOf(PaymentServiceConfigFromFlags()), HasSubstr("--fail_after_charge"));
  absl::SetFlag(&FLAGS_fail_after_charge, 0);

  absl::SetFlag(&FLAGS_reap_batch, 0);
  EXPECT_THAT(ErrorOf(PaymentServiceConfigFromFlags()), HasSubstr("--reap_batch=0"));
  absl::SetFlag(&FLAGS_reap_batch, 1000);

  absl::SetFlag(&FLAGS_tokens, "no-equals-sign");
  EXPECT_THAT(ErrorOf(PaymentServiceConfigFromFlags()), HasSubstr("--tokens: "));
  absl::SetFlag(&FLAGS_tokens, "");

  absl::SetFlag(&FLAGS_tls_cert, "/nonexistent/server.pem");
  EXPECT_THAT(ErrorOf(PaymentServiceConfigFromFlags()), HasSubstr("--tls_cert needs --tls_key"));
}

}  // namespace
}  // namespace payment_service

// Retention: the reaper deletes expired Refund idempotency records in batches, on its own thread.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "payment_service/memory_ledger.h"
#include "payment_service/reaper.h"
#include "tests/support/wait.h"

namespace payment_service {
namespace {

payments::v1::RefundRequest RefundOf(const std::string& charge_key) {
  payments::v1::RefundRequest r;
  r.set_charge_key(charge_key);
  return r;
}

absl::StatusOr<RefundOutcome> Refund(Ledger& ledger, const std::string& refund_key,
                                     const std::string& charge_key, const std::string& fp) {
  return ledger.Refund({"alice", refund_key}, fp, RefundOf(charge_key),
                       absl::Now() + absl::Seconds(5));
}

TEST(PaymentReaperTest, RunOnceReapsOnlyExpiredRecordsBatchByBatch) {
  MemoryLedger ledger;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Refund(ledger, absl::StrCat("r", i), absl::StrCat("c", i), "fp").ok());
  }
  Reaper keep(ledger, {.retention = absl::Hours(24), .batch = 2});
  EXPECT_EQ(*keep.RunOnce(), 0);
  // A negative retention puts the cut-off in the future: everything is expired.
  Reaper reap(ledger, {.retention = -absl::Hours(1), .batch = 2});
  EXPECT_EQ(*reap.RunOnce(), 5);
  EXPECT_EQ(*reap.RunOnce(), 0);
}

TEST(PaymentReaperTest, BackgroundThreadFreesTheKey) {
  MemoryLedger ledger;
  ASSERT_TRUE(Refund(ledger, "r", "c1", "fp-1").ok());
  absl::StatusOr<RefundOutcome> reused = Refund(ledger, "r", "c2", "fp-2");
  ASSERT_EQ(reused.status().code(), absl::StatusCode::kFailedPrecondition);
  Reaper reaper(ledger, {.retention = -absl::Hours(1), .interval = absl::Milliseconds(10)});
  reaper.Start();
  EXPECT_TRUE(testing_support::Eventually([&] { return Refund(ledger, "r", "c2", "fp-2").ok(); },
                                          absl::Seconds(5),
                                          "the reaper to delete the refund record"));
  reaper.Stop();
}

}  // namespace
}  // namespace payment_service

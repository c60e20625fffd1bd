// The deprecated single-number money fields (kept on the wire for old clients; issue 12 case 6:
// they cannot sum two currencies), read in this one place so the tests that still check them
// need no warning suppression of their own.
#pragma once

#include <cstdint>

#include "orders/v1/orders.pb.h"
#include "payments/v1/payments.pb.h"

namespace testing_support {

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
inline int64_t PaidCents(const orders::v1::OrderAnalytics& a) { return a.paid_cents(); }
inline int64_t CancelledCents(const orders::v1::OrderAnalytics& a) { return a.cancelled_cents(); }
inline int64_t AmountCents(const orders::v1::ImportChunk& c) { return c.amount_cents(); }
inline int64_t AmountCents(const orders::v1::ImportSummary& s) { return s.amount_cents(); }
inline int64_t AmountCents(const payments::v1::LedgerSummary::Bucket& b) {
  return b.amount_cents();
}
inline int64_t CapturedCents(const payments::v1::LedgerSummary& s) { return s.captured_cents(); }
#pragma GCC diagnostic pop

}  // namespace testing_support

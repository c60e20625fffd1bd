// Every failpoint of the stack (common::Failpoint), by the process that has it. One catalog, so a
// spec shared by both processes, the FAILPOINTS environment variable that deploy/local/run.sh and
// compose pass to both, can be checked whole: each process arms its own names, skips the other's
// and refuses the rest (common::ParseFailpoints).
#pragma once

#include "absl/strings/string_view.h"

namespace common::failpoints {

// order_service: a create, before its transaction is submitted and right after its commit
// (before the answer); the relay, with events claimed and about to go to payments, and with
// payments' answer received and not yet recorded.
inline constexpr char kOrderBeforeCommit[] = "order_before_commit";
inline constexpr char kOrderAfterCommit[] = "order_after_commit";
inline constexpr char kRelayBeforeDispatch[] = "relay_before_dispatch";
inline constexpr char kRelayAfterPayment[] = "relay_after_payment";
inline constexpr absl::string_view kOrderService[] = {kOrderBeforeCommit, kOrderAfterCommit,
                                                      kRelayBeforeDispatch, kRelayAfterPayment};

// payment_service: after a charge's or a refund's commit, before the reply.
inline constexpr char kPaymentAfterChargeCommit[] = "payment_after_charge_commit";
inline constexpr char kPaymentAfterRefundCommit[] = "payment_after_refund_commit";
inline constexpr absl::string_view kPaymentService[] = {kPaymentAfterChargeCommit,
                                                        kPaymentAfterRefundCommit};

}  // namespace common::failpoints

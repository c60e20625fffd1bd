// order_service's failpoints (common::Failpoint), for crash tests: --failpoints / FAILPOINTS arm
// them by these names, and config refuses any other name (common::ParseFailpoints).
#pragma once

#include "absl/strings/string_view.h"

namespace orders {

// A create: before its transaction is submitted, and right after its commit (before the answer).
inline constexpr char kOrderBeforeCommit[] = "order_before_commit";
inline constexpr char kOrderAfterCommit[] = "order_after_commit";
// The relay, with events claimed and about to be sent to payments.
inline constexpr char kRelayBeforeDispatch[] = "relay_before_dispatch";
// The relay, with payments' answer received and not yet recorded.
inline constexpr char kRelayAfterPayment[] = "relay_after_payment";

inline constexpr absl::string_view kFailpoints[] = {kOrderBeforeCommit, kOrderAfterCommit,
                                                    kRelayBeforeDispatch, kRelayAfterPayment};

}  // namespace orders

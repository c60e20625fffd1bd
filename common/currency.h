// The ISO 4217 currencies both services accept, and totals kept per currency.
//
// Amounts are integers in the minor units of their currency as ISO 4217 defines them (cents for
// USD, yen for JPY, which has no minor unit), so amounts of two currencies are different units
// and are never added together (issue 12, case 6): every aggregate is a list of per-currency
// totals (orders.v1.MoneyTotal, payments.v1.MoneyTotal).
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace common {

bool IsSupportedCurrency(absl::string_view code);

// Largest amount accepted for one order or charge, in minor units.
inline constexpr int64_t kMaxAmountCents = 1'000'000'000'000;

// Adds `amount` (minor units of `currency`) to `totals`, a repeated field of MoneyTotal-shaped
// messages (`currency`, `amount_minor_units`): to the entry of that currency, or a new one.
// Entries stay ordered by currency code, one per currency, so every store that builds a list of
// totals builds the same list. A zero amount adds nothing (no entry for a currency without money).
template <typename Totals>
void AddToTotals(Totals* totals, absl::string_view currency, int64_t amount) {
  if (amount == 0) return;
  int at = 0;
  while (at < totals->size() && totals->Get(at).currency() < currency) ++at;
  if (at == totals->size() || totals->Get(at).currency() != currency) {
    auto* added = totals->Add();
    added->set_currency(std::string(currency));
    for (int i = totals->size() - 1; i > at; --i) totals->SwapElements(i, i - 1);
  }
  auto* entry = totals->Mutable(at);
  entry->set_amount_minor_units(entry->amount_minor_units() + amount);
}

// What a deprecated single-number field (paid_cents, amount_cents, captured_cents) may still
// say without lying: the amount of `totals` when it holds exactly one currency, else 0 (none, or
// several currencies, whose sum would mean nothing).
template <typename Totals>
int64_t SingleCurrencyAmount(const Totals& totals) {
  return totals.size() == 1 ? totals.Get(0).amount_minor_units() : 0;
}

}  // namespace common

// Currencies and per-currency totals (common/currency.h) from arbitrary bytes.
//
// Invariants: a supported code is three upper-case ASCII letters (ISO 4217 alphabetic codes);
// AddToTotals keeps one entry per currency, ordered by code, no entry of amount zero being added,
// and the per-currency sums equal the amounts added (never two currencies in one sum);
// SingleCurrencyAmount is the one entry's amount, else 0.
#include <fuzzer/FuzzedDataProvider.h>

#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "common/currency.h"
#include "fuzz_support.h"
#include "orders/v1/orders.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  google::protobuf::RepeatedPtrField<orders::v1::MoneyTotal> totals;
  std::map<std::string, __int128> expected;
  while (in.remaining_bytes() > 0) {
    const std::string code = in.ConsumeRandomLengthString(5);
    const bool supported = common::IsSupportedCurrency(code);
    if (supported) {
      FUZZ_CHECK(code.size() == 3 && absl::ascii_isupper(code[0]) && absl::ascii_isupper(code[1]) &&
                     absl::ascii_isupper(code[2]),
                 "'%s' accepted as a currency", code.c_str());
    }
    // Amounts as the services add them: each within 0..kMaxAmountCents (validated before).
    const int64_t amount = in.ConsumeIntegralInRange<int64_t>(0, common::kMaxAmountCents);
    if (!supported || totals.size() >= 16) continue;
    common::AddToTotals(&totals, code, amount);
    if (amount != 0) expected[code] += amount;
  }
  FUZZ_CHECK(totals.size() == static_cast<int>(expected.size()), "%d entries for %zu currencies",
             totals.size(), expected.size());
  int i = 0;
  for (const auto& [code, sum] : expected) {
    FUZZ_CHECK(totals.Get(i).currency() == code, "entry %d is %s, expected %s", i,
               totals.Get(i).currency().c_str(), code.c_str());
    FUZZ_CHECK(totals.Get(i).amount_minor_units() == static_cast<int64_t>(sum),
               "the %s sum is wrong", code.c_str());
    ++i;
  }
  const int64_t single = common::SingleCurrencyAmount(totals);
  FUZZ_CHECK(single == (totals.size() == 1 ? totals.Get(0).amount_minor_units() : 0),
             "SingleCurrencyAmount is wrong");
  return 0;
}

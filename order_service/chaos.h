// Injected failures at the API edge, for demonstrations and tests of client retry strategies
// (off unless --chaos_failure_rate > 0). A failing call answers UNAVAILABLE either before doing
// anything or after doing its work ("response lost"), half and half, from a seeded generator.
#pragma once

#include <random>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace orders {

enum class ChaosPoint { kNone, kBefore, kAfter };

// The methods chaos can fail, by the names --chaos_methods lists.
inline constexpr char kChaosCreateOrder[] = "CreateOrder";
inline constexpr char kChaosCancelOrder[] = "CancelOrder";
inline constexpr char kChaosPutImportChunk[] = "PutImportChunk";
inline constexpr char kChaosCommitImport[] = "CommitImport";
inline constexpr absl::string_view kChaosMethods[] = {kChaosCreateOrder, kChaosCancelOrder,
                                                      kChaosPutImportChunk, kChaosCommitImport};

// `csv` (--chaos_methods): method names separated by commas, whitespace around a name and blank
// entries ignored; "": every method in kChaosMethods. INVALID_ARGUMENT, naming the entry by
// position and text, for a name not in kChaosMethods (a typo would make chaos fail nothing, and
// a demonstration of client retries would show none) or a name given twice (as in the other
// list flags: --tokens, --failpoints).
absl::Status ValidateChaosMethods(absl::string_view csv);

class ChaosDice {
 public:
  // `methods_csv`: as ValidateChaosMethods reads it (unknown names never match a call).
  ChaosDice(double failure_rate, const std::string& methods_csv, uint64_t seed);
  ChaosPoint Roll(const std::string& method);

 private:
  const double failure_rate_;
  std::set<std::string> methods_;  // empty: every mutating method
  absl::Mutex mu_;
  std::mt19937_64 gen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orders

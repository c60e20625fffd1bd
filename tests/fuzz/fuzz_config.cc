// Configuration from arbitrary text, as an operator's flags and environment reach the services:
// the text is parsed as the flag's type (absl::ParseFlag, what --name=value goes through; the
// environment fallbacks of common/env.h use the same parsers), then checked by the start-up rules
// (common::ConfigCheck) and, for the fault-injection flags of payment_service, by
// FaultInjector::Validate and the dice drawn from an accepted configuration. Also the chaos
// method list of order_service (--chaos_methods).
//
// Invariants:
// - ConfigCheck refuses exactly the values outside the documented ranges (ports 0..65535 or -1
//   when it may be off, probabilities in [0, 1] (NaN refused), positive finite durations, ...),
//   and its Status is INVALID_ARGUMENT naming every problem, each starting with "--<flag>";
// - a fault configuration is accepted exactly when ConfigCheck accepts the same flags, and one
//   that is accepted draws non-negative latencies and no undefined behaviour (UBSan) for any value;
// - --failpoints arms exactly the entries the documented rule accepts (common/failpoint.h) and
//   refuses (INVALID_ARGUMENT) every other spec;
// - ChaosDice never fails a method outside its list (names trimmed), and ValidateChaosMethods
//   refuses (INVALID_ARGUMENT) exactly the lists naming a method chaos cannot fail, or one twice.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <regex>
#include <string>

#include "absl/flags/marshalling.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/config_check.h"
#include "common/failpoint.h"
#include "fuzz_support.h"
#include "order_service/chaos.h"
#include "payment_service/faults.h"

namespace {

template <typename T>
bool Parse(const std::string& text, T* out) {
  std::string error;
  return absl::ParseFlag<T>(text, out, &error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string port_text = in.ConsumeRandomLengthString(16);
  const std::string probability_text = in.ConsumeRandomLengthString(16);
  const std::string duration_text = in.ConsumeRandomLengthString(16);
  const std::string latency_text = in.ConsumeRandomLengthString(16);
  const std::string jitter_text = in.ConsumeRandomLengthString(16);
  const std::string store_text = in.ConsumeRandomLengthString(16);
  const std::string methods = in.ConsumeRandomLengthString(32);
  const bool allow_off = in.ConsumeBool();

  int port = 0, latency_ms = 0, jitter_ms = 0;
  double probability = 0;
  absl::Duration duration = absl::Seconds(1);
  const bool port_parsed = Parse(port_text, &port);
  const bool probability_parsed = Parse(probability_text, &probability);
  const bool duration_parsed = Parse(duration_text, &duration);
  const bool latency_parsed = Parse(latency_text, &latency_ms);
  const bool jitter_parsed = Parse(jitter_text, &jitter_ms);

  common::ConfigCheck check;
  int expected_problems = 0;
  if (port_parsed) {
    check.Port("port", port, allow_off);
    expected_problems += !((port >= 0 && port <= 65535) || (allow_off && port == -1));
  }
  if (probability_parsed) {
    check.Probability("fail_before_charge", probability);
    expected_problems += !(probability >= 0 && probability <= 1);
  }
  if (duration_parsed) {
    check.Positive("relay_lease", duration);
    expected_problems += !(duration > absl::ZeroDuration() && duration != absl::InfiniteDuration());
    check.NotNegative("relay_backoff_initial", duration);
    expected_problems += duration < absl::ZeroDuration();
  }
  if (latency_parsed) {
    check.AtLeast("latency_ms", latency_ms, 0);
    expected_problems += latency_ms < 0;
  }
  if (jitter_parsed) {
    check.AtLeast("latency_jitter_ms", jitter_ms, 0);
    expected_problems += jitter_ms < 0;
  }
  check.OneOf("store", store_text, {"postgres", "memory"});
  expected_problems += !(store_text == "postgres" || store_text == "memory");

  FUZZ_CHECK(static_cast<int>(check.problems().size()) == expected_problems,
             "%zu problems, the documented ranges give %d", check.problems().size(),
             expected_problems);
  for (const std::string& problem : check.problems()) {
    FUZZ_CHECK(absl::StartsWith(problem, "--"), "a problem does not name its flag: %s",
               problem.c_str());
  }
  const absl::Status status = check.Status();
  FUZZ_CHECK(status.ok() == (expected_problems == 0), "Status disagrees with problems()");
  FUZZ_CHECK(status.ok() || status.code() == absl::StatusCode::kInvalidArgument,
             "a configuration refused with %s", status.ToString().c_str());

  // The fault-injection flags of payment_service: Validate agrees with the start-up check.
  payment_service::FaultConfig faults;
  faults.fail_before_charge = probability_parsed ? probability : 0;
  faults.fail_after_charge = in.ConsumeProbability<double>();
  faults.latency_ms = latency_parsed ? latency_ms : 0;
  faults.latency_jitter_ms = jitter_parsed ? jitter_ms : 0;
  faults.flaky_failures = in.ConsumeIntegral<int>();
  faults.seed = in.ConsumeIntegral<uint64_t>();
  const bool flags_ok = (faults.fail_before_charge >= 0 && faults.fail_before_charge <= 1) &&
                        faults.latency_ms >= 0 && faults.latency_jitter_ms >= 0 &&
                        faults.flaky_failures >= 0;
  const absl::Status valid = payment_service::FaultInjector::Validate(faults);
  FUZZ_CHECK(valid.ok() == flags_ok, "FaultInjector::Validate says %s", valid.ToString().c_str());
  if (valid.ok()) {
    payment_service::FaultInjector injector;
    FUZZ_CHECK(injector.Set(faults).ok(), "Set refused what Validate accepted");
    for (int i = 0; i < 8; ++i) {
      FUZZ_CHECK(injector.NextLatency() >= absl::ZeroDuration(), "a negative latency");
      injector.NextFailBefore();
      injector.NextFailAfter();
    }
  } else {
    fuzz::CheckRefusal(valid);
  }

  // --chaos_methods: only listed methods ever fail (an empty list means every mutating one);
  // names are trimmed, and a list naming a method chaos cannot fail is refused.
  orders::ChaosDice dice(1.0, methods, 1);
  bool listed = false, any = false, known = true;
  std::map<std::string, int> times;
  for (absl::string_view m : absl::StrSplit(methods, ',')) {
    m = absl::StripAsciiWhitespace(m);
    if (m.empty()) continue;
    any = true;
    listed = listed || m == "CreateOrder";
    known = known && (m == "CreateOrder" || m == "CancelOrder" || m == "PutImportChunk" ||
                      m == "CommitImport");
    known = known && ++times[std::string(m)] == 1;
  }
  const absl::Status methods_valid = orders::ValidateChaosMethods(methods);
  FUZZ_CHECK(methods_valid.ok() == known, "--chaos_methods=%s: valid=%d, the rule says %d",
             methods.c_str(), methods_valid.ok(), known);
  FUZZ_CHECK(methods_valid.ok() || methods_valid.code() == absl::StatusCode::kInvalidArgument,
             "a bad --chaos_methods is a configuration error");
  const orders::ChaosPoint point = dice.Roll("CreateOrder");
  FUZZ_CHECK((point != orders::ChaosPoint::kNone) == (listed || !any),
             "chaos on CreateOrder with --chaos_methods=%s", methods.c_str());

  // --failpoints, restated: trimmed entries, blanks dropped; "name" or "name@N" with N digits
  // only, 1..LONG_MAX; the name one the process has; no name twice.
  const std::string failpoints = in.ConsumeRandomLengthString(48);
  static constexpr absl::string_view kKnown[] = {"a_commit", "b_send"};
  static const std::regex kEntry("([^@]*)(@([0-9]+))?");
  std::map<std::string, long> expected;
  bool fine = true;
  for (absl::string_view entry : absl::StrSplit(failpoints, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    std::cmatch m;
    if (!std::regex_match(entry.begin(), entry.end(), m, kEntry)) {
      fine = false;
      break;
    }
    long count = 1;
    if (m[2].matched) {
      std::string digits = m[3].str();
      digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
      const unsigned long long value = digits.size() <= 19 ? std::stoull("0" + digits) : 0;
      if (value < 1 || value > static_cast<unsigned long long>(LONG_MAX)) {
        fine = false;
        break;
      }
      count = static_cast<long>(value);
    }
    const std::string name = m[1].str();
    if ((name != "a_commit" && name != "b_send") || !expected.emplace(name, count).second) {
      fine = false;
      break;
    }
  }
  absl::StatusOr<common::FailpointSpec> armed = common::ParseFailpoints(failpoints, kKnown);
  if (fine) {
    FUZZ_CHECK(armed.ok() && armed->size() == expected.size() &&
                   std::equal(expected.begin(), expected.end(), armed->begin()),
               "--failpoints=%s: the rule arms it, the parser says %s", failpoints.c_str(),
               armed.status().ToString().c_str());
  } else {
    FUZZ_CHECK(!armed.ok() && armed.status().code() == absl::StatusCode::kInvalidArgument,
               "--failpoints=%s: the rule refuses it, the parser does not", failpoints.c_str());
  }
  return 0;
}

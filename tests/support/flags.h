// Flags in tests of a service's configuration (order_service/config.h, payment_service/config.h):
// set by name through Abseil's reflection, exactly as the command line would, so a test declares
// no flag; and the matcher for a configuration refused with the flag named.
//
//   absl::FlagSaver saver;                 // every flag back after the test
//   SetFlagFromText("relay_batch", "0");
//   EXPECT_THAT(OrderServiceConfigFromFlags(), RefusesFlag("--relay_batch=0"));
#pragma once

#include <initializer_list>
#include <string>

#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace testing_support {

// Parses `value` into the flag called `name`; fails the test if there is no such flag or the
// value does not parse.
inline void SetFlagFromText(absl::string_view name, absl::string_view value) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  ASSERT_NE(flag, nullptr) << "no flag --" << name;
  std::string error;
  ASSERT_TRUE(flag->ParseFrom(value, &error)) << "--" << name << "=" << value << ": " << error;
}

// A StatusOr refused with INVALID_ARGUMENT whose message contains `text` (the flag's name).
MATCHER_P(RefusesFlag, text, absl::StrCat("is INVALID_ARGUMENT naming ", std::string(text))) {
  const absl::Status& s = arg.status();
  *result_listener << s;
  return s.code() == absl::StatusCode::kInvalidArgument &&
         absl::StrContains(s.message(), std::string(text));
}

// One bad value of one flag: set `bad`, expect the refusal to contain `named`, then set `good`.
struct BadFlag {
  const char* flag;
  const char* bad;
  const char* good;
  const char* named;
};

// For each case in turn, `from_flags()` (a service's ...ConfigFromFlags) is refused naming the
// flag; with every flag back at its good value it succeeds.
template <typename FromFlags>
void ExpectEachBadFlagNamed(FromFlags from_flags, std::initializer_list<BadFlag> cases) {
  for (const BadFlag& c : cases) {
    SetFlagFromText(c.flag, c.bad);
    EXPECT_THAT(from_flags(), RefusesFlag(c.named)) << "--" << c.flag << "=" << c.bad;
    SetFlagFromText(c.flag, c.good);
  }
  auto config = from_flags();
  EXPECT_TRUE(config.ok()) << config.status();
}

}  // namespace testing_support

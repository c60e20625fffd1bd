// Environment fallbacks for flag defaults: a flag given on the command line wins.
// A variable that is set but cannot be parsed stops the program with a message naming it, so a
// typo in a deployment never silently becomes a default (ORDER_PORT=abc must not mean port 0).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"

namespace common {

[[noreturn]] inline void DieBadEnv(const char* name, const char* value, const char* expected) {
  std::fprintf(stderr, "environment %s=%s: expected %s\n", name, value, expected);
  std::exit(2);
}

inline std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// A secret-bearing string flag (a token spec, a bearer token, a libpq connection string that may
// hold a password): `flag` when set, else the environment variable `name`, else `fallback`. Such
// flags keep "" as their default and are read through this after parsing: a default taken from
// the environment would be printed by --help / --helpfull, secret and all.
inline std::string SecretFlagOrEnv(const std::string& flag, const char* name,
                                   const std::string& fallback = "") {
  return flag.empty() ? EnvOr(name, fallback) : flag;
}

inline int EnvIntOr(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (!value || !*value) return fallback;
  int parsed = 0;
  if (!absl::SimpleAtoi(value, &parsed)) DieBadEnv(name, value, "an integer");
  return parsed;
}

inline double EnvDoubleOr(const char* name, double fallback) {
  const char* value = std::getenv(name);
  if (!value || !*value) return fallback;
  double parsed = 0;
  if (!absl::SimpleAtod(value, &parsed)) DieBadEnv(name, value, "a number");
  return parsed;
}

// true/false, 1/0, yes/no, on/off.
inline bool EnvBoolOr(const char* name, bool fallback) {
  const char* value = std::getenv(name);
  if (!value || !*value) return fallback;
  const std::string v = absl::AsciiStrToLower(value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  DieBadEnv(name, value, "true or false");
}

// Go-style durations: 250ms, 30s, 1h30m.
inline absl::Duration EnvDurationOr(const char* name, absl::Duration fallback) {
  const char* value = std::getenv(name);
  if (!value || !*value) return fallback;
  absl::Duration parsed;
  if (!absl::ParseDuration(value, &parsed))
    DieBadEnv(name, value, "a duration such as 250ms or 30s");
  return parsed;
}

}  // namespace common

// Environment fallbacks for flag defaults: a flag given on the command line wins.
#pragma once

#include <cstdlib>
#include <string>

namespace common {

inline std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

inline int EnvIntOr(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoi(value) : fallback;
}

}  // namespace common

#pragma once
// The examples' end-to-end tests report each check on one line and count the failures.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace example_checks {
inline int failures = 0;
inline void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}
// |a − b| relative to the larger magnitude.
inline double relative(double a, double b) {
  return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-300});
}
}  // namespace example_checks

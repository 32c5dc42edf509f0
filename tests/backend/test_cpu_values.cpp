// backend::Cpu's coefficient-0 functions use vectorized exponentials and their own formulas; check
// them against libm in long double (an independent evaluation), over arguments that reach every
// branch: tiny, around the tanh switch |u| = 1/8, moderate and saturating, both signs.

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "taynode/backend/cpu.hpp"

namespace {

std::vector<double> arguments() {
  std::vector<double> u;
  for (double a : {0.0, 1e-300, 1e-12, 1e-6, 1e-3, 0.05, 0.1249999, 0.125, 0.1250001, 0.3, 0.5, 1.0, 2.0, 5.0, 18.0,
                   19.5, 30.0, 340.0, 354.0, 360.0, 372.0, 400.0})
    for (double s : {1.0, -1.0}) u.push_back(s * a);
  for (int i = 0; i <= 600; ++i) u.push_back(-3.0 + 0.01 * i);  // a dense sweep, > one 256-chunk
  return u;
}

// Error relative to the exact value, with subnormal results judged by their absolute spacing
// (a subnormal double has fewer significant bits: a correctly rounded one can be off by half of
// 4.9e-324, which is a large relative error near the underflow threshold).
double rel(double got, long double exact) {
  const long double d = std::fabs(static_cast<long double>(got) - exact);
  if (d <= 4.0L * std::numeric_limits<double>::denorm_min()) return 0;
  return double(d / std::fabs(exact));
}

}  // namespace

TEST_CASE("Cpu::tanh_values: tanh and 1/cosh^2 to a few ulp for every argument range", "[backend]") {
  const auto u = arguments();
  const auto n = static_cast<taynode::backend::Index>(u.size());
  std::vector<double> y(u.size()), w(u.size());
  taynode::backend::Cpu::tanh_values(n, u.data(), y.data(), w.data());
  double worst_y = 0, worst_w = 0;
  for (std::size_t i = 0; i < u.size(); ++i) {
    const long double ul = u[i];
    const long double c = std::cosh(ul);
    INFO("u = " << u[i]);
    worst_y = std::max(worst_y, rel(y[i], std::tanh(ul)));
    worst_w = std::max(worst_w, rel(w[i], 1.0L / (c * c)));
    CHECK(rel(y[i], std::tanh(ul)) <= 4e-16);
    CHECK(rel(w[i], 1.0L / (c * c)) <= 1e-15);
  }
  std::printf("tanh_values: worst relative error tanh %.2g, 1/cosh^2 %.2g\n", worst_y, worst_w);
}

TEST_CASE("Cpu::sigmoid_values against libm in long double", "[backend]") {
  const auto u = arguments();
  const auto n = static_cast<taynode::backend::Index>(u.size());
  std::vector<double> s(u.size()), e(u.size());
  taynode::backend::Cpu::sigmoid_values(n, u.data(), s.data(), e.data());
  for (std::size_t i = 0; i < u.size(); ++i) {
    const long double sl = 1.0L / (1.0L + std::exp(-static_cast<long double>(u[i])));
    const long double el = sl / (1.0L + std::exp(static_cast<long double>(u[i])));  // σ(u)σ(−u)
    INFO("u = " << u[i]);
    CHECK(rel(s[i], sl) <= 4e-16);
    CHECK(rel(e[i], el) <= 1e-15);
  }
}

// abs, min, max (smooth points against the Cauchy reference, kinks and ties
// against the documented one-sided expansions), sqrt / cbrt / pow at u0 = 0,
// pow(u, int) exact at u0 = 0, isfinite / isnan / isinf.
#include "jet_test_util.hpp"

using namespace taynode_test;

namespace {
}  // namespace

TEST_CASE("abs / min / max at smooth points", "[jet][nonsmooth]") {
  for (ld u0 : {-2.0L, -0.5L, 0.75L, 3.0L})
    for (const Path& p : paths_through(u0)) {
      // |u| = sign(u0) u on the whole disk where u keeps its sign
      const ld s = u0 < 0 ? -1 : 1;
      check_unary_all("abs", [](const auto& u) { return abs(u); }, cauchy_of([s](cld z) { return s * z; }, inf_ld), p);
      const Path q{{0.25L, -0.5L, 1, 0.125L}};  // v0 = 0.25 differs from every u0
      const bool u_smaller = u0 < 0.25L;
      check_binary_all("min", [](const auto& u, const auto& v) { return min(u, v); },
                       cauchy_of2([u_smaller](cld u, cld v) { return u_smaller ? u : v; }, inf_ld, inf_ld), p, q);
      check_binary_all("max", [](const auto& u, const auto& v) { return max(u, v); },
                       cauchy_of2([u_smaller](cld u, cld v) { return u_smaller ? v : u; }, inf_ld, inf_ld), p, q);
    }
}

TEST_CASE("abs at u0 = 0 follows the sign of the first non-zero coefficient", "[jet][nonsmooth]") {
  using J = Jet<double, 5>;
  const J neg(std::array<double, 6>{0, 0, -2, 1, 3, -1});  // u(t) ~ -2 t^2 < 0 for small t
  const J pos(std::array<double, 6>{0, 0, 0, 0.5, -4, 1});  // u(t) ~ 0.5 t^3 > 0
  const J lin(std::array<double, 6>{0, -1, 5, 0, 0, 0});    // u(t) ~ -t
  const J zero;
  CHECK(J(abs(neg)).coefficients() == std::array<double, 6>{0, 0, 2, -1, -3, 1});
  CHECK(J(abs(pos)).coefficients() == pos.coefficients());
  CHECK(J(abs(lin)).coefficients() == std::array<double, 6>{0, 1, -5, 0, 0, 0});
  CHECK(J(abs(zero)).coefficients() == zero.coefficients());
  CHECK(J(abs(-2 * neg)).coefficients() == std::array<double, 6>{0, 0, 4, -2, -6, 2});  // on an expression: -2 neg > 0 for small t
}

TEST_CASE("min and max at ties pick the series smaller / larger for small t > 0", "[jet][nonsmooth]") {
  using J = Jet<double, 4>;
  const J a(std::array<double, 5>{1, 2, 0, 5, 0});
  const J b(std::array<double, 5>{1, 2, -1, 9, 9});  // = a up to t^1, smaller at t^2
  const J c(std::array<double, 5>{1, 3, -7, 0, 0});  // larger at t^1
  CHECK(J(min(a, b)).coefficients() == b.coefficients());
  CHECK(J(min(b, a)).coefficients() == b.coefficients());
  CHECK(J(max(a, b)).coefficients() == a.coefficients());
  CHECK(J(max(b, a)).coefficients() == a.coefficients());
  CHECK(J(min(a, c)).coefficients() == a.coefficients());
  CHECK(J(max(a, c)).coefficients() == c.coefficients());
  CHECK(J(max(c, a)).coefficients() == c.coefficients());
  // identical series: the first argument (indistinguishable by value, so check identity of the result)
  const J a2 = a;
  CHECK(J(min(a, a2)).coefficients() == a.coefficients());
  CHECK(J(max(a, a2)).coefficients() == a.coefficients());
  // different values: by value regardless of the higher coefficients
  const J d(std::array<double, 5>{0.5, -100, 100, 0, 0});
  CHECK(J(min(a, d)).coefficients() == d.coefficients());
  CHECK(J(max(a, d)).coefficients() == a.coefficients());
  // on expressions
  CHECK(J(min(a + b, 2 * c)).coefficients() == J(a + b).coefficients());  // tie at 2; t^1: 4 vs 6
}

TEST_CASE("sqrt / cbrt and pow with a non-integer exponent at u0 = 0: value 0^a / higher coefficients not finite",
          "[jet][nonsmooth]") {
  using J = Jet<double, 4>;
  const J u = J::variable(0.0);
  const J s = sqrt(u);
  CHECK(s[0] == 0);
  for (int k = 1; k <= 4; ++k) CHECK_FALSE(std::isfinite(s[k]));
  const J c = cbrt(u);
  CHECK(c[0] == 0);
  for (int k = 1; k <= 4; ++k) CHECK_FALSE(std::isfinite(c[k]));
  const J p = pow(u, 1.5);
  CHECK(p[0] == 0);
  for (int k = 1; k <= 4; ++k) CHECK_FALSE(std::isfinite(p[k]));
}

TEST_CASE("pow(u / int) at u0 = 0 is exact", "[jet][nonsmooth]") {
  // u(t) = t + 0.5 t^2 - 0.25 t^3: the powers are polynomials with exactly
  // representable coefficients, the exact Cauchy products are the truth.
  const Path p{{0, 1, 0.5L, -0.25L}};
  for (int n : {0, 1, 2, 3, 4, 6})
    check_unary_all("pow(u, " + std::to_string(n) + ") at 0", [n](const auto& u) { return pow(u, n); },
                    cauchy_of([n](cld z) { return cx_ipow(z, n); }, inf_ld), p);
  using J = Jet<double, 8>;
  const J t = J::variable(0.0);
  const J t3 = pow(t, 3);
  CHECK(t3.coefficients() == std::array<double, 9>{0, 0, 0, 1, 0, 0, 0, 0, 0});
  const J one = pow(t, 0);
  CHECK(one.coefficients() == std::array<double, 9>{1, 0, 0, 0, 0, 0, 0, 0, 0});
  const J q = pow(2 * t + t * t, 2);  // 4t^2 + 4t^3 + t^4
  CHECK(q.coefficients() == std::array<double, 9>{0, 0, 4, 4, 1, 0, 0, 0, 0});
}

TEST_CASE("isfinite / isnan / isinf look at the value", "[jet][nonsmooth]") {
  using J = Jet<double, 3>;
  const J x = J::variable(1.0);
  CHECK(isfinite(x));
  CHECK_FALSE(isnan(x));
  CHECK_FALSE(isinf(x));
  const J l = log(J::variable(-1.0));
  CHECK(isnan(l));
  CHECK_FALSE(isfinite(l));
  const J z = log(J::variable(0.0));
  CHECK(isinf(z));
  CHECK_FALSE(isfinite(z));
  // a non-finite higher coefficient does not change the classification of the value
  const J s = sqrt(J::variable(0.0));
  CHECK(isfinite(s));
  CHECK(isfinite(x * 2 + 1));  // on an expression
  CHECK(isnan(asin(J::variable(2.0))));
  CHECK(isnan(acos(J::variable(-1.5))));
  CHECK(isnan(log1p(J::variable(-2.0))));
}

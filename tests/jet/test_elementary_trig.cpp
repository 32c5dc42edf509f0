// sin, cos, tan, asin, acos, atan, atan2, sinh, cosh, tanh against the Cauchy
// reference along several input paths, K = 1..8, float / double / long double;
// sin/cos cycles against the closed form.
#include "jet_test_util.hpp"

using namespace taynode_test;

namespace {
}  // namespace

TEST_CASE("sin / cos / sinh / cosh against the Cauchy reference", "[jet][rules]") {
  for (ld u0 : {-4.0L, -0.5L, 0.0L, 1.2L, 3.0L, 20.0L})
    for (const Path& p : paths_through(u0)) {
      check_unary_all("sin", [](const auto& u) { return sin(u); }, cauchy_of([](cld z) { return std::sin(z); }, inf_ld), p);
      check_unary_all("cos", [](const auto& u) { return cos(u); }, cauchy_of([](cld z) { return std::cos(z); }, inf_ld), p);
      check_unary_all("sinh", [](const auto& u) { return sinh(u); }, cauchy_of([](cld z) { return std::sinh(z); }, inf_ld), p);
      check_unary_all("cosh", [](const auto& u) { return cosh(u); }, cauchy_of([](cld z) { return std::cosh(z); }, inf_ld), p);
    }
}

TEST_CASE("tan and tanh against the Cauchy reference (tanh also at |u0| = 20)", "[jet][rules]") {
  // tan: poles at pi/2 + m pi; rho = distance to the nearest one
  for (ld u0 : {-1.0L, 0.0L, 0.4L, 1.2L, 2.5L}) {
    const ld rho = std::fabs(std::remainder(u0 - pi_ld / 2, pi_ld));
    for (const Path& p : paths_through(u0))
      check_unary_all("tan", [](const auto& u) { return tan(u); }, cauchy_of([](cld z) { return std::tan(z); }, rho), p);
  }
  // tanh: poles at +- i pi/2, at distance >= pi/2 from any real u0
  for (ld u0 : {-20.0L, -2.0L, -0.3L, 0.0L, 0.9L, 4.0L, 20.0L})
    for (const Path& p : paths_through(u0))
      check_unary_all("tanh", [](const auto& u) { return tanh(u); },
                      cauchy_of([](cld z) { return std::tanh(z); }, pi_ld / 2), p);
}

TEST_CASE("asin / acos / atan against the Cauchy reference", "[jet][rules]") {
  // asin, acos: branch points at +-1 (cuts outside [-1, 1]): rho = 1 - |u0|
  for (ld u0 : {-0.8L, -0.3L, 0.0L, 0.45L, 0.9L})
    for (const Path& p : paths_through(u0)) {
      check_unary_all("asin", [](const auto& u) { return asin(u); },
                      cauchy_of([](cld z) { return std::asin(z); }, 1 - std::fabs(u0)), p);
      check_unary_all("acos", [](const auto& u) { return acos(u); },
                      cauchy_of([](cld z) { return std::acos(z); }, 1 - std::fabs(u0)), p);
    }
  // atan: branch points at +-i: rho = |u0 - i|
  for (ld u0 : {-6.0L, -0.7L, 0.0L, 0.5L, 2.0L})
    for (const Path& p : paths_through(u0))
      check_unary_all("atan", [](const auto& u) { return atan(u); },
                      cauchy_of([](cld z) { return std::atan(z); }, std::sqrt(1 + u0 * u0)), p);
}

TEST_CASE("atan2 against its integrated derivative / in all four quadrants", "[jet][rules]") {
  // d/dt atan2(y, x) = (x y' - y x') / (x^2 + y^2): Cauchy coefficients of the
  // right side, integrated termwise; c_0 = std::atan2(y0, x0). Analytic while
  // x^2 + y^2 != 0: both paths stay within |(x0, y0)| / 4 of their value.
  auto ref = [](const Path& y, const Path& x) {
    const Path dy = y.derivative(), dx = x.derivative();
    const ld rho = std::hypot(y.value(), x.value()) / 2;
    return integrated_coefficients(
        [&](cld t) {
          const cld xv = x(t), yv = y(t);
          return (xv * dy(t) - yv * dx(t)) / (xv * xv + yv * yv);
        },
        std::atan2(y.value(), x.value()), max_order, choose_radius({{&y, rho}, {&x, rho}}));
  };
  const std::vector<std::pair<ld, ld>> points = {{0.5L, 2.0L}, {1.5L, -0.5L}, {0.125L, -3.0L}, {-0.125L, -3.0L},
                                                 {-2.0L, -1.0L}, {-1.0L, 0.25L}, {3.0L, 0.0L}};
  for (auto [y0, x0] : points) {
    check_binary_all("atan2", [](const auto& y, const auto& x) { return atan2(y, x); }, ref,
                     Path{{y0, 1, 0.25L}}, Path{{x0, -0.5L, 0, 0.125L}});
    check_binary_all("atan2", [](const auto& y, const auto& x) { return atan2(y, x); }, ref,
                     Path{{y0, -0.375L, 0.5L, 0.0625L}}, Path{{x0, 1}});
  }
}

TEST_CASE("classic closed forms: sin/cos cycles along x0 + t", "[jet][rules][closed-form]") {
  // d^k/dx^k sin x = sin(x + k pi/2), so c_k = sin(x0 + k pi/2) / k!; cos alike.
  for_each_order([](auto kc) {
    constexpr int K = decltype(kc)::value;
    using J = Jet<double, K>;
    for (double x0 : {-2.5, -0.25, 0.0, 1.0, 7.0}) {
      std::vector<ld> rs(K + 1), rc(K + 1);
      for (int k = 0; k <= K; ++k) {
        rs[k] = std::sin(static_cast<ld>(x0) + k * pi_ld / 2) / factorial(k);
        rc[k] = std::cos(static_cast<ld>(x0) + k * pi_ld / 2) / factorial(k);
      }
      check_coefficients(J(sin(J::variable(x0))), rs, 1e-12L, "sin cycle at " + std::to_string(x0));
      check_coefficients(J(cos(J::variable(x0))), rc, 1e-12L, "cos cycle at " + std::to_string(x0));
      // sinh/cosh: c_k = (sinh or cosh)(x0) / k! alternating
      for (int k = 0; k <= K; ++k) {
        rs[k] = ((k % 2) ? std::cosh(static_cast<ld>(x0)) : std::sinh(static_cast<ld>(x0))) / factorial(k);
        rc[k] = ((k % 2) ? std::sinh(static_cast<ld>(x0)) : std::cosh(static_cast<ld>(x0))) / factorial(k);
      }
      check_coefficients(J(sinh(J::variable(x0))), rs, 1e-12L, "sinh cycle at " + std::to_string(x0));
      check_coefficients(J(cosh(J::variable(x0))), rc, 1e-12L, "cosh cycle at " + std::to_string(x0));
    }
  });
  // sin(a t): c_k = a^k sin(k pi / 2) / k! (a non-unit input scale)
  using J = Jet<double, 8>;
  std::vector<ld> ref(9);
  for (int k = 0; k <= 8; ++k) ref[k] = std::pow(3.0L, k) * std::sin(k * pi_ld / 2) / factorial(k);
  check_coefficients(J(sin(3 * J::variable(0.0))), ref, 1e-12L, "sin(3t)");
}

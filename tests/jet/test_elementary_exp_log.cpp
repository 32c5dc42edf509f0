// exp, expm1, log, log1p, sqrt, cbrt, pow (all four forms), erf, sigmoid,
// softplus against the Cauchy reference along several input paths, K = 1..8,
// float / double / long double; and against the classic closed forms.
#include "jet_test_util.hpp"

using namespace taynode_test;

namespace {
const ld pi = pi_ld;
}  // namespace

TEST_CASE("exp against the Cauchy reference", "[jet][rules]") {
  for (ld u0 : {-3.0L, -0.5L, 0.0L, 0.7L, 2.5L, 20.0L})
    for (const Path& p : paths_through(u0))
      check_unary_all("exp", [](const auto& u) { return exp(u); },
                      cauchy_of([](cld z) { return std::exp(z); }, inf_ld), p);
}

TEST_CASE("expm1 against the Cauchy reference / value accurate near 0", "[jet][rules]") {
  for (ld u0 : {-2.0L, -1e-3L, 1e-8L, 0.3L, 1.7L})
    for (const Path& p : paths_through(u0))
      check_unary_all("expm1", [](const auto& u) { return expm1(u); },
                      cauchy_of([](cld z) { return cx_expm1(z); }, inf_ld), p);
  // The value itself must not lose the relative accuracy of std::expm1 (exp(u0) - 1
  // would): c_0 relative to itself, not to max_k |c_k|.
  for (double u0 : {1e-12, -3e-9, 2e-5}) {
    const Jet<double, 4> y = expm1(Jet<double, 4>::variable(u0));
    CHECK(std::fabs(y[0] - std::expm1(u0)) <= 2e-16 * std::fabs(std::expm1(u0)));
  }
}

TEST_CASE("log and log1p against the Cauchy reference / log1p value accurate near 0", "[jet][rules]") {
  for (ld u0 : {0.2L, 1.0L, 3.5L, 40.0L})
    for (const Path& p : paths_through(u0))
      check_unary_all("log", [](const auto& u) { return log(u); },
                      cauchy_of([](cld z) { return std::log(z); }, u0), p);
  for (ld u0 : {-0.6L, 1e-6L, 0.5L, 7.0L})
    for (const Path& p : paths_through(u0))
      check_unary_all("log1p", [](const auto& u) { return log1p(u); },
                      cauchy_of([](cld z) { return cx_log1p(z); }, 1 + u0), p);
  for (double u0 : {1e-12, -3e-9}) {
    const Jet<double, 4> y = log1p(Jet<double, 4>::variable(u0));
    CHECK(std::fabs(y[0] - std::log1p(u0)) <= 2e-16 * std::fabs(std::log1p(u0)));
  }
}

TEST_CASE("sqrt and cbrt against the Cauchy reference (cbrt also for u0 < 0)", "[jet][rules]") {
  for (ld u0 : {0.3L, 2.0L, 50.0L})
    for (const Path& p : paths_through(u0))
      check_unary_all("sqrt", [](const auto& u) { return sqrt(u); },
                      cauchy_of([](cld z) { return std::sqrt(z); }, u0), p);
  for (ld u0 : {-8.0L, -0.4L, 0.5L, 3.0L})
    for (const Path& p : paths_through(u0))
      check_unary_all("cbrt", [](const auto& u) { return cbrt(u); },
                      cauchy_of([](cld z) { return cx_cbrt(z); }, std::fabs(u0)), p);
}

TEST_CASE("pow(Jet / T) against the Cauchy reference", "[jet][rules]") {
  // non-integer exponents at u0 > 0 (principal branch, analytic within u0 of u0)
  for (ld a : {-1.5L, 0.5L, 2.75L, 1.0L / 3.0L})
    for (ld u0 : {0.4L, 1.3L, 6.0L})
      for (const Path& p : paths_through(u0)) {
        // The exponent as the jet sees it, a rounded to T, matters: compare per T.
        const std::string name = "pow(u, " + std::to_string(static_cast<double>(a)) + ")";
        check_unary<float>(name, [a](const auto& u) { return pow(u, static_cast<float>(a)); },
                           cauchy_of([a](cld z) { return std::pow(z, static_cast<ld>(static_cast<float>(a))); }, u0), p);
        check_unary<double>(name, [a](const auto& u) { return pow(u, static_cast<double>(a)); },
                            cauchy_of([a](cld z) { return std::pow(z, static_cast<ld>(static_cast<double>(a))); }, u0), p);
        check_unary<long double>(name, [a](const auto& u) { return pow(u, a); },
                                 cauchy_of([a](cld z) { return std::pow(z, a); }, u0), p);
      }
  // integral exponents given as T, also at u0 < 0 (documented: u0 < 0 with an integral a)
  for (int n : {-2, 3})
    for (ld u0 : {-1.2L, 0.9L})
      for (const Path& p : paths_through(u0))
        check_unary_all("pow(u, T(" + std::to_string(n) + "))",
                        [n](const auto& u) {
                          using T = typename std::remove_cvref_t<decltype(u)>::scalar_type;
                          return pow(u, T(n));
                        },
                        cauchy_of([n](cld z) { return cx_ipow(z, n); }, n < 0 ? std::fabs(u0) : inf_ld), p);
}

TEST_CASE("pow(Jet / int) against the Cauchy reference / incl. negative and zero exponents", "[jet][rules]") {
  for (int n : {-3, -1, 0, 1, 2, 5, 7})
    for (ld u0 : {-1.5L, -0.25L, 0.6L, 2.0L})
      for (const Path& p : paths_through(u0))
        check_unary_all("pow(u, " + std::to_string(n) + ")", [n](const auto& u) { return pow(u, n); },
                        cauchy_of([n](cld z) { return cx_ipow(z, n); }, n < 0 ? std::fabs(u0) : inf_ld), p);
}

TEST_CASE("pow(T / Jet) and pow(Jet / Jet) against the Cauchy reference", "[jet][rules]") {
  for (ld a : {0.5L, 2.0L, 10.0L})
    for (ld u0 : {-2.0L, 0.3L, 3.0L})
      for (const Path& p : paths_through(u0)) {
        const std::string name = "pow(" + std::to_string(static_cast<double>(a)) + ", u)";
        // a = 0.5, 2, 10 are exact in every T
        check_unary_all(name, [a](const auto& u) {
          using T = typename std::remove_cvref_t<decltype(u)>::scalar_type;
          return pow(T(a), u);
        }, cauchy_of([a](cld z) { return std::exp(z * std::log(a)); }, inf_ld), p);
      }
  // and with int / double literals as the base
  check_unary<double>("pow(2, u)", [](const auto& u) { return pow(2, u); },
                      cauchy_of([](cld z) { return std::exp(z * std::log(2.0L)); }, inf_ld), Path{{0.5L, 1, 0.25L}});
  for (ld u0 : {0.5L, 2.0L})
    for (ld v0 : {-1.25L, 2.5L})
      for (const Path& p : paths_through(u0))
        check_binary_all("pow(u, v)", [](const auto& u, const auto& v) { return pow(u, v); },
                         cauchy_of2([](cld u, cld v) { return std::exp(v * std::log(u)); }, u0, inf_ld), p,
                         Path{{v0, -0.5L, 0.75L, 0.125L}});
}

TEST_CASE("erf against its integrated derivative", "[jet][rules]") {
  // d/dt erf(u(t)) = (2/sqrt(pi)) exp(-u(t)^2) u'(t): Cauchy coefficients of
  // the right side, integrated termwise; c_0 = std::erf(u0).
  auto ref = [](const Path& p) {
    const Path dp = p.derivative();
    return integrated_coefficients(
        [&](cld t) {
          const cld u = p(t);
          return ld(2) / std::sqrt(pi_ld) * std::exp(-u * u) * dp(t);
        },
        std::erf(p.value()), max_order, choose_radius(p, inf_ld));
  };
  for (ld u0 : {-2.5L, -0.3L, 0.0L, 0.8L, 3.0L})
    for (const Path& p : paths_through(u0)) check_unary_all("erf", [](const auto& u) { return erf(u); }, ref, p);
}

TEST_CASE("sigmoid and softplus against the Cauchy reference / also at |u0| = 20", "[jet][rules]") {
  for (ld u0 : {-20.0L, -3.0L, -0.4L, 0.0L, 1.1L, 5.0L, 20.0L})
    for (const Path& p : paths_through(u0)) {
      // poles of sigma at +-i pi: analytic within pi of any real u0
      check_unary_all("sigmoid", [](const auto& u) { return sigmoid(u); },
                      cauchy_of([](cld z) { return cx_sigmoid(z); }, pi), p);
      // |Im u| < pi/2 keeps 1 + e^{-|u|} in the right half plane (principal log)
      check_unary_all("softplus", [](const auto& u) { return softplus(u); },
                      cauchy_of([](cld z) { return cx_softplus(z); }, pi / 2), p);
    }
}

TEST_CASE("classic closed forms: exp / log / pow along x0 + t", "[jet][rules][closed-form]") {
  for_each_order([](auto kc) {
    constexpr int K = decltype(kc)::value;
    using J = Jet<double, K>;
    for (double x0 : {-2.0, 0.375, 1.5, 4.0}) {
      // exp: c_k = e^x0 / k!
      std::vector<ld> ref(K + 1);
      for (int k = 0; k <= K; ++k) ref[k] = std::exp(static_cast<ld>(x0)) / factorial(k);
      check_coefficients(J(exp(J::variable(x0))), ref, 1e-12L, "exp closed form at " + std::to_string(x0));
      if (x0 > 0) {
        // log: c_0 = log x0, c_k = (-1)^{k+1} / (k x0^k)
        ref[0] = std::log(static_cast<ld>(x0));
        for (int k = 1; k <= K; ++k) ref[k] = ((k % 2) ? 1 : -1) / (k * std::pow(static_cast<ld>(x0), static_cast<ld>(k)));
        check_coefficients(J(log(J::variable(x0))), ref, 1e-12L, "log closed form at " + std::to_string(x0));
        // pow: c_k = C(a, k) x0^{a-k}
        for (double a : {-2.5, -1.0, 0.5, 1.75, 3.0}) {
          for (int k = 0; k <= K; ++k) ref[k] = binomial(a, k) * std::pow(static_cast<ld>(x0), a - k);
          check_coefficients(J(pow(J::variable(x0), a)), ref, 1e-12L,
                             "pow closed form, a = " + std::to_string(a) + " at " + std::to_string(x0));
        }
        // sqrt = pow(., 1/2): C(1/2, k) x0^{1/2-k}
        for (int k = 0; k <= K; ++k) ref[k] = binomial(0.5L, k) * std::pow(static_cast<ld>(x0), 0.5L - k);
        check_coefficients(J(sqrt(J::variable(x0))), ref, 1e-12L, "sqrt closed form at " + std::to_string(x0));
      }
    }
  });
}

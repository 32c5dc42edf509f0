// Identities as jets: each side is computed with the library along a
// non-trivial path, and the identity's closed side is known exactly (1, x,
// or another rule already checked against the oracle). K = 1..8, double.
//
// Tolerance: 1e-12 * max_k |ref_k| as for the rules (both sides are O(K^2)
// recurrences in double; the measured deviations are ~1e-15).
#include "jet_test_util.hpp"

using namespace taynode_test;

namespace {

template <int K>
std::vector<ld> coefficients_of(const Jet<double, K>& j) {
  std::vector<ld> v(K + 1);
  for (int k = 0; k <= K; ++k) v[k] = j[k];
  return v;
}
// With an absolute floor: for identities whose right side is the constant 1,
// max_k |ref_k| = 1.
template <int K>
std::vector<ld> constant(ld c) {
  std::vector<ld> v(K + 1, 0);
  v[0] = c;
  return v;
}

}  // namespace

TEST_CASE("identities as jets", "[jet][identities]") {
  for (ld u0 : {-1.75L, -0.25L, 0.5L, 1.25L, 2.0L})
    for (const Path& p : paths_through(u0))
      for_each_order([&](auto kc) {
        constexpr int K = decltype(kc)::value;
        using J = Jet<double, K>;
        const J u = make_jet<double, K>(p);
        const std::string at = " along " + path_string(p);
        // sin^2 + cos^2 = 1
        check_coefficients(J(square(sin(u)) + square(cos(u))), constant<K>(1), 1e-12L, "sin^2 + cos^2 = 1" + at);
        check_coefficients(J(sin(u) * sin(u) + cos(u) * cos(u)), constant<K>(1), 1e-12L, "sin*sin + cos*cos = 1" + at);
        // cosh^2 - sinh^2 = 1
        check_coefficients(J(cosh(u) * cosh(u) - sinh(u) * sinh(u)), constant<K>(1), 1e-12L, "cosh^2 - sinh^2 = 1" + at);
        // exp(log x) = x for x > 0: x = exp(u) > 0, and log(exp(u)) = u
        const J x = exp(u);
        check_coefficients(J(exp(log(x))), coefficients_of(x), 1e-12L, "exp(log x) = x" + at);
        check_coefficients(J(log(exp(u))), coefficients_of(u), 1e-12L, "log(exp u) = u" + at);
        // tanh(u) = 2 sigma(2u) - 1
        check_coefficients(J(2 * sigmoid(2 * u) - 1), coefficients_of(J(tanh(u))), 1e-12L, "tanh = 2 sigma(2u) - 1" + at);
        // atan(tan u) = u on (-pi/2, pi/2). The round trip passes through the
        // coefficients of tan(u), which grow like (|u_1| / (pi/2 - |u0|))^k near
        // pi/2 (~1e4 at u0 = 1.25, k = 8); its rounding error is eps_d times
        // that intermediate size, so the tolerance is 1e-12 relative to
        // max(max_k |u_k|, max_k |tan(u)_k|). (tan itself is checked against
        // the oracle at such points in test_elementary_trig.cpp.)
        if (std::fabs(u0) < 1.5L) {
          const J tu = tan(u);
          ld inter = 0, outer = 0;
          for (int k = 0; k <= K; ++k) {
            inter = std::max(inter, std::fabs(static_cast<ld>(tu[k])));
            outer = std::max(outer, std::fabs(static_cast<ld>(u[k])));
          }
          check_coefficients(J(atan(tu)), coefficients_of(u), 1e-12L * std::max<ld>(1, inter / outer),
                             "atan(tan u) = u" + at);
        }
        // sqrt(u)^2 = u and cbrt(u)^3 = u for u > 0 (via x = exp(u))
        check_coefficients(J(sqrt(x) * sqrt(x)), coefficients_of(x), 1e-12L, "sqrt(x)^2 = x" + at);
        check_coefficients(J(cbrt(x) * cbrt(x) * cbrt(x)), coefficients_of(x), 1e-12L, "cbrt(x)^3 = x" + at);
        // expm1 = exp - 1, log1p(expm1(u)) = u
        check_coefficients(J(expm1(u)), coefficients_of(J(exp(u) - 1)), 1e-12L, "expm1 = exp - 1" + at);
        check_coefficients(J(log1p(expm1(u))), coefficients_of(u), 1e-12L, "log1p(expm1 u) = u" + at);
        // softplus(u) - softplus(-u) = u; sigma(u) + sigma(-u) = 1
        check_coefficients(J(softplus(u) - softplus(-u)), coefficients_of(u), 1e-12L, "softplus(u) - softplus(-u) = u" + at);
        check_coefficients(J(sigmoid(u) + sigmoid(-u)), constant<K>(1), 1e-12L, "sigma(u) + sigma(-u) = 1" + at);
        // asin + acos = pi/2 on (-1, 1): w = tanh(u) in (-1, 1)
        const J w = tanh(u);
        check_coefficients(J(asin(w) + acos(w)), constant<K>(pi_ld / 2), 1e-12L, "asin + acos = pi/2" + at);
        // atan2(sin u, cos u) = u on (-pi, pi)
        check_coefficients(J(atan2(sin(u), cos(u))), coefficients_of(u), 1e-12L, "atan2(sin u, cos u) = u" + at);
        // pow(x, a) * pow(x, -a) = 1, pow(x, v) = exp(v log x), pow(2, u) = exp(u log 2)
        check_coefficients(J(pow(x, 1.7) * pow(x, -1.7)), constant<K>(1), 1e-12L, "x^a x^-a = 1" + at);
        check_coefficients(J(pow(x, u)), coefficients_of(J(exp(u * u))), 1e-12L, "pow(e^u, u) = e^{u^2}" + at);
        check_coefficients(J(pow(u, 3) * pow(u, -3)), constant<K>(1), 1e-12L, "u^3 u^-3 = 1" + at);
      });
}

TEST_CASE("softplus' = sigmoid: k c_k(softplus) = c_{k-1}(sigmoid) along the variable path", "[jet][identities]") {
  // along u = x0 + t: d/dt softplus(x0 + t) = sigma(x0 + t), so k s_k = sigma_{k-1}
  for (double x0 : {-20.0, -3.0, -0.5, 0.0, 0.8, 4.0, 20.0})
    for_each_order([&](auto kc) {
      constexpr int K = decltype(kc)::value;
      using J = Jet<double, K>;
      const J sp = softplus(J::variable(x0));
      const J sg = sigmoid(J::variable(x0));
      std::vector<ld> lhs(K), rhs(K);
      ld scale = 0, err = 0;
      for (int k = 1; k <= K; ++k) {
        lhs[k - 1] = k * static_cast<ld>(sp[k]);
        rhs[k - 1] = sg[k - 1];
        scale = std::max(scale, std::fabs(rhs[k - 1]));
        err = std::max(err, std::fabs(lhs[k - 1] - rhs[k - 1]));
      }
      INFO("x0 = " << x0 << ", K = " << K << ": err " << static_cast<double>(err) << ", scale "
                   << static_cast<double>(scale));
      CHECK(err <= 1e-12L * scale);
    });
}

TEST_CASE("erf' = (2/sqrt(pi)) exp(-x^2): k c_k(erf) = c_{k-1}((2/sqrt pi) exp(-x^2)) along x0 + t",
          "[jet][identities]") {
  for (double x0 : {-2.0, -0.4, 0.0, 1.1, 3.0}) {
    using J = Jet<double, 8>;
    const J x = J::variable(x0);
    const J e = erf(x);
    const J d = 1.1283791670955126 * exp(-(x * x));
    ld scale = 0, err = 0;
    for (int k = 1; k <= 8; ++k) {
      scale = std::max(scale, std::fabs(static_cast<ld>(d[k - 1])));
      err = std::max(err, std::fabs(k * static_cast<ld>(e[k]) - d[k - 1]));
    }
    INFO("x0 = " << x0);
    CHECK(err <= 1e-12L * scale);
  }
}

// ode_taylor_coefficients (incremental Taylor mode) and
// ode_taylor_coefficients_nested (nested JVPs) against closed forms:
//   z' = z^2              z^(k)(t0) = k! z0^(k+1)        (z = z0 / (1 - z0 (t - t0)))
//   z' = A z              z^(k)(t0) = A^k z0             (Eigen fixed and dynamic vectors)
//   z' = -2 t z           z^(k)(t0) = z0 (-1)^k H_k(t0) e^{t0^2} e^{-t0^2}  (Hermite; z = z0 e^{t0^2 - t^2})
//                         and the Cauchy coefficients of the closed-form solution
//   z' = z cos t          Cauchy coefficients of z0 exp(sin t - sin t0)
//   Hopf normal form      (nonlinear 2-D, closed form via r' = r(1 - r^2), theta' = 1)
// and, with no closed form, Lotka-Volterra and the pendulum: the conserved
// quantity evaluated (in complex long double, by the Cauchy formula) on the
// returned Taylor polynomial must be constant to order K; the two library
// paths are compared with each other only as an additional consistency check.
//
// Comparison in normalized coefficients c_k = z^(k)/k! (the acceptance
// criterion's form): max_k |c_k - ref_k| <= 1e-12 * max_k |ref_k| for double,
// K = 1..8. Both library paths evaluate O(K^2) (incremental) or 2^K-term
// (nested) sequences of double operations on the recurrences of f; the
// measured deviations are ~1e-15.
#include <catch2/catch.hpp>

#include <Eigen/Core>
#include <taynode/jet.hpp>
#include <taynode/taylor.hpp>

#include <array>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../jet/cauchy_reference.hpp"

using namespace taynode_test;

namespace {

constexpr ld tol = 1e-12L;
constexpr int max_order_ode = 8;

template <class F>
void for_each_order(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f(std::integral_constant<int, I + 1>{}), ...); }(
      std::make_integer_sequence<int, 8>{});
}

// got: derivatives (double, per component), ref: normalized coefficients.
void check_normalized(const std::vector<std::vector<ld>>& got_derivatives, const std::vector<std::vector<ld>>& ref,
                      int K, const std::string& what) {
  // got_derivatives[k][i], ref[k][i]
  ld scale = 0, err = 0;
  for (int k = 0; k <= K; ++k)
    for (std::size_t i = 0; i < ref[k].size(); ++i) {
      const ld g = got_derivatives[k][i] / factorial(k);
      scale = std::max(scale, std::fabs(ref[k][i]));
      const ld e = std::fabs(g - ref[k][i]);
      err = std::isfinite(static_cast<double>(g)) ? std::max(err, e) : INFINITY;
    }
  std::ostringstream os;
  os.precision(17);
  os << what << ", K = " << K << ": max err " << static_cast<double>(err) << ", scale " << static_cast<double>(scale)
     << "\n";
  for (int k = 0; k <= K; ++k) {
    os << "  k=" << k << ":";
    for (std::size_t i = 0; i < ref[k].size(); ++i)
      os << "  got " << static_cast<double>(got_derivatives[k][i] / factorial(k)) << " ref "
         << static_cast<double>(ref[k][i]);
    os << "\n";
  }
  INFO(os.str());
  CHECK(err <= tol * scale);
}

template <class State>
std::vector<std::vector<ld>> as_table(const State* d, int K) {
  std::vector<std::vector<ld>> t(static_cast<std::size_t>(K) + 1);
  for (int k = 0; k <= K; ++k) {
    if constexpr (std::is_arithmetic_v<State>) {
      t[k] = {static_cast<ld>(d[k])};
    } else {
      for (Eigen::Index i = 0; i < d[k].size(); ++i) t[k].push_back(d[k](i));
    }
  }
  return t;
}

// Runs the three library paths for K = 1..8 and compares with ref (normalized, K = 8).
template <class F, class State>
void check_both(F f, const State& z0, double t0, const std::vector<std::vector<ld>>& ref, const std::string& what) {
  for_each_order([&](auto kc) {
    constexpr int K = decltype(kc)::value;
    const std::array<State, K + 1> inc = taynode::ode_taylor_coefficients<K>(f, z0, t0);
    check_normalized(as_table(inc.data(), K), ref, K, what + " (ode_taylor_coefficients)");
    const std::array<State, K + 1> nes = taynode::ode_taylor_coefficients_nested<K>(f, z0, t0);
    check_normalized(as_table(nes.data(), K), ref, K, what + " (ode_taylor_coefficients_nested)");
    const std::array<State, K + 1> tape = taynode::ode_taylor_coefficients_incremental<K>(f, z0, t0);
    check_normalized(as_table(tape.data(), K), ref, K, what + " (ode_taylor_coefficients_incremental)");
  });
}

// Cauchy coefficients of a closed-form vector solution tau -> z(t0 + tau).
template <class G>
std::vector<std::vector<ld>> cauchy_table(G g, int dim, ld r) {
  std::vector<std::vector<ld>> t(max_order_ode + 1, std::vector<ld>(static_cast<std::size_t>(dim)));
  for (int i = 0; i < dim; ++i) {
    const auto c = cauchy_checked([&](cld tau) { return g(tau)[static_cast<std::size_t>(i)]; }, max_order_ode, r);
    for (int k = 0; k <= max_order_ode; ++k) t[k][static_cast<std::size_t>(i)] = c[k];
  }
  return t;
}

}  // namespace

TEST_CASE("z' = z^2: z^(k)(t0) = k! z0^(k+1)", "[taylor][closed-form]") {
  auto f = [](const auto& /*t*/, const auto& z) { return z * z; };
  for (double z0 : {0.7, -1.3, 2.0, 0.1})
    for (double t0 : {0.0, 1.5, -3.0}) {
      std::vector<std::vector<ld>> ref(9);
      for (int k = 0; k <= 8; ++k) ref[k] = {std::pow(static_cast<ld>(z0), static_cast<ld>(k + 1))};
      check_both(f, z0, t0, ref, "z' = z^2, z0 = " + std::to_string(z0) + ", t0 = " + std::to_string(t0));
    }
}

TEST_CASE("z' = A z: z^(k)(t0) = A^k z0 (fixed and dynamic Eigen vectors)", "[taylor][closed-form]") {
  Eigen::Matrix3d A3;
  A3 << 0.5, -1.0, 0.25, 0.75, -0.5, 1.5, -1.25, 0.125, 0.375;
  const Eigen::Vector3d z3(1.0, -2.0, 0.5);
  Eigen::MatrixXd A4(4, 4);
  A4 << -0.5, 1, 0, 0.25, 0, -1, 2, 0, 0.75, 0, 0.5, -1.5, 1, 1, -0.25, 0;
  Eigen::VectorXd z4(4);
  z4 << 0.5, 1.5, -1, 2;
  auto ref_of = [](const auto& A, const auto& z0) {
    // A^k z0 / k! in long double
    const Eigen::Matrix<ld, Eigen::Dynamic, Eigen::Dynamic> Al = A.template cast<ld>();
    Eigen::Matrix<ld, Eigen::Dynamic, 1> v = z0.template cast<ld>();
    std::vector<std::vector<ld>> ref(9);
    for (int k = 0; k <= 8; ++k) {
      for (Eigen::Index i = 0; i < v.size(); ++i) ref[k].push_back(v(i) / factorial(k));
      v = (Al * v).eval();
    }
    return ref;
  };
  // mixed product: double matrix times a vector of the library's scalar
  auto f3 = [&A3](const auto& /*t*/, const auto& z) { return (A3 * z).eval(); };
  check_both(f3, z3, 0.0, ref_of(A3, z3), "z' = A z (3x3, Vector3d)");
  check_both(f3, z3, 2.5, ref_of(A3, z3), "z' = A z (3x3, Vector3d, t0 = 2.5)");
  auto f4 = [&A4](const auto& /*t*/, const auto& z) { return (A4 * z).eval(); };
  check_both(f4, z4, -1.0, ref_of(A4, z4), "z' = A z (4x4, VectorXd)");
}

TEST_CASE("z' = -2 t z: Hermite closed form and Cauchy coefficients of z0 exp(t0^2 - t^2)", "[taylor][closed-form]") {
  auto f = [](const auto& t, const auto& z) { return -2 * t * z; };
  for (double z0 : {1.0, -0.75})
    for (double t0 : {0.0, 0.5, -1.25, 2.0}) {
      // d^k/dt^k e^{-t^2} = (-1)^k H_k(t) e^{-t^2}, H_0 = 1, H_1 = 2t,
      // H_{n+1} = 2t H_n - 2n H_{n-1} (physicists' Hermite polynomials)
      std::vector<ld> H(9);
      const ld tl = t0;
      H[0] = 1;
      H[1] = 2 * tl;
      for (int n = 1; n < 8; ++n) H[n + 1] = 2 * tl * H[n] - 2 * n * H[n - 1];
      std::vector<std::vector<ld>> ref(9);
      for (int k = 0; k <= 8; ++k) ref[k] = {z0 * ((k % 2) ? -1 : 1) * H[k] / factorial(k)};
      const std::string what = "z' = -2tz, z0 = " + std::to_string(z0) + ", t0 = " + std::to_string(t0);
      check_both(f, z0, t0, ref, what + " vs Hermite");
      // the same truth by the Cauchy formula on the closed-form solution (entire)
      const auto cref = cauchy_table(
          [&](cld tau) { return std::vector<cld>{static_cast<ld>(z0) * std::exp(-(ld(2) * tl * tau + tau * tau))}; }, 1, 1);
      for (int k = 0; k <= 8; ++k) CHECK(std::fabs(cref[k][0] - ref[k][0]) <= 1e-15L * 2 * std::exp(tl * tl));
      check_both(f, z0, t0, cref, what + " vs Cauchy");
    }
}

TEST_CASE("z' = z cos t: Cauchy coefficients of z0 exp(sin t - sin t0)", "[taylor][closed-form]") {
  auto f = [](const auto& t, const auto& z) { return z * cos(t); };
  for (double z0 : {1.5, -0.5})
    for (double t0 : {0.0, 1.0, -2.0}) {
      const ld tl = t0;
      const auto ref = cauchy_table(
          [&](cld tau) { return std::vector<cld>{static_cast<ld>(z0) * std::exp(std::sin(tl + tau) - std::sin(tl))}; }, 1,
          1);
      check_both(f, z0, t0, ref, "z' = z cos t, z0 = " + std::to_string(z0) + ", t0 = " + std::to_string(t0));
    }
}

TEST_CASE("Hopf normal form (nonlinear 2-D) against its closed-form solution", "[taylor][closed-form]") {
  // x' = x - y - x (x^2 + y^2), y' = x + y - y (x^2 + y^2). In polar form
  // r' = r (1 - r^2), theta' = 1, so r(t0 + tau)^2 = 1 / (1 + c e^{-2 tau}),
  // c = 1/r0^2 - 1, and (x, y) = r (cos(th0 + tau), sin(th0 + tau)).
  // The Cauchy radius keeps |c e^{-2 tau} - c| < 1 + c, so w = 1 + c e^{-2 tau}
  // stays in the right half plane (principal sqrt analytic): r0 = 0.8 with
  // radius 0.5 (0.5625 (e - 1) = 0.97 < 1.5625), r0 = 1.25 with 0.4
  // (0.36 (e^0.8 - 1) = 0.44 < 0.64).
  auto f = [](const auto& /*t*/, const auto& z) {
    using S = std::remove_cvref_t<decltype(z(0))>;
    const S x = z(0), y = z(1);
    const S q = x * x + y * y;
    std::remove_cvref_t<decltype(z)> dz = z;
    dz(0) = x - y - x * q;
    dz(1) = x + y - y * q;
    return dz;
  };
  for (auto [r0, th0, radius] : std::vector<std::tuple<ld, ld, ld>>{{0.8L, 0.3L, 0.5L}, {1.25L, -2.0L, 0.4L}}) {
    Eigen::Vector2d z0(static_cast<double>(r0 * std::cos(th0)), static_cast<double>(r0 * std::sin(th0)));
    // the truth for the rounded initial state
    const ld x0 = z0(0), y0 = z0(1);
    const ld rr = std::sqrt(x0 * x0 + y0 * y0), th = std::atan2(y0, x0);
    const ld c = 1 / (rr * rr) - 1;
    const auto ref = cauchy_table(
        [&](cld tau) {
          const cld r = ld(1) / std::sqrt(ld(1) + c * std::exp(ld(-2) * tau));
          return std::vector<cld>{r * std::cos(th + tau), r * std::sin(th + tau)};
        },
        2, radius);
    check_both(f, z0, 0.75, ref, "Hopf, r0 = " + std::to_string(static_cast<double>(r0)));
  }
}

namespace {

// The conserved quantity V evaluated on the returned Taylor polynomial p(tau)
// of degree K: V(p(tau)) = V(z0) + O(tau^{K+1}), so its Cauchy coefficients
// 1..K vanish; compared with the size of the cancelling terms. At the radius
// 0.25 the oracle's rounding is eps_ld * max|g| * 0.25^{-8} ~ 7e-15 relative,
// hence the self check at 1e-13 (still 10x below the tolerance).
template <int K, class V>
void check_conserved(const std::array<Eigen::Vector2d, K + 1>& d, V terms, ld radius, const std::string& what) {
  auto poly = [&](cld tau, int i) {
    cld s = 0, p = 1;
    for (int k = 0; k <= K; ++k) {
      s += p * (static_cast<ld>(d[k](i)) / factorial(k));
      p *= tau;
    }
    return s;
  };
  // terms(x, y) returns the list of terms whose sum is conserved
  const std::size_t nterms = terms(cld(1), cld(1)).size();
  std::vector<ld> total(K + 1, 0);
  ld scale = 0;
  for (std::size_t j = 0; j < nterms; ++j) {
    const auto c = cauchy_checked([&](cld tau) { return terms(poly(tau, 0), poly(tau, 1))[j]; }, K, radius, 1e-13L);
    for (int k = 0; k <= K; ++k) {
      total[k] += c[k];
      scale = std::max(scale, std::fabs(c[k]));
    }
  }
  ld err = 0;
  for (int k = 1; k <= K; ++k) err = std::max(err, std::fabs(total[k]));
  INFO(what << ", K = " << K << ": largest coefficient of V(p(tau)) - V0 " << static_cast<double>(err)
            << ", scale of the terms " << static_cast<double>(scale));
  CHECK(err <= tol * scale);
}

}  // namespace

TEST_CASE("Lotka-Volterra and pendulum: conserved quantity on the Taylor polynomial - both paths agree",
          "[taylor][nonlinear]") {
  const double al = 1.5, be = 1.0, ga = 3.0, de = 1.0;
  auto lv = [=](const auto& /*t*/, const auto& z) {
    std::remove_cvref_t<decltype(z)> dz = z;
    dz(0) = al * z(0) - be * z(0) * z(1);
    dz(1) = de * z(0) * z(1) - ga * z(1);
    return dz;
  };
  // V = de x - ga log x + be y - al log y
  auto lv_terms = [=](cld x, cld y) {
    return std::vector<cld>{ld(de) * x, -ld(ga) * std::log(x), ld(be) * y, -ld(al) * std::log(y)};
  };
  auto pendulum = [](const auto& /*t*/, const auto& z) {
    std::remove_cvref_t<decltype(z)> dz = z;
    dz(0) = z(1);
    dz(1) = -sin(z(0));
    return dz;
  };
  // E = w^2 / 2 - cos theta
  auto pendulum_terms = [](cld th, cld w) { return std::vector<cld>{w * w / ld(2), -std::cos(th)}; };

  for_each_order([&](auto kc) {
    constexpr int K = decltype(kc)::value;
    for (const Eigen::Vector2d& z0 : {Eigen::Vector2d(2.0, 1.5), Eigen::Vector2d(1.5, 1.0)}) {
      const auto inc = taynode::ode_taylor_coefficients<K>(lv, z0, 0.0);
      const auto nes = taynode::ode_taylor_coefficients_nested<K>(lv, z0, 0.0);
      check_conserved<K>(taynode::ode_taylor_coefficients_incremental<K>(lv, z0, 0.0), lv_terms, 0.25L,
                         "Lotka-Volterra (tape)");
      // log x, log y analytic while the polynomial stays away from the cut
      // (-inf, 0]: |x'|, |y'| <= 1.5 here, radius 0.25 keeps x, y near x0, y0
      check_conserved<K>(inc, lv_terms, 0.25L, "Lotka-Volterra (incremental)");
      check_conserved<K>(nes, lv_terms, 0.25L, "Lotka-Volterra (nested)");
      ld scale = 0, err = 0;
      for (int k = 0; k <= K; ++k)
        for (int i = 0; i < 2; ++i) {
          scale = std::max(scale, std::fabs(static_cast<ld>(inc[k](i))) / factorial(k));
          err = std::max(err, std::fabs(static_cast<ld>(inc[k](i) - nes[k](i))) / factorial(k));
        }
      INFO("Lotka-Volterra incremental vs nested, K = " << K);
      CHECK(err <= tol * scale);
    }
    for (const Eigen::Vector2d& z0 : {Eigen::Vector2d(2.5, 0.0), Eigen::Vector2d(-0.5, 1.25)}) {
      const auto inc = taynode::ode_taylor_coefficients<K>(pendulum, z0, 0.0);
      const auto nes = taynode::ode_taylor_coefficients_nested<K>(pendulum, z0, 0.0);
      const auto tape = taynode::ode_taylor_coefficients_incremental<K>(pendulum, z0, 0.0);
      check_conserved<K>(inc, pendulum_terms, 0.5L, "pendulum (incremental)");
      check_conserved<K>(tape, pendulum_terms, 0.5L, "pendulum (tape)");
      check_conserved<K>(nes, pendulum_terms, 0.5L, "pendulum (nested)");
    }
  });
}

TEST_CASE("incremental path rejects a function whose operations change between passes", "[taylor]") {
  int calls = 0;
  // Performs one extra operation from the second call on: the tape cannot line up.
  auto unstable = [&calls](auto, const auto& z) {
    ++calls;
    auto y = z * z;
    if (calls > 1) y = y + z * 0.0;
    return y;
  };
  CHECK_THROWS_WITH(taynode::ode_taylor_coefficients_incremental<3>(unstable, 0.5, 0.0),
                    Catch::Contains("must depend on its arguments only through their values"));
}

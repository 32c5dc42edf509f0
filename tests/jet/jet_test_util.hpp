#pragma once
// Helpers shared by the Jet tests: building jets from input paths, looping over
// the orders K = 1..8, and comparing coefficients with the outside truth of
// cauchy_reference.hpp.
//
// Tolerances, all relative to max_k |ref_k| (k <= K), as in the acceptance
// criterion "max_k |c_k - ref_k| <= 1e-12 * max_k |ref_k|":
//   double       1e-12  The acceptance criterion itself. Typical errors are
//                       1e-16..1e-15 (eps_d = 1.1e-16 times the growth of the
//                       O(K^2) recurrences), the oracle is good to <= 1e-15.
//   long double  1e-15  Tighter by 1000: eps_ld = 1.08e-19, times the same
//                       recurrence growth (<= ~1e3 at K = 8), plus the oracle's
//                       own error (<= 1e-15 at the worst point, ~1e-17
//                       typically). A rule that silently computed in double
//                       would show ~1e-16..1e-13 here and fail at the
//                       ill-conditioned points.
//   float        1e-5   eps_f = 6e-8; the coefficient k of an O(K^2)
//                       recurrence accumulates ~k^2/2 roundings, each possibly
//                       amplified by the recurrence growth; up to K = 8 that
//                       is ~100 eps_f = 6e-6. 1e-5 leaves a factor < 2.
// The reference always sees the input path rounded to T, so the conditioning
// of the function does not enter the measured error (only the library's own
// arithmetic does).

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <taynode/jet.hpp>

#include "cauchy_reference.hpp"

namespace taynode_test {

using taynode::Dual;
using taynode::Jet;

template <class T>
constexpr ld tolerance() {
  if constexpr (std::is_same_v<T, float>) return 1e-5L;
  else if constexpr (std::is_same_v<T, double>) return 1e-12L;
  else return 1e-15L;
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, float>) return "float";
  else if constexpr (std::is_same_v<T, double>) return "double";
  else return "long double";
}

inline constexpr int max_order = 8;

// Calls f(std::integral_constant<int, K>{}) for K = 1..8.
template <class F>
void for_each_order(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I + 1>{}), ...);
  }(std::make_integer_sequence<int, max_order>{});
}

// The jet of the path (coefficients beyond K dropped: they do not influence
// coefficients 0..K of any composition).
template <class T, int K>
Jet<T, K> make_jet(const Path& p) {
  std::array<T, K + 1> c{};
  for (int k = 0; k <= K && k < static_cast<int>(p.a.size()); ++k) c[k] = static_cast<T>(p.a[k]);
  return Jet<T, K>(c);
}

inline std::string path_string(const Path& p) {
  std::ostringstream os;
  os.precision(17);
  os << "u(t) = ";
  for (std::size_t j = 0; j < p.a.size(); ++j) os << (j ? " + " : "") << static_cast<double>(p.a[j]) << (j ? " t^" + std::to_string(j) : "");
  return os.str();
}

// With TAYNODE_JET_STATS set in the environment, the largest relative error
// seen per (rule, T) is printed at exit: the evidence behind the tolerances.
struct ErrorStats {
  std::map<std::string, ld> worst;
  ~ErrorStats() {
    if (!std::getenv("TAYNODE_JET_STATS")) return;
    for (auto& [name, e] : worst) std::printf("%-50s max rel err %.3Le\n", name.c_str(), e);
  }
  void add(const std::string& what, const char* type, ld rel) {
    std::string key = what.substr(0, what.find(" along")).substr(0, 40) + " [" + type + "]";
    ld& w = worst[key];
    if (!(rel <= w)) w = rel;
  }
};
inline ErrorStats& error_stats() {
  static ErrorStats s;
  return s;
}

// max_k |got_k - ref_k| <= tol * max_k |ref_k| over k = 0..K, with a
// coefficient table in the failure message. NaN/inf in got fail.
template <class T, int K>
void check_coefficients(const Jet<T, K>& got, const std::vector<ld>& ref, ld tol, const std::string& what) {
  ld scale = 0, err = 0;
  bool finite = true;
  for (int k = 0; k <= K; ++k) {
    scale = std::max(scale, std::fabs(ref[k]));
    const ld g = static_cast<ld>(got[k]);
    if (!std::isfinite(g)) finite = false;
    err = std::max(err, std::fabs(g - ref[k]));
  }
  // The oracle's own absolute accuracy is ~1e-15 of the largest reference
  // coefficient up to order 8 (cauchy_reference.hpp); where every coefficient
  // up to K is zero (u^2 at u0 = 0 with K = 1) the reference holds only that
  // noise, so an error within 2e-15 of max_{k<=8} |ref_k| is accepted too.
  const ld noise = 2e-15L * max_abs(ref);
  const bool ok = finite && (err <= tol * scale || err <= noise);
  error_stats().add(what, type_name<T>(), finite ? err / scale : INFINITY);
  if (!ok) {
    std::ostringstream os;
    os.precision(19);
    os << what << " [T = " << type_name<T>() << ", K = " << K << "]: max err " << static_cast<double>(err)
       << " > " << static_cast<double>(tol) << " * " << static_cast<double>(scale) << " (rel "
       << static_cast<double>(err / scale) << ")\n";
    for (int k = 0; k <= K; ++k) os << "  k=" << k << "  got " << static_cast<ld>(got[k]) << "  ref " << ref[k] << "\n";
    FAIL_CHECK(os.str());
  } else {
    SUCCEED();
  }
}

// The rule y = f(u) along the path p, for K = 1..8, against ref(p_T) (the K=8
// reference coefficients of the rounded path).
// The reference for the last path seen (the three scalar types usually see
// the same rounded path: most test coefficients are exact in float).
struct ReferenceCache {
  std::vector<ld> key, ref;
  template <class F>
  const std::vector<ld>& get(const std::vector<ld>& k, F&& make) {
    if (k != key || ref.empty()) {
      ref = make();
      key = k;
    }
    return ref;
  }
};

template <class T, class JetF, class RefF>
void check_unary(const std::string& name, JetF&& jf, RefF&& ref_of, const Path& p, ld tol = tolerance<T>(),
                 ReferenceCache* cache = nullptr) {
  const Path pr = p.template rounded<T>();
  ReferenceCache local;
  if (!cache) cache = &local;
  const std::vector<ld> ref = cache->get(pr.a, [&] { return ref_of(pr); });
  for_each_order([&](auto kc) {
    constexpr int K = decltype(kc)::value;
    const Jet<T, K> u = make_jet<T, K>(pr);
    const Jet<T, K> y = jf(u);
    check_coefficients(y, ref, tol, name + " along " + path_string(pr));
  });
}

// The rule y = f(u, v) along the paths p, q.
template <class T, class JetF, class RefF>
void check_binary(const std::string& name, JetF&& jf, RefF&& ref_of, const Path& p, const Path& q,
                  ld tol = tolerance<T>(), ReferenceCache* cache = nullptr) {
  const Path pr = p.template rounded<T>(), qr = q.template rounded<T>();
  ReferenceCache local;
  if (!cache) cache = &local;
  std::vector<ld> key{static_cast<ld>(pr.a.size())};  // (size of p, p, q) identifies the pair
  key.insert(key.end(), pr.a.begin(), pr.a.end());
  key.insert(key.end(), qr.a.begin(), qr.a.end());
  const std::vector<ld> ref = cache->get(key, [&] { return ref_of(pr, qr); });
  for_each_order([&](auto kc) {
    constexpr int K = decltype(kc)::value;
    const Jet<T, K> u = make_jet<T, K>(pr), v = make_jet<T, K>(qr);
    const Jet<T, K> y = jf(u, v);
    check_coefficients(y, ref, tol, name + " along " + path_string(pr) + ", v: " + path_string(qr));
  });
}

// Reference maker: Cauchy coefficients of F(u(t)), F analytic within rho of u(0).
template <class F>
auto cauchy_of(F f, ld rho) {
  return [f, rho](const Path& p) {
    return cauchy_checked([&](cld t) { return f(p(t)); }, max_order, choose_radius(p, rho));
  };
}
// ... of F(u(t), v(t)), F analytic within rho_u of u(0) and rho_v of v(0).
template <class F>
auto cauchy_of2(F f, ld rho_u, ld rho_v) {
  return [f, rho_u, rho_v](const Path& p, const Path& q) {
    const ld r = choose_radius({{&p, rho_u}, {&q, rho_v}});
    return cauchy_checked([&](cld t) { return f(p(t), q(t)); }, max_order, r);
  };
}

// Standard input paths through u0: the variable x0 + t and non-trivial
// polynomial paths (all coefficients exactly representable in float).
inline std::vector<Path> paths_through(ld u0) {
  return {Path{{u0, 1}}, Path{{u0, 0.75L, -0.375L, 0.25L}}, Path{{u0, -1.25L, 0.5L, 0, 0.125L}},
          Path{{u0, 0.5L, 0.0625L, -0.1875L, 0.03125L, 0.015625L}}};
}

}  // namespace taynode_test

namespace taynode_test {

// check_unary for float, double and long double.
template <class JetF, class RefF>
void check_unary_all(const std::string& name, JetF&& jf, RefF&& ref_of, const Path& p) {
  ReferenceCache cache;
  check_unary<float>(name, jf, ref_of, p, tolerance<float>(), &cache);
  check_unary<double>(name, jf, ref_of, p, tolerance<double>(), &cache);
  check_unary<long double>(name, jf, ref_of, p, tolerance<long double>(), &cache);
}
template <class JetF, class RefF>
void check_binary_all(const std::string& name, JetF&& jf, RefF&& ref_of, const Path& p, const Path& q) {
  ReferenceCache cache;
  check_binary<float>(name, jf, ref_of, p, q, tolerance<float>(), &cache);
  check_binary<double>(name, jf, ref_of, p, q, tolerance<double>(), &cache);
  check_binary<long double>(name, jf, ref_of, p, q, tolerance<long double>(), &cache);
}

}  // namespace taynode_test

#pragma once
// High-precision outside truth for Taylor coefficients, independent of every
// recurrence in the library.
//
// For g analytic in a disk |t| < R around 0, the normalized Taylor
// coefficients are given by the Cauchy integral formula
//     c_k = 1/(2 pi i) \oint g(t) t^{-k-1} dt  over |t| = r < R,
// which the trapezoidal rule with N nodes t_j = r w^j, w = e^{2 pi i / N},
// turns into
//     c~_k = (1/N) sum_j g(t_j) t_j^{-k}.
//
// Error analysis (why the result is far better than the 1e-12 acceptance):
//   * Aliasing. The trapezoidal rule is exact for t^m unless m = k (mod N), so
//     c~_k = c_k + sum_{m>=1} c_{k+mN} r^{mN}. With |c_j| <= M / R'^j on any
//     R' < R (Cauchy estimate, M = max |g| on |t| = R') the error is
//     <= M R'^{-k} (r/R')^N / (1 - (r/R')^N). The radius chooser below keeps
//     the path deviation |u(t) - u(0)| <= 3/4 of the safe radius rho on
//     |t| = r, so g is analytic up to the R' where the deviation bound reaches
//     rho; for paths of degree d <= 5 that gives r/R' <= (3/4)^{1/d} <= 0.944,
//     and with N = 1024 nodes (r/R')^N <= 3e-26.
//   * Rounding. Each node value g(t_j) carries a relative error of a few
//     eps_ld = 1.08e-19 (glibc complex long double functions), the twiddle
//     factors are computed directly by cosl/sinl of a reduced angle, and the
//     mean of N terms of size max|g| r^{-k} adds an error of about
//     few * eps_ld * max|g| / r^k. Because r is ~3/4 of the convergence
//     radius R of g (or 1 for entire g, with the deviation kept <= 1 so that
//     max|g| stays within a factor ~e of |g(0)|), this is
//     few * eps_ld * (4/3)^k relative to max_k |c_k| when c_k ~ R^{-k}; when
//     the c_k also decay polynomially in k (pow with a non-integer exponent
//     near its branch point, worst test point) it is larger by that factor.
//     Measured against the closed forms in test_oracle.cpp: <= 1e-15 relative
//     everywhere, typically ~1e-17 -- three orders below the 1e-12 acceptance.
//   * Self check. `cauchy_checked` evaluates the formula on two radii (r and
//     0.9 r) and two node counts and requires agreement to 3e-15 of
//     max_k |c_k|: a singularity or branch cut between the two circles, or
//     aliasing, shows up as a disagreement, not as a wrong "truth". (Two
//     circles both beyond a pole would agree on its Laurent coefficients, so
//     the primary guarantee is the radius chooser with the known distance rho
//     from u(0) to the singularities; the self check is a safeguard.)
//
// Functions that std::complex lacks are built here from ones it has, with
// the formula written next to each. erf and atan2 are not evaluated on complex
// arguments at all: their derivative is analytic and elementary, so the
// coefficients of the derivative are computed by the Cauchy formula and
// integrated exactly (c_k = h_{k-1} / k), with c_0 from std::erf / std::atan2.

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace taynode_test {

using ld = long double;
using cld = std::complex<long double>;

inline constexpr ld pi_ld = std::numbers::pi_v<long double>;
inline constexpr ld inf_ld = std::numeric_limits<ld>::infinity();

// ---------------------------------------------------------------------------
// Polynomial input paths u(t) = a_0 + a_1 t + ... + a_m t^m.
struct Path {
  std::vector<ld> a;

  cld operator()(cld t) const {
    cld s = 0;
    for (std::size_t j = a.size(); j-- > 0;) s = s * t + a[j];
    return s;
  }
  ld value() const { return a.empty() ? 0 : a[0]; }
  // max over |t| = r of |u(t) - u(0)|, bounded by sum_j |a_j| r^j.
  ld deviation(ld r) const {
    ld s = 0, p = 1;
    for (std::size_t j = 1; j < a.size(); ++j) {
      p *= r;
      s += std::fabs(a[j]) * p;
    }
    return s;
  }
  // The path with every coefficient rounded to T (so that the reference sees
  // exactly the input the T-valued jet sees; the conditioning of f is then not
  // mixed into the measured error).
  template <class T>
  Path rounded() const {
    Path p;
    for (ld x : a) p.a.push_back(static_cast<ld>(static_cast<T>(x)));
    return p;
  }
  // derivative path u'(t)
  Path derivative() const {
    Path p;
    for (std::size_t j = 1; j < a.size(); ++j) p.a.push_back(a[j] * static_cast<ld>(j));
    if (p.a.empty()) p.a.push_back(0);
    return p;
  }
};

// Largest r in (0, 1] with deviation(r) <= min(rho / 2, 1) for every path in
// the list (rho: distance in u-space from u(0) to the nearest singularity or
// branch cut of the function; +inf for entire functions).
inline ld choose_radius(const std::vector<std::pair<const Path*, ld>>& paths) {
  auto ok = [&](ld r) {
    for (auto& [p, rho] : paths)
      if (p->deviation(r) > std::min<ld>(ld(0.75) * rho, 1)) return false;
    return true;
  };
  if (ok(1)) return 1;
  ld lo = 0, hi = 1;
  for (int i = 0; i < 80; ++i) {
    ld mid = (lo + hi) / 2;
    (ok(mid) ? lo : hi) = mid;
  }
  return lo;
}
inline ld choose_radius(const Path& p, ld rho) { return choose_radius({{&p, rho}}); }

// ---------------------------------------------------------------------------
// The N-th roots of unity e^{2 pi i m / N}, m = 0..N-1, each computed directly
// by cosl/sinl (accurate to eps_ld), cached per N.
inline const std::vector<cld>& unit_roots(int N) {
  static thread_local std::vector<std::pair<int, std::vector<cld>>> cache;
  for (auto& [n, roots] : cache)
    if (n == N) return roots;
  std::vector<cld> roots(static_cast<std::size_t>(N));
  for (int m = 0; m < N; ++m) roots[static_cast<std::size_t>(m)] = std::polar(ld(1), 2 * pi_ld * static_cast<ld>(m) / static_cast<ld>(N));
  cache.emplace_back(N, std::move(roots));
  return cache.back().second;
}

// The trapezoidal Cauchy formula. Returns Re c_0..c_K (g real on the real axis).
template <class G>
std::vector<ld> cauchy_coefficients(G&& g, int K, ld r, int N = 1024) {
  const std::vector<cld>& w = unit_roots(N);
  std::vector<cld> acc(static_cast<std::size_t>(K) + 1, cld(0));
  for (int j = 0; j < N; ++j) {
    const cld gj = g(r * w[static_cast<std::size_t>(j)]);
    for (int k = 0; k <= K; ++k) {
      // t_j^{-k} = r^{-k} w^{-(j k mod N)}: the reduced index keeps the twiddle
      // factor accurate to eps_ld; r^{-k} is applied once after the sum.
      const int m = static_cast<int>((static_cast<long long>(j) * k) % N);
      acc[static_cast<std::size_t>(k)] += gj * std::conj(w[static_cast<std::size_t>(m)]);
    }
  }
  std::vector<ld> c(acc.size());
  for (std::size_t k = 0; k < acc.size(); ++k)
    c[k] = acc[k].real() / static_cast<ld>(N) * std::pow(r, -static_cast<ld>(k));
  return c;
}

inline ld max_abs(const std::vector<ld>& v) {
  ld m = 0;
  for (ld x : v) m = std::max(m, std::fabs(x));
  return m;
}

// Cauchy coefficients with the self check described above. Throws if the two
// evaluations disagree (then the radius is wrong, not the library). The
// default agreement 3e-15 suits r >= ~0.2 (worst seen: 1.8e-15, pow(x, 2.75)
// at x0 = 0.25, where the 0.9 r evaluation is the noisier one; the returned
// r evaluation is within 4e-17 of the closed form there); a smaller radius
// passes a looser self_check (the rounding part grows like r^{-K}).
template <class G>
std::vector<ld> cauchy_checked(G&& g, int K, ld r, ld self_check = 3e-15L) {
  ld gmax = 0;  // max |g| on the circle: the rounding floor is ~eps_ld gmax r^{-k}
  auto g_tracked = [&](cld t) {
    const cld v = g(t);
    gmax = std::max(gmax, std::abs(v));
    return v;
  };
  std::vector<ld> c1 = cauchy_coefficients(g_tracked, K, r, 1024);
  std::vector<ld> c2 = cauchy_coefficients(g, K, ld(0.9) * r, 768);
  // relative to max_k |c_k|, or to max|g| where all coefficients are ~0
  const ld scale = std::max(max_abs(c1), gmax);
  for (std::size_t k = 0; k < c1.size(); ++k) {
    if (!(std::fabs(c1[k] - c2[k]) <= self_check * scale)) {
      throw std::runtime_error("Cauchy reference self check failed at k = " + std::to_string(k) + ": " +
                               std::to_string(static_cast<double>(c1[k])) + " vs " +
                               std::to_string(static_cast<double>(c2[k])) + " (difference " +
                               std::to_string(static_cast<double>(std::fabs(c1[k] - c2[k]) / scale * 1e15L)) + "e-15 relative)");
    }
  }
  return c1;
}

// Coefficients of G(t) with G' = h analytic, given G(0) = g0 exactly:
// c_0 = g0, c_k = h_{k-1} / k (term-by-term integration of the power series).
template <class H>
std::vector<ld> integrated_coefficients(H&& h, ld g0, int K, ld r) {
  std::vector<ld> hc = cauchy_checked(h, K - 1 >= 0 ? K - 1 : 0, r);
  std::vector<ld> c(static_cast<std::size_t>(K) + 1);
  c[0] = g0;
  for (int k = 1; k <= K; ++k) c[static_cast<std::size_t>(k)] = hc[static_cast<std::size_t>(k - 1)] / static_cast<ld>(k);
  return c;
}

// ---------------------------------------------------------------------------
// Complex functions that std::complex lacks, from ones it has.

// log(1 + w): the alternating series sum (-1)^{n+1} w^n / n for |w| < 1/4
// (terms fall by 4x, 40 terms reach 1e-25), else the principal log.
inline cld cx_log1p(cld w) {
  if (std::abs(w) < ld(0.25)) {
    cld s = 0, p = w;
    for (int n = 1; n < 60; ++n) {
      s += ((n % 2) ? p : -p) / static_cast<ld>(n);
      p *= w;
    }
    return s;
  }
  return std::log(ld(1) + w);
}
// e^z - 1: the exponential series sum z^n / n! for |z| < 1/2, else exp(z) - 1.
inline cld cx_expm1(cld z) {
  if (std::abs(z) < ld(0.5)) {
    cld s = 0, p = z;
    for (int n = 1; n < 40; ++n) {
      s += p;
      p *= z / static_cast<ld>(n + 1);
    }
    return s;
  }
  return std::exp(z) - ld(1);
}
// sigma(z) = 1 / (1 + e^{-z}) = e^z / (1 + e^z); the form with |e^{...}| <= 1.
inline cld cx_sigmoid(cld z) {
  if (z.real() >= 0) return ld(1) / (ld(1) + std::exp(-z));
  const cld e = std::exp(z);
  return e / (ld(1) + e);
}
// softplus(z) = log(1 + e^z) = z + log(1 + e^{-z}); the form with |e^{...}| <= 1
// (then 1 + w has positive real part: the principal log is the analytic branch).
inline cld cx_softplus(cld z) {
  if (z.real() >= 0) return z + cx_log1p(std::exp(-z));
  return cx_log1p(std::exp(z));
}
// cbrt(z) = exp(log(z) / 3) near the positive real axis, -cbrt(-z) near the
// negative one (the real cube root is odd).
inline cld cx_cbrt(cld z) {
  if (z.real() >= 0) return std::exp(std::log(z) / ld(3));
  return -std::exp(std::log(-z) / ld(3));
}
// z^n for an integer n by repeated multiplication (exact in exact arithmetic).
inline cld cx_ipow(cld z, int n) {
  cld p = 1;
  const int m = n < 0 ? -n : n;
  for (int i = 0; i < m; ++i) p *= z;
  return n < 0 ? ld(1) / p : p;
}

// ---------------------------------------------------------------------------
// Classic closed forms, the second oracle.
inline ld factorial(int k) {
  ld f = 1;
  for (int i = 2; i <= k; ++i) f *= static_cast<ld>(i);
  return f;
}
// generalized binomial coefficient C(a, k) = a (a-1) ... (a-k+1) / k!
inline ld binomial(ld a, int k) {
  ld c = 1;
  for (int i = 0; i < k; ++i) c *= (a - static_cast<ld>(i)) / static_cast<ld>(i + 1);
  return c;
}

}  // namespace taynode_test

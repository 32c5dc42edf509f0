// Every series operation against Jet<T, K> applied element by element to the same coefficients.
// Jet is itself tested against Cauchy-integral references (tests/jet/), and both use the rules of
// jet/rules.hpp; what these tests pin is the batching: strides, the compile-time order dispatch
// (k ≤ 8) and its run-time fallback (k = 9, 10), coefficient 0 from the backend's vectorized value
// functions, the stacked GEMM, the time column, broadcasting and reductions.
//
// Tolerances: the series and Jet perform the same operations in the same order except coefficient
// 0 of sigmoid/softplus/exp/log (Eigen's vectorized exp/log1p/log instead of libm: a few ulps),
// which the recurrences carry into the higher coefficients with growth of order k. With inputs of
// size ≤ 1 the coefficients stay O(1)…O(10), so |Δ| ≤ 1e-13·(1 + |ref|) in double (≈ 450 ulps,
// 10–100× above what is observed) and 2e-5·(1 + |ref|) in float (≈ 170 ulps) hold with margin; a
// wrong index, stride or order gives O(1) errors.

#include <cmath>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "taynode/jet.hpp"
#include "taynode/series.hpp"

using namespace taynode;

namespace {

constexpr int K = 10;  // orders 0..8 take the compile-time dispatch, 9..10 the run-time one

template <class T>
double tolerance() {
  return std::is_same_v<T, double> ? 1e-13 : 2e-5;
}

// A series with random coefficients: c_0 in [lo, hi], c_k in [−1, 1] / k (k ≥ 1).
template <class T>
Series<T> random_series(Index rows, Index cols, unsigned seed, double lo = -2.0, double hi = 2.0, int order = K) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> c0(lo, hi), ck(-1.0, 1.0);
  Series<T> s(order, rows, cols);
  for (Index i = 0; i < s.size(); ++i) s.coefficient(0)[i] = T(c0(rng));
  for (int k = 1; k <= order; ++k)
    for (Index i = 0; i < s.size(); ++i) s.coefficient(k)[i] = T(ck(rng) / k);
  return s;
}

template <class T>
Jet<T, K> jet_at(const Series<T>& s, Index i) {
  Jet<T, K> j;
  for (int k = 0; k <= K; ++k) j[k] = s.coefficient(k)[i];
  return j;
}

template <class T>
void require_close(const Series<T>& s, Index i, const Jet<T, K>& ref, const std::string& what) {
  for (int k = 0; k <= K; ++k) {
    const double got = double(s.coefficient(k)[i]), want = double(ref[k]);
    INFO(what << ": element " << i << ", coefficient " << k << ": " << got << " vs " << want);
    REQUIRE(std::abs(got - want) <= tolerance<T>() * (1.0 + std::abs(want)));
  }
}

}  // namespace

TEMPLATE_TEST_CASE("elementwise series functions agree with Jet", "[series]", double, float) {
  using T = TestType;
  const Index rows = 3, cols = 37;  // 111 elements: vector bodies and a remainder
  const Series<T> u = random_series<T>(rows, cols, 1);
  const Series<T> v = random_series<T>(rows, cols, 2);
  const Series<T> pos = random_series<T>(rows, cols, 3, 0.5, 3.0);  // log needs u_0 > 0
  Series<T> y(K, rows, cols), a(K, rows, cols), b(K, rows, cols);

  series::sigmoid(u, y, a);
  for (Index i = 0; i < u.size(); ++i) {
    const Jet<T, K> x = jet_at(u, i);
    require_close(y, i, sigmoid(x), "sigmoid");
    require_close(a, i, Jet<T, K>(sigmoid(x) * (T(1) - sigmoid(x))), "sigmoid auxiliary s(1-s)");
  }
  series::tanh(u, y, a);
  for (Index i = 0; i < u.size(); ++i) {
    require_close(y, i, tanh(jet_at(u, i)), "tanh");
    require_close(a, i, Jet<T, K>(T(1) - tanh(jet_at(u, i)) * tanh(jet_at(u, i))), "tanh auxiliary 1-y^2");
  }
  series::softplus(u, y, a, b);
  for (Index i = 0; i < u.size(); ++i) {
    require_close(y, i, softplus(jet_at(u, i)), "softplus");
    require_close(a, i, sigmoid(jet_at(u, i)), "softplus auxiliary sigmoid");
  }
  series::exp(u, y);
  for (Index i = 0; i < u.size(); ++i) require_close(y, i, exp(jet_at(u, i)), "exp");
  series::log(pos, y);
  for (Index i = 0; i < u.size(); ++i) require_close(y, i, log(jet_at(pos, i)), "log");
  series::square(u, y);
  for (Index i = 0; i < u.size(); ++i) require_close(y, i, Jet<T, K>(jet_at(u, i) * jet_at(u, i)), "square");
  series::product(u, v, y);
  for (Index i = 0; i < u.size(); ++i) require_close(y, i, Jet<T, K>(jet_at(u, i) * jet_at(v, i)), "product");
  series::add(u, v, y, T(-0.5));
  for (Index i = 0; i < u.size(); ++i) require_close(y, i, Jet<T, K>(jet_at(u, i) - T(0.5) * jet_at(v, i)), "add");
  series::scale(T(3), u, y);
  for (Index i = 0; i < u.size(); ++i) require_close(y, i, Jet<T, K>(T(3) * jet_at(u, i)), "scale");
}

TEMPLATE_TEST_CASE("sigmoid coefficient 0 is stable far in the tails", "[series]", double, float) {
  using T = TestType;
  Series<T> u(2, 1, 4), s(2, 1, 4), e(2, 1, 4);
  const T x[4] = {T(-800), T(-40), T(40), T(800)};
  for (int i = 0; i < 4; ++i) {
    u.coefficient(0)[i] = x[i];
    u.coefficient(1)[i] = T(1);
    u.coefficient(2)[i] = T(0);
  }
  series::sigmoid(u, s, e);
  for (int i = 0; i < 4; ++i) {
    INFO("u0 = " << x[i]);
    const Jet<T, 2> ref = sigmoid(Jet<T, 2>::variable(x[i]));
    for (int k = 0; k <= 2; ++k) {
      REQUIRE(std::isfinite(s.coefficient(k)[i]));
      // relative to the Jet value: σ(−40) ≈ 4e−18 must not be lost to 1 − σ(40) cancellation
      REQUIRE(std::abs(s.coefficient(k)[i] - ref[k]) <= T(1e-5) * std::abs(ref[k]) + std::numeric_limits<T>::min());
    }
  }
}

TEMPLATE_TEST_CASE("linear maps: per-order steps, one stacked GEMM, and the time column", "[series]", double, float) {
  using T = TestType;
  const Index rows = 4, in = 9, out = 6;
  const Series<T> x = random_series<T>(rows, in, 11);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> w(out, in + 1);
  Eigen::Matrix<T, Eigen::Dynamic, 1> bias(out);
  for (Index i = 0; i < w.size(); ++i) w.data()[i] = T(d(rng));
  for (Index i = 0; i < out; ++i) bias(i) = T(d(rng));
  const TimeSeries<T> t{T(0.3), T(1)};

  Series<T> stacked(K, rows, out), steps(K, rows, out), fused(K, rows, out);
  Series<T> xt(K, rows, in + 1), via_concat(K, rows, out);
  series::linear(x, w.data() + 1, w.cols(), bias.data(), stacked);  // W_x only (skip column 0)
  for (int k = 0; k <= K; ++k) series::linear_step(k, x, w.data() + 1, w.cols(), bias.data(), steps);
  for (int k = 0; k <= K; ++k) series::concat_time_linear_step(k, t, x, w.data(), w.cols(), bias.data(), fused);
  series::concat_time(t, x, xt);
  series::linear(xt, w.data(), w.cols(), bias.data(), via_concat);

  for (Index r = 0; r < rows; ++r)
    for (Index o = 0; o < out; ++o) {
      Jet<T, K> plain(bias(o)), timed(bias(o));
      timed = timed + w(o, 0) * Jet<T, K>::variable(t.t0);
      for (Index i = 0; i < in; ++i) {
        plain = plain + w(o, i + 1) * jet_at(x, r * in + i);
        timed = timed + w(o, i + 1) * jet_at(x, r * in + i);
      }
      const Index e = r * out + o;
      require_close(stacked, e, plain, "linear (stacked GEMM)");
      require_close(steps, e, plain, "linear_step");
      require_close(fused, e, timed, "concat_time_linear_step");
      require_close(via_concat, e, timed, "concat_time + linear");
    }
  for (Index r = 0; r < rows; ++r) require_close(xt, r * (in + 1), Jet<T, K>::variable(t.t0), "concat_time column 0");
}

TEMPLATE_TEST_CASE("broadcast product and reductions agree with Jet", "[series]", double, float) {
  using T = TestType;
  const Index rows = 5, cols = 7;
  const Series<T> u = random_series<T>(rows, cols, 21);
  const Series<T> g = random_series<T>(1, cols, 22);
  Series<T> y(K, rows, cols), norms(K, rows, 1), row_means(K, rows, 1), col_means(K, 1, cols);
  for (int k = 0; k <= K; ++k) series::product_broadcast_row_step(k, u, g, y);
  series::squared_norm_rows(u, norms);
  series::mean_cols(u, row_means);
  series::mean_rows(u, col_means);
  for (Index r = 0; r < rows; ++r) {
    Jet<T, K> n(T(0)), m(T(0));
    for (Index c = 0; c < cols; ++c) {
      require_close(y, r * cols + c, Jet<T, K>(jet_at(u, r * cols + c) * jet_at(g, c)), "broadcast product");
      n = n + jet_at(u, r * cols + c) * jet_at(u, r * cols + c);
      m = m + jet_at(u, r * cols + c);
    }
    require_close(norms, r, n, "squared norm per example");
    require_close(row_means, r, Jet<T, K>(m / T(cols)), "mean over features");
  }
  for (Index c = 0; c < cols; ++c) {
    Jet<T, K> m(T(0));
    for (Index r = 0; r < rows; ++r) m = m + jet_at(u, r * cols + c);
    require_close(col_means, c, Jet<T, K>(m / T(rows)), "mean over the batch");
  }
}

TEST_CASE("Series storage: stacked coefficient matrices, derivatives", "[series]") {
  Series<double> s(3, 2, 3);
  for (int k = 0; k <= 3; ++k) s.matrix(k).setConstant(double(k + 1));
  REQUIRE(s.stride() == 6);
  REQUIRE(s.stacked().rows() == 8);
  REQUIRE(s.stacked()(4, 2) == 3.0);  // row 4 = coefficient 2, example 0
  REQUIRE(s.at(5)[3] == 4.0);
  REQUIRE(s.derivative(3)(1, 1) == 6.0 * 4.0);
}

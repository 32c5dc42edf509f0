// Taylor mode (Jet, IncrementalJet) against nested forward mode (Dual<Dual<…>>), K = 1..8:
//  (i)  the K-th derivative of a univariate composite function;
//  (ii) the K-th total derivative along an ODE trajectory, for a small nonlinear system and for
//       the paper's MNIST dynamics (one example, deterministic weights).
// Prints one JSON line per case and K: median ns of Taylor and nested, and their ratio.

#include <cmath>
#include <cstdio>
#include <string_view>
#include <utility>

#include <Eigen/Core>

#include "taynode/jet.hpp"
#include "taynode/taylor.hpp"
#include "timing.hpp"

using namespace taynode;
using bench::keep;
using bench::median_ns;

// (i) mixes products, quotients, exp, sin, log and sigmoid.
struct Composite {
  template <class S>
  S operator()(const S& x) const {
    const S s = sin(x);
    const S e = exp(x * s);
    return e * log(x * x + 1) + sigmoid(x - s) * x - s * e / (x + 2);
  }
};

// (ii-a) a small nonlinear system: a forced, damped pendulum with a Lotka–Volterra pair.
struct SmallSystem {
  template <class S, class Z>
  Z operator()(const S& t, const Z& z) const {
    Z dz;
    dz(0) = z(1);
    dz(1) = -sin(z(0)) - z(1) * 0.1 + cos(t) * 0.5;
    dz(2) = z(2) * (1.5 - z(3));
    dz(3) = z(3) * (z(2) - 3.0);
    return dz;
  }
};

// (ii-b) the paper's MNIST dynamics: σ(z) → [·; t] → Linear(785→100) → σ → [·; t] → Linear(101→784).
// The weights stay double: a mixed product scales each jet (O(K)) instead of multiplying two
// jets (O(K²)), and a Dual^K by 2^K instead of 3^K. Eigen's blocked kernel does not mix scalar
// types and its lazy product walks W by rows, so the product is a column-by-column axpy here,
// the same code for every scalar type.
template <class V>
V times(const Eigen::MatrixXd& w, const V& x) {
  V y(w.rows());
  for (Eigen::Index i = 0; i < w.rows(); ++i) y(i) = w(i, 0) * x(0);
  for (Eigen::Index j = 1; j < w.cols(); ++j)
    for (Eigen::Index i = 0; i < w.rows(); ++i) y(i) += w(i, j) * x(j);
  return y;
}

struct MnistDynamics {
  Eigen::MatrixXd w1, w2;
  Eigen::VectorXd b1, b2;
  MnistDynamics() : w1(100, 785), w2(784, 101), b1(100), b2(784) {
    // Deterministic weights of the size Haiku's init gives (σ ≈ 1/√fan_in), no RNG dependence.
    for (Eigen::Index i = 0; i < w1.size(); ++i) w1.data()[i] = std::sin(0.37 * double(i)) / std::sqrt(785.0);
    for (Eigen::Index i = 0; i < w2.size(); ++i) w2.data()[i] = std::cos(0.23 * double(i)) / std::sqrt(101.0);
    for (Eigen::Index i = 0; i < b1.size(); ++i) b1(i) = 0.01 * std::sin(double(i));
    for (Eigen::Index i = 0; i < b2.size(); ++i) b2(i) = 0.01 * std::cos(double(i));
  }
  template <class S, class Z>
  Z operator()(const S& t, const Z& z) const {
    using V = Eigen::Matrix<S, Eigen::Dynamic, 1>;
    V h(785);
    h(0) = t;
    for (Eigen::Index i = 0; i < 784; ++i) h(i + 1) = sigmoid(z(i));
    V a = times(w1, h);
    V g(101);
    g(0) = t;
    for (Eigen::Index i = 0; i < 100; ++i) g(i + 1) = sigmoid(a(i) + b1(i));
    Z out = times(w2, g);
    for (Eigen::Index i = 0; i < 784; ++i) out(i) = out(i) + b2(i);
    return out;
  }
};

template <int K>
void univariate() {
  const Composite f;
  double x = 0.7;
  const auto [taylor, nested] = bench::median_ns_pair(
      [&] {
        bench::opaque(x);
        const Jet<double, K> y = f(Jet<double, K>::variable(x));
        keep(y);
      },
      [&] {
        bench::opaque(x);
        const double d = nested_derivative<K>(f, x);
        keep(d);
      });
  std::printf("{\"case\":\"univariate\",\"K\":%d,\"taylor_ns\":%.1f,\"nested_ns\":%.1f,\"ratio\":%.2f}\n", K, taylor,
              nested, nested / taylor);
}

template <int K, class F, class State>
void trajectory(const char* name, const F& f, const State& initial, int repeats) {
  State z0 = initial;  // hidden from the optimizer in every call, so nothing is folded at compile time
  const auto [taylor, nested] = bench::median_ns_pair(
      [&] {
        bench::opaque(z0);
        auto d = ode_taylor_coefficients<K>(f, z0, 0.3)[K];  // every component of z^(K) is kept
        bench::opaque(d);
      },
      [&] {
        bench::opaque(z0);
        auto d = ode_total_derivative_nested<K>(f, z0, 0.3);
        bench::opaque(d);
      },
      repeats);
  const double incremental = bench::median_ns(
      [&] {
        bench::opaque(z0);
        auto d = ode_taylor_coefficients_incremental<K>(f, z0, 0.3)[K];
        bench::opaque(d);
      },
      repeats);
  std::printf(
      "{\"case\":\"%s\",\"K\":%d,\"taylor_ns\":%.1f,\"incremental_ns\":%.1f,\"nested_ns\":%.1f,\"ratio\":%.2f}\n",
      name, K, taylor, incremental, nested, nested / taylor);
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
  [&]<int... K>(std::integer_sequence<int, K...>) { (univariate<K + 1>(), ...); }(std::make_integer_sequence<int, 8>{});

  const Eigen::Vector4d small(0.4, -0.2, 1.1, 0.8);  // fixed size: no heap traffic on either side
  if (argc > 1 && std::string_view(argv[1]) == "--univariate") return 0;
  [&]<int... K>(std::integer_sequence<int, K...>) {
    (trajectory<K + 1>("small_system", SmallSystem{}, small, 15), ...);
  }(std::make_integer_sequence<int, 8>{});

  const MnistDynamics mnist;
  Eigen::VectorXd pixels(784);
  for (Eigen::Index i = 0; i < 784; ++i) pixels(i) = 0.5 + 0.5 * std::sin(0.1 * double(i));
  const int repeats = quick ? 3 : 7;
  [&]<int... K>(std::integer_sequence<int, K...>) {
    (trajectory<K + 1>("mnist_dynamics", mnist, pixels, repeats), ...);
  }(std::make_integer_sequence<int, 8>{});
}

// The paper's MNIST dynamics σ(z) → [t, ·] → Linear(785 → 100) → σ → [t, ·] → Linear(101 → 784),
// batch B ∈ {1, 10, 100, 1000}, K = 1..6, float and double, single thread:
//  (a) plain: one evaluation of f by hand-written Eigen (vectorized exp, GEMMs), the baseline;
//      evaluate: the library's own plain evaluation (NetworkTaylor::evaluate, pass 0)
//  (b) incremental: z', …, z^(K) by NetworkTaylor::ode_coefficients (K passes)
//  (c) jet: the same by the generic path ode_taylor_coefficients<K> (Jet<T,k> scalars, the state a
//      B × 784 matrix, f evaluated example by example with plain-number weights)
//  (d) nested: z^(K) alone by ode_total_derivative_nested<K> (nested Dual, same generic f)
//  (e) adolc: ADOL-C's forode on the dynamics taped for B examples (B = 1, 10; double only), the
//      time appended to the state as x' = 1
// and the GEMM rate: one pass's two GEMMs alone, and the rate of a register-resident FMA loop (the
// core's practical peak). Prints one JSON line per (T, B, K). Times are medians of repeated runs
// ((a) and (b) in alternating short samples, their ratio the median of the per-sample ratios);
// (c)–(e) are skipped once one call took longer than a second at a lower K (marked -1).
// Usage: bench_series_mnist_taylor [--quick] [--batch B] [--type double|float]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "taynode/jet.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/taylor.hpp"
#include "taynode/taylor/network_taylor.hpp"
#include "timing.hpp"

#ifdef TAYNODE_HAVE_ADOLC
#include <adolc/adolc.h>
#endif

using namespace taynode;
using bench::keep;

namespace {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

constexpr Eigen::Index dim = 784, hidden = 100;

// Deterministic weights of Haiku's scale (σ ≈ 1/√fan_in), as in benchmarks/jet/jet_vs_nested.cpp.
template <class T>
nn::Sequential<T> make_mnist() {
  auto net = nn::mnist_dynamics<T>(dim, hidden);
  auto& l1 = std::get<nn::ConcatLinear<T>>(net.layers[1]);
  auto& l2 = std::get<nn::ConcatLinear<T>>(net.layers[3]);
  for (Eigen::Index i = 0; i < l1.weight.size(); ++i) l1.weight.data()[i] = T(std::sin(0.37 * double(i)) / std::sqrt(785.0));
  for (Eigen::Index i = 0; i < l2.weight.size(); ++i) l2.weight.data()[i] = T(std::cos(0.23 * double(i)) / std::sqrt(101.0));
  for (Eigen::Index i = 0; i < hidden; ++i) l1.bias(i) = T(0.01 * std::sin(double(i)));
  for (Eigen::Index i = 0; i < dim; ++i) l2.bias(i) = T(0.01 * std::cos(double(i)));
  return net;
}

template <class T>
RowMatrix<T> make_pixels(Eigen::Index batch) {
  RowMatrix<T> z(batch, dim);
  for (Eigen::Index r = 0; r < batch; ++r)
    for (Eigen::Index i = 0; i < dim; ++i) z(r, i) = T(0.5 + 0.5 * std::sin(0.1 * double(i) + 0.7 * double(r)));
  return z;
}

// (a) Hand-written Eigen: what a careful user writes for one evaluation of f.
template <class T>
struct PlainMnist {
  RowMatrix<T> w1, w2, h, a, g, out;
  Vector<T> w1t, w2t, b1, b2;
  explicit PlainMnist(const nn::Sequential<T>& net) {
    const auto& l1 = std::get<nn::ConcatLinear<T>>(net.layers[1]);
    const auto& l2 = std::get<nn::ConcatLinear<T>>(net.layers[3]);
    w1 = l1.weight.rightCols(dim);
    w2 = l2.weight.rightCols(hidden);
    w1t = l1.weight.col(0);
    w2t = l2.weight.col(0);
    b1 = l1.bias;
    b2 = l2.bias;
  }
  void operator()(T t, const RowMatrix<T>& z) {
    h = (T(1) + (-z.array()).exp()).inverse();
    a.noalias() = h * w1.transpose();
    a.rowwise() += (b1 + t * w1t).transpose();
    g = (T(1) + (-a.array()).exp()).inverse();
    out.noalias() = g * w2.transpose();
    out.rowwise() += (b2 + t * w2t).transpose();
  }
};

// (c), (d) The dynamics as a generic f(t, z) on any scalar S (state B × 784), weights kept as plain
// numbers so each product is S × T.
template <class T>
struct GenericMnist {
  const RowMatrix<T>* w1;
  const RowMatrix<T>* w2;
  const Vector<T>* b1;
  const Vector<T>* b2;
  template <class S, class Z>
  Z operator()(const S& t, const Z& z) const {
    using taynode::sigmoid;
    Z out(z.rows(), z.cols());
    std::vector<S> h(dim), g(hidden);
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
      for (Eigen::Index i = 0; i < dim; ++i) h[i] = sigmoid(z(r, i));
      for (Eigen::Index o = 0; o < hidden; ++o) {
        S acc = (*w1)(o, 0) * t + (*b1)(o);
        for (Eigen::Index i = 0; i < dim; ++i) acc = acc + (*w1)(o, i + 1) * h[i];
        g[o] = sigmoid(acc);
      }
      for (Eigen::Index o = 0; o < dim; ++o) {
        S acc = (*w2)(o, 0) * t + (*b2)(o);
        for (Eigen::Index i = 0; i < hidden; ++i) acc = acc + (*w2)(o, i + 1) * g[i];
        out(r, o) = acc;
      }
    }
    return out;
  }
};

// Alternating short samples of a() and b() (each sample ≥ min_sample_ns, one call for slow
// functions): short samples are rarely hit by a preemption on a shared machine, and alternation
// lets both see the same state. Returns the median ns per call of each and the median of the
// per-sample ratios b/a.
struct Paired {
  double a_ns, b_ns, ratio, a_min_ns, b_min_ns;
};
template <class A, class B>
Paired paired_ns(A&& a, B&& b, int repeats, double min_sample_ns = 3e5) {
  using clock = std::chrono::steady_clock;
  auto calls_for = [&](auto& fn) {
    std::size_t n = 1;
    for (;;) {
      const auto t0 = clock::now();
      for (std::size_t i = 0; i < n; ++i) fn();
      if (std::chrono::duration<double, std::nano>(clock::now() - t0).count() >= min_sample_ns) return n;
      n *= 2;
    }
  };
  const std::size_t na = calls_for(a), nb = calls_for(b);
  std::vector<double> ta, tb, r;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = clock::now();
    for (std::size_t j = 0; j < na; ++j) a();
    ta.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count() / double(na));
    t0 = clock::now();
    for (std::size_t j = 0; j < nb; ++j) b();
    tb.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count() / double(nb));
    r.push_back(tb.back() / ta.back());
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  return {median(ta), median(tb), median(r), *std::min_element(ta.begin(), ta.end()),
          *std::min_element(tb.begin(), tb.end())};
}

double seconds_of_one_call(auto&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Median ns per call; a slow function (one call > 50 ms) is timed by 3 single calls.
template <class Fn>
double timed_ns(Fn&& fn, int repeats) {
  const double first = seconds_of_one_call(fn);
  if (first > 0.05) {
    std::vector<double> t = {first * 1e9, seconds_of_one_call(fn) * 1e9, seconds_of_one_call(fn) * 1e9};
    std::sort(t.begin(), t.end());
    return t[1];
  }
  return bench::median_ns(fn, repeats);
}

#ifdef TAYNODE_HAVE_ADOLC
// ADOL-C: tape x' = [f(t, z); 1] for B examples (x = [vec z; t]), then forode up to degree K.
struct AdolcMnist {
  short tag;
  int n;
  std::vector<double> x0;
  std::vector<double*> rows;
  std::vector<double> storage;
  AdolcMnist(short tag_, const GenericMnist<double>& f, const RowMatrix<double>& z, double t0, int max_k)
      : tag(tag_), n(int(z.size()) + 1) {
    x0.resize(std::size_t(n));
    for (Eigen::Index i = 0; i < z.size(); ++i) x0[std::size_t(i)] = z.data()[i];
    x0[std::size_t(n - 1)] = t0;
    trace_on(tag);
    std::vector<adouble> x(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) x[std::size_t(i)] <<= x0[std::size_t(i)];
    const Eigen::Index B = z.rows();
    for (Eigen::Index r = 0; r < B; ++r) {
      std::vector<adouble> h(dim), g(hidden);
      for (Eigen::Index i = 0; i < dim; ++i) h[std::size_t(i)] = 1.0 / (1.0 + exp(-x[std::size_t(r * dim + i)]));
      for (Eigen::Index o = 0; o < hidden; ++o) {
        adouble acc = (*f.w1)(o, 0) * x[std::size_t(n - 1)] + (*f.b1)(o);
        for (Eigen::Index i = 0; i < dim; ++i) acc += (*f.w1)(o, i + 1) * h[std::size_t(i)];
        g[std::size_t(o)] = 1.0 / (1.0 + exp(-acc));
      }
      for (Eigen::Index o = 0; o < dim; ++o) {
        adouble acc = (*f.w2)(o, 0) * x[std::size_t(n - 1)] + (*f.b2)(o);
        for (Eigen::Index i = 0; i < hidden; ++i) acc += (*f.w2)(o, i + 1) * g[std::size_t(i)];
        double out;
        acc >>= out;
      }
    }
    adouble one = 1.0 + 0.0 * x[std::size_t(n - 1)];  // t' = 1 (taped as an operation on t)
    double out;
    one >>= out;
    trace_off();
    storage.resize(std::size_t(n) * std::size_t(max_k + 1));
    rows.resize(std::size_t(n));
    for (int i = 0; i < n; ++i) rows[std::size_t(i)] = storage.data() + std::size_t(i) * std::size_t(max_k + 1);
  }
  // Normalized coefficients 0..K of every state component; returns coefficient K of component 0.
  double run(int K) {
    for (int i = 0; i < n; ++i) rows[std::size_t(i)][0] = x0[std::size_t(i)];
    forode(tag, n, 1.0, 0, K, rows.data());
    return rows[0][K];
  }
};
#endif

// Practical peak of one core: independent FMA chains in 512-bit registers (GFLOP/s).
template <class T>
double fma_peak_gflops() {
  constexpr int lanes = 64 / int(sizeof(T));
  constexpr int chains = 16;
  using V [[gnu::vector_size(64)]] = T;
  auto run = [&](long iters) {
    V acc[chains], m, a;
    for (int l = 0; l < lanes; ++l) m[l] = T(0.9999), a[l] = T(1e-5);
    for (auto& v : acc)
      for (int l = 0; l < lanes; ++l) v[l] = T(1);
    for (long it = 0; it < iters; ++it)
      for (auto& v : acc) v = v * m + a;  // contracted to one FMA per vector
    for (auto& v : acc) keep(v);
  };
  const long iters = 2'000'000;
  const double ns = bench::median_ns([&] { run(iters); }, 5, 1e7);
  return 2.0 * lanes * chains * double(iters) / ns;
}

template <class T>
const char* type_name() {
  return std::is_same_v<T, double> ? "double" : "float";
}

template <class T>
void run_batch(Eigen::Index batch, bool quick) {
  const auto net = make_mnist<T>();
  const RowMatrix<T> z = make_pixels<T>(batch);
  const T t0 = T(0.3);
  const int repeats = quick ? 5 : 11;

  PlainMnist<T> plain(net);
  NetworkTaylor<T> ws(net, 6, batch);
  const auto& l1 = std::get<nn::ConcatLinear<T>>(net.layers[1]);
  const auto& l2 = std::get<nn::ConcatLinear<T>>(net.layers[3]);
  const GenericMnist<T> generic{&l1.weight, &l2.weight, &l1.bias, &l2.bias};

  // The two GEMMs of one pass alone (same shapes and operands as the Taylor pass).
  RowMatrix<T> h = (T(1) + (-z.array()).exp()).inverse(), a(batch, hidden), g(batch, hidden), out(batch, dim);
  g = RowMatrix<T>::Constant(batch, hidden, T(0.5));
  const double gemm_flops = 2.0 * double(batch) * double(dim * hidden + hidden * dim);
  const double gemm_ns = bench::median_ns(
      [&] {
        backend::Cpu::gemm_nt(batch, hidden, dim, h.data(), dim, l1.weight.data() + 1, dim + 1, a.data(), hidden);
        backend::Cpu::gemm_nt(batch, dim, hidden, g.data(), hidden, l2.weight.data() + 1, hidden + 1, out.data(), dim);
        keep(out.data()[0]);
      },
      repeats);

  const auto [plain0_ns, evaluate_ns, evaluate_over_plain, plain0_min_ns, evaluate_min_ns] = paired_ns(
      [&] {
        plain(t0, z);
        keep(plain.out.data()[0]);
      },
      [&] {
        const auto f = ws.evaluate(t0, z);
        keep(f.data()[0]);
      },
      4 * repeats + 1);
  (void)evaluate_over_plain, (void)plain0_min_ns, (void)evaluate_min_ns;

#ifdef TAYNODE_HAVE_ADOLC
  std::unique_ptr<AdolcMnist> adolc;
  if constexpr (std::is_same_v<T, double>)
    if (batch <= 10) adolc = std::make_unique<AdolcMnist>(short(batch), generic, z, t0, 6);
#endif

  bool jet_on = true, nested_on = true, adolc_on = true;
  [&]<int... Ks>(std::integer_sequence<int, Ks...>) {
    (
        [&]<int K>(std::integral_constant<int, K>) {
          // (a) and (b) timed in alternating batches, so that their ratio sees one machine state.
          const auto [plain_ns, inc_ns, inc_over_plain, plain_min_ns, inc_min_ns] = paired_ns(
              [&] {
                plain(t0, z);
                keep(plain.out.data()[0]);
              },
              [&] {
                ws.ode_coefficients(t0, z, K);
                keep(ws.state().coefficient(K)[0]);
              },
              4 * repeats + 1);
          double jet_ns = -1, nested_ns = -1, adolc_ns = -1;
          if (jet_on) {
            jet_ns = timed_ns([&] { keep(ode_taylor_coefficients<K>(generic, z, t0)[K].data()[0]); }, repeats);
            jet_on = jet_ns < 1e9;
          }
          if (nested_on) {
            nested_ns = timed_ns([&] { keep(ode_total_derivative_nested<K>(generic, z, t0).data()[0]); }, repeats);
            nested_on = nested_ns < 1e9;
          }
#ifdef TAYNODE_HAVE_ADOLC
          if (adolc && adolc_on) {
            adolc_ns = timed_ns([&] { keep(adolc->run(K)); }, repeats);
            adolc_on = adolc_ns < 1e9;
          }
#endif
          std::printf(
              "{\"type\":\"%s\",\"batch\":%ld,\"K\":%d,\"plain_ns\":%.0f,\"plain_vs_evaluate_ns\":%.0f,\"evaluate_ns\":%.0f,\"incremental_ns\":%.0f,"
              "\"jet_ns\":%.0f,\"nested_ns\":%.0f,\"adolc_ns\":%.0f,\"incremental_over_plain\":%.3f,"
              "\"incremental_over_plain_per_K\":%.3f,\"plain_min_ns\":%.0f,\"incremental_min_ns\":%.0f,\"nested_over_incremental\":%.1f,\"jet_over_incremental\":%.1f,"
              "\"adolc_over_incremental\":%.1f,\"gemm_pass_ns\":%.0f,\"gemm_gflops\":%.2f,"
              "\"incremental_gemm_gflops\":%.2f}\n",
              type_name<T>(), long(batch), K, plain_ns, plain0_ns, evaluate_ns, inc_ns, jet_ns, nested_ns, adolc_ns,
              inc_over_plain, inc_over_plain / K, plain_min_ns, inc_min_ns, nested_ns > 0 ? nested_ns / inc_ns : -1.0,
              jet_ns > 0 ? jet_ns / inc_ns : -1.0, adolc_ns > 0 ? adolc_ns / inc_ns : -1.0, gemm_ns,
              gemm_flops / gemm_ns, K * gemm_flops / inc_ns);
          std::fflush(stdout);
        }(std::integral_constant<int, Ks + 1>{}),
        ...);
  }(std::make_integer_sequence<int, 6>{});
  (void)adolc_on;
}

}  // namespace

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);
  bool quick = false;
  std::vector<long> batches = {1, 10, 100, 1000};
  std::string type = "both";
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--batch" && i + 1 < argc) batches = {std::atol(argv[++i])};
    else if (a == "--type" && i + 1 < argc) type = argv[++i];
  }
  std::printf("{\"fma_peak_gflops_double\":%.1f,\"fma_peak_gflops_float\":%.1f,\"eigen_threads\":%d}\n",
              fma_peak_gflops<double>(), fma_peak_gflops<float>(), Eigen::nbThreads());
  for (long b : batches) {
    if (type != "float") run_batch<double>(b, quick);
    if (type != "double") run_batch<float>(b, quick);
  }
}

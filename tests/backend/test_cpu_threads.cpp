// backend::Cpu on several threads (backend/cpu_threads.hpp): every result bit-identical to the
// single-threaded one, for 1..4 threads — the three GEMMs on the paper's shapes (and against a
// long-double GEMM), the value functions and kernels at unaligned offsets, all Taylor coefficients
// of the MNIST dynamics, a backprop training gradient with R_2 and an adaptive Dopri5 solve — and
// the split itself: contiguous ranges on distinct threads, interior boundaries at the quantum.
#include <taynode/ad.hpp>
#include <taynode/backend/cpu_threads.hpp>
#include <taynode/nn.hpp>
#include <taynode/ode.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace taynode;
using backend::Cpu;
using backend::Index;

namespace {

// Sets the thread count for a scope and restores one thread after it.
struct Threads {
  explicit Threads(int n) { set_cpu_threads(n); }
  ~Threads() { set_cpu_threads(1); }
};

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<T> v(n);
  for (auto& x : v) x = T(normal(rng));
  return v;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

struct Shape {
  Index m, n, k;
};

// C = A·Bᵀ, A·B and Aᵀ·B (C is m×n) through the backend, with α = 0.5 and β = 1 onto a random C.
template <class T>
std::vector<std::vector<T>> three_gemms(const Shape& s) {
  const auto a = random_vector<T>(std::size_t(s.m * s.k), 1), b = random_vector<T>(std::size_t(s.n * s.k), 2);
  const auto at = random_vector<T>(std::size_t(s.k * s.m), 3);
  std::vector<std::vector<T>> out(3, random_vector<T>(std::size_t(s.m * s.n), 4));
  Cpu::gemm_nt<T>(s.m, s.n, s.k, a.data(), s.k, b.data(), s.k, out[0].data(), s.n, T(0.5), T(1));
  Cpu::gemm_nn<T>(s.m, s.n, s.k, a.data(), s.k, b.data(), s.n, out[1].data(), s.n, T(0.5), T(1));
  Cpu::gemm_tn<T>(s.m, s.n, s.k, at.data(), s.m, b.data(), s.n, out[2].data(), s.n, T(0.5), T(1));
  return out;
}

// The same three products in long double, naively, and each element's magnitude |C0| + ½Σ|a·b|
// (the rounding of a length-k sum is at most (k + 2)·ε times it: Higham, Accuracy and Stability,
// eq. 3.5, with one more rounding each for α and β).
template <class T>
struct ExactGemms {
  std::vector<std::vector<long double>> value, magnitude;
};
template <class T>
ExactGemms<T> three_gemms_exact(const Shape& s) {
  const auto a = random_vector<T>(std::size_t(s.m * s.k), 1), b = random_vector<T>(std::size_t(s.n * s.k), 2);
  const auto at = random_vector<T>(std::size_t(s.k * s.m), 3);
  const auto c0 = random_vector<T>(std::size_t(s.m * s.n), 4);
  ExactGemms<T> out;
  out.value.assign(3, std::vector<long double>(c0.begin(), c0.end()));
  out.magnitude.assign(3, std::vector<long double>(c0.size()));
  for (Index i = 0; i < s.m; ++i)
    for (Index j = 0; j < s.n; ++j) {
      long double sum[3] = {0, 0, 0}, abs_sum[3] = {0, 0, 0};
      for (Index l = 0; l < s.k; ++l) {
        const long double p[3] = {(long double)a[std::size_t(i * s.k + l)] * b[std::size_t(j * s.k + l)],
                                  (long double)a[std::size_t(i * s.k + l)] * b[std::size_t(l * s.n + j)],
                                  (long double)at[std::size_t(l * s.m + i)] * b[std::size_t(l * s.n + j)]};
        for (int g = 0; g < 3; ++g) {
          sum[g] += p[g];
          abs_sum[g] += std::abs(p[g]);
        }
      }
      const auto c = std::size_t(i * s.n + j);
      for (int g = 0; g < 3; ++g) {
        out.value[std::size_t(g)][c] += 0.5L * sum[g];
        out.magnitude[std::size_t(g)][c] = std::abs((long double)c0[c]) + 0.5L * abs_sum[g];
      }
    }
  return out;
}

template <class T>
void check_gemms() {
  // MNIST dynamics (batch 100: 785 → 100 → 784, stacked K+1 = 4 orders), its weight gradients,
  // the evaluation batch of 1000, and small / odd sizes.
  const std::vector<Shape> shapes{{100, 100, 785}, {100, 784, 101}, {400, 100, 785}, {100, 785, 100},
                                  {784, 101, 100},  {1000, 100, 785}, {61, 100, 785},  {37, 200, 3},
                                  {300, 64, 64},    {9, 784, 101}};
  for (const auto& s : shapes) {
    CAPTURE(s.m, s.n, s.k, sizeof(T));
    const auto one = three_gemms<T>(s);
    const auto exact = three_gemms_exact<T>(s);
    const long double bound = (long double)(s.k + 2) * std::numeric_limits<T>::epsilon();
    for (std::size_t g = 0; g < 3; ++g) {
      long double worst = 0;  // error / magnitude, at most `bound`
      for (std::size_t i = 0; i < one[g].size(); ++i)
        worst = std::max(worst, std::abs((long double)one[g][i] - exact.value[g][i]) / exact.magnitude[g][i]);
      CAPTURE(g);
      CHECK(worst <= bound);
      CHECK(worst > 0);  // the products did round: the comparison is not vacuous
    }
    for (int t = 2; t <= 4; ++t) {
      Threads threads(t);
      const auto many = three_gemms<T>(s);
      for (int g = 0; g < 3; ++g) {
        CAPTURE(t, g);
        CHECK(same_bits(one[g], many[g]));
      }
    }
  }
}

// Every elementwise member at an unaligned offset (one element past an aligned buffer's start).
template <class T>
std::vector<std::vector<T>> elementwise(Index n) {
  auto u = random_vector<T>(std::size_t(n + 1), 7);
  for (auto& x : u) x *= T(3);
  std::vector<std::vector<T>> out(9, std::vector<T>(std::size_t(n + 1), T(0)));
  const T* x = u.data() + 1;
  Cpu::sigmoid_values<T>(n, x, out[0].data() + 1, out[1].data() + 1);
  Cpu::tanh_values<T>(n, x, out[2].data() + 1, out[3].data() + 1);
  Cpu::softplus_values<T>(n, x, out[4].data() + 1, out[5].data() + 1, out[6].data() + 1);
  Cpu::exp_values<T>(n, x, out[7].data() + 1);
  // Into a 64-byte-aligned output (written in place, not through the chunk buffer): the same bits.
  std::vector<T> room(std::size_t(n) + 64 / sizeof(T));
  T* aligned = room.data();
  while (reinterpret_cast<std::uintptr_t>(aligned) % 64 != 0) ++aligned;
  Cpu::exp_values<T>(n, x, aligned);
  CHECK(std::memcmp(aligned, out[7].data() + 1, std::size_t(n) * sizeof(T)) == 0);
  Cpu::log_values<T>(n, aligned, aligned);  // in place, aligned
  out.push_back(std::vector<T>(aligned, aligned + n));
  T* y = out[8].data() + 1;
  Cpu::for_each(n, [x, y](Index i) { y[i] = x[i] * x[i] - T(0.25) * x[i]; });
  const Index cols = 784, rows = n / cols;
  Cpu::add_row<T>(rows, cols, T(0.5), x, 1, y, cols);
  std::vector<T> norms(static_cast<std::size_t>(rows));
  Cpu::row_squared_norms<T>(rows, cols, y, cols, norms.data());
  out.push_back(norms);
  // Column sums (bias cotangents) of a 99 × 785 block (inside u), at an odd stride and offset.
  std::vector<T> sums(786, T(0.5));
  Cpu::column_sums<T>(99, 785, T(0.25), x, 787, sums.data() + 1, 1);
  out.push_back(sums);
  Cpu::axpy<T>(n, T(0.5), x, y);
  Cpu::scale<T>(n, T(1.5), y);
  out.push_back(std::vector<T>(y, y + n));
  return out;
}

}  // namespace

TEST_CASE("cpu threads: the split is contiguous, on distinct threads, at the quantum", "[backend][threads]") {
  REQUIRE(cpu_threads_available);  // this test is built with taynode::threads
  CHECK_THROWS_AS(set_cpu_threads(0), std::invalid_argument);
  CHECK(cpu_threads() == 1);
  for (int t = 1; t <= 4; ++t) {
    Threads threads(t);
    std::mutex lock;
    std::vector<std::pair<Index, Index>> ranges;
    std::set<int> ids;
    backend::cpu_detail::parallel_ranges(1003, 8, 1.0, 1.0, [&](Index b, Index e) {
      std::lock_guard<std::mutex> guard(lock);
      ranges.emplace_back(b, e);
#ifdef _OPENMP
      ids.insert(omp_get_thread_num());
#endif
    });
    std::sort(ranges.begin(), ranges.end());
    REQUIRE(ranges.size() == std::size_t(t));
    CHECK(ids.size() == std::size_t(t));
    Index next = 0;
    for (const auto& [b, e] : ranges) {
      CHECK(b == next);
      CHECK(e > b);
      if (e != 1003) CHECK(e % 8 == 0);
      next = e;
    }
    CHECK(next == 1003);
  }
  // Small work stays on one thread.
  Threads threads(4);
  int calls = 0;
  backend::cpu_detail::parallel_ranges(100, 1, 1.0, 1000.0, [&](Index, Index) { ++calls; });
  CHECK(calls == 1);
}

TEST_CASE("cpu threads: GEMMs are bit-identical for 1-4 threads and match long double", "[backend][threads]") {
  check_gemms<double>();
  check_gemms<float>();
}

TEST_CASE("cpu threads: GEMMs of random shapes are bit-identical for 2 and 3 threads", "[backend][threads]") {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<Index> rows(2, 1200), cols(1, 600), depth(1, 600);
  for (int trial = 0; trial < 40; ++trial) {
    const Shape s{rows(rng), cols(rng), depth(rng)};
    CAPTURE(s.m, s.n, s.k);
    const auto one = three_gemms<double>(s);
    const auto onef = three_gemms<float>(s);
    for (int t : {2, 3}) {
      Threads threads(t);
      const auto many = three_gemms<double>(s);
      const auto manyf = three_gemms<float>(s);
      for (int g = 0; g < 3; ++g) {
        CAPTURE(t, g);
        CHECK(same_bits(one[g], many[g]));
        CHECK(same_bits(onef[g], manyf[g]));
      }
    }
  }
}

TEST_CASE("cpu threads: value functions and kernels are bit-identical for 1-4 threads", "[backend][threads]") {
  const Index n = 100 * 784;
  const auto one = elementwise<double>(n);
  const auto onef = elementwise<float>(n);
  for (int t = 2; t <= 4; ++t) {
    Threads threads(t);
    const auto many = elementwise<double>(n);
    const auto manyf = elementwise<float>(n);
    for (std::size_t i = 0; i < one.size(); ++i) {
      CAPTURE(t, i);
      CHECK(same_bits(one[i], many[i]));
      CHECK(same_bits(onef[i], manyf[i]));
    }
  }
}

namespace {

struct MnistModel {
  nn::Sequential<double> dynamics = nn::mnist_dynamics<double>();
  nn::Linear<double> head{784, 10};
  nn::RowMatrix<double> x;
  std::vector<int> y;
  MnistModel() {
    std::mt19937_64 rng(5);
    nn::init_haiku(dynamics, rng);
    head = nn::make_classifier_head<double>(784, 10, rng);
    std::uniform_real_distribution<double> pixel(0, 1);
    x.resize(100, 784);
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = pixel(rng);
    for (int i = 0; i < 100; ++i) y.push_back(i % 10);
  }
};

struct Outcome {
  std::vector<double> coefficients, gradient, solution;
  std::size_t nfe = 0;
};

Outcome mnist_outcome(MnistModel& m) {
  Outcome out;
  // All Taylor coefficients, K = 3.
  NetworkTaylor<double> ws(m.dynamics, 3, m.x.rows());
  ws.ode_coefficients(0.25, m.x, 3);
  for (int k = 0; k <= 3; ++k) {
    const nn::RowMatrix<double> c = ws.state().matrix(k);
    out.coefficients.insert(out.coefficients.end(), c.data(), c.data() + c.size());
  }
  // A training gradient: CE + 0.01·R_2, backprop through RK4 on 2 steps.
  ad::NetworkAdjoint<double> adj(ws);
  SolveOptions<double> grid;
  grid.fixed_steps = 2;
  nn::ClassifierGradient<double> head_grad;
  auto loss = [&](const nn::RowMatrix<double>& z1, const nn::Vector<double>&, nn::RowMatrix<double>& z1_bar,
                  nn::Vector<double>& r1_bar) {
    const auto fwd = nn::classifier_forward(m.head, z1, m.y);
    head_grad = nn::classifier_backward(m.head, fwd, m.y, 1.0);
    z1_bar = head_grad.z_bar;
    r1_bar.setConstant(0.01 / double(z1.rows()));
  };
  const ad::TaylorRegularizer<double> r2{2, 1.0};
  const auto g = ad::solve_gradient(ws, adj, m.x, 0.0, 1.0, r2, RK4{}, grid, ad::Backprop{ad::ForwardPass::augmented},
                                    loss);
  const auto grads = nn::ParameterSet<double>::from_network(g.theta_bar);
  for (std::size_t i = 0; i < grads.size(); ++i)
    out.gradient.insert(out.gradient.end(), grads.value(i).data(), grads.value(i).data() + grads.value(i).size());
  // An adaptive solve.
  SolveOptions<double> adaptive;
  adaptive.rtol = adaptive.atol = 1e-8;
  const auto sol = solve([&](double t, const nn::RowMatrix<double>& z, nn::RowMatrix<double>& dz) { dz = ws.evaluate(t, z); },
                         m.x, std::vector<double>{0.0, 1.0}, Dopri5{}, adaptive);
  out.solution.assign(sol.final_state().data(), sol.final_state().data() + sol.final_state().size());
  out.nfe = sol.stats.nfe;
  return out;
}

}  // namespace

TEST_CASE("cpu threads: MNIST coefficients, training gradient and Dopri5 solve are bit-identical", "[backend][threads]") {
  MnistModel m;
  const Outcome one = mnist_outcome(m);
  REQUIRE(one.nfe > 0);
  for (int t : {2, 3}) {
    Threads threads(t);
    const Outcome many = mnist_outcome(m);
    CAPTURE(t);
    CHECK(same_bits(one.coefficients, many.coefficients));
    CHECK(same_bits(one.gradient, many.gradient));
    CHECK(same_bits(one.solution, many.solution));
    CHECK(one.nfe == many.nfe);
  }
}

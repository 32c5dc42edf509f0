// backend::CudaEmulated — backend::Cuda's own code (pool, launch geometry and guards, the
// row-major → column-major cuBLAS mapping, deterministic reductions) on the host emulation of the
// CUDA runtime (include/taynode/backend/cuda/emulated_runtime.hpp) — against outside truth (a
// naive triple loop for the GEMM mapping) and against backend::Cpu: every concept member on odd
// shapes, NetworkTaylor on the three paper dynamics K = 0..6, a solve and solve_gradient.
// Not bitwise against Cpu: the emulated cuBLAS adds each dot product left to right where Eigen's
// GEMM blocks and vectorizes, the reductions sum in other orders and coefficient 0 uses libm where
// Cpu uses Eigen's vectorized exp/log; so double results are compared within 1e-12 relative to the
// largest entry (integer-valued GEMMs, which are exact in any order, bitwise).

#include <cmath>
#include <cstring>
#include <random>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "../series/generic_network.hpp"
#include "taynode/ad.hpp"
#include "taynode/cuda.hpp"
#include "taynode/nn.hpp"
#include "taynode/ode.hpp"
#include "taynode/ode/backend_vector_space.hpp"
#include "taynode/taylor/network_taylor.hpp"

using namespace taynode;
using backend::Cpu;
using backend::CudaEmulated;
using Emu = CudaEmulated;
using RowMatrix = nn::RowMatrix<double>;
using Vec = nn::Vector<double>;
using EMat = Emu::Matrix<double>;
using Pool = cuda::Pool<cuda::EmulatedRuntime>;

namespace {

// max |a − b| ≤ tol · max(max |a|, 1e-300) over n entries (NaN anywhere fails).
bool close(const double* a, const double* b, Index n, double tol) {
  double scale = 1e-300, worst = 0;
  for (Index i = 0; i < n; ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return false;
    scale = std::max(scale, std::abs(a[i]));
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  if (worst > tol * scale) UNSCOPED_INFO("relative difference " << worst / scale);
  return worst <= tol * scale;
}
template <class A, class E>
bool close_to_emulated(const A& cpu, const E& emu, double tol = 1e-12) {
  if (cpu.rows() != emu.rows() || cpu.cols() != emu.cols()) return false;
  const RowMatrix h = backend::to_host<Emu>(emu);
  const RowMatrix c = cpu;
  return close(c.data(), h.data(), h.size(), tol);
}
bool close_series(const Series<double>& cpu, const Series<double, Emu>& emu, int top, double tol = 1e-12) {
  if (cpu.rows() != emu.rows() || cpu.cols() != emu.cols()) return false;
  for (int k = 0; k <= top; ++k) {
    std::vector<double> h(static_cast<std::size_t>(emu.size()));
    Emu::download(emu.size(), emu.coefficient(k), h.data());
    INFO("coefficient " << k);
    if (!close(cpu.coefficient(k), h.data(), emu.size(), tol)) return false;
  }
  return true;
}

std::vector<double> values(Index n, unsigned seed, bool integers = false) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = integers ? std::round(4 * u(rng)) : u(rng);
  return v;
}
// A device buffer holding host values.
Emu::Buffer<double> device(const std::vector<double>& h) {
  Emu::Buffer<double> b(h.size());
  Emu::upload(Index(h.size()), h.data(), b.data());
  return b;
}
std::vector<double> host(const Emu::Buffer<double>& b) {
  std::vector<double> h(b.size());
  Emu::download(Index(b.size()), b.data(), h.data());
  return h;
}

enum class Op { nt, nn, tn };
// Row-major C(m×n) = α·op(A)·op(B) + β·C by the definition (outside truth for the mapping).
void naive(Op op, Index m, Index n, Index k, const double* a, Index lda, const double* b, Index ldb, double* c,
           Index ldc, double alpha, double beta) {
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < n; ++j) {
      double s = 0;
      for (Index l = 0; l < k; ++l) {
        const double x = op == Op::tn ? a[l * lda + i] : a[i * lda + l];
        const double y = op == Op::nt ? b[j * ldb + l] : b[l * ldb + j];
        s += x * y;
      }
      c[i * ldc + j] = alpha * s + (beta == 0 ? 0.0 : beta * c[i * ldc + j]);
    }
}
template <class B>
void gemm(Op op, Index m, Index n, Index k, const double* a, Index lda, const double* b, Index ldb, double* c,
          Index ldc, double alpha, double beta) {
  if (op == Op::nt) B::gemm_nt(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta);
  if (op == Op::nn) B::gemm_nn(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta);
  if (op == Op::tn) B::gemm_tn(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta);
}

template <class T>
std::vector<std::pair<std::string, nn::Sequential<T>>> networks() {
  std::vector<std::pair<std::string, nn::Sequential<T>>> nets;
  nets.emplace_back("mnist", nn::mnist_dynamics<T>(5, 4));
  nets.emplace_back("latent", nn::latent_ode_dynamics<T>(4, 6, 2));
  nets.emplace_back("ffjord", nn::ffjord_dynamics<T>(3, {5, 4}));
  unsigned seed = 11;
  for (auto& n : nets) taynode_test::fill_parameters(n.second, seed++);
  return nets;
}

struct Index2 {
  double* out;
  Index cols;
  TAYNODE_HD void operator()(Index r, Index c) const { out[r * cols + c] += double(r * cols + c) + 1; }
};
template <class S>
concept has_eigen_matrix = requires(S s) { s.matrix(0); };

// A body for the launch checks (never reached: the geometry is refused).
struct Probe {
  TAYNODE_HD void operator()(const cuda::ThreadIndex&) const {}
};
Probe kernels_probe() { return {}; }
struct Index1 {
  double* out;
  TAYNODE_HD void operator()(Index i) const { out[i] += double(i) + 1; }
};

}  // namespace

TEST_CASE("CudaEmulated GEMMs: the cuBLAS mapping of all three products equals the definition", "[backend][cuda]") {
  struct Shape {
    Index m, n, k;
  };
  const Shape shapes[] = {{3, 5, 4}, {1, 4, 3}, {4, 1, 3}, {3, 4, 1}, {5, 3, 7}, {1, 1, 1}, {2, 3, 0}};
  for (Op op : {Op::nt, Op::nn, Op::tn})
    for (const Shape s : shapes)
      for (Index pad : {0, 3})
        for (auto [alpha, beta] : {std::pair{1.0, 0.0}, std::pair{0.5, -1.25}, std::pair{-2.0, 1.0}}) {
          INFO("op " << int(op) << " m " << s.m << " n " << s.n << " k " << s.k << " pad " << pad << " alpha " << alpha
                     << " beta " << beta);
          // Stored shapes: A m×k (tn: k×m), B n×k (nt) or k×n; leading dimensions padded.
          const Index a_rows = op == Op::tn ? s.k : s.m, a_cols = op == Op::tn ? s.m : s.k;
          const Index b_rows = op == Op::nt ? s.n : s.k, b_cols = op == Op::nt ? s.k : s.n;
          const Index lda = a_cols + pad, ldb = b_cols + pad, ldc = s.n + pad;
          for (bool integers : {true, false}) {
            const auto a = values(a_rows * lda, 1, integers), b = values(b_rows * ldb, 2, integers);
            auto c0 = values(s.m * ldc, 3, integers);
            if (beta == 0)  // C must not be read
              for (auto& x : c0) x = std::numeric_limits<double>::quiet_NaN();
            auto truth = c0, cpu = c0;
            naive(op, s.m, s.n, s.k, a.data(), lda, b.data(), ldb, truth.data(), ldc, alpha, beta);
            gemm<Cpu>(op, s.m, s.n, s.k, a.data(), lda, b.data(), ldb, cpu.data(), ldc, alpha, beta);
            const auto da = device(a), db = device(b);
            auto dc = device(c0);
            gemm<Emu>(op, s.m, s.n, s.k, da.data(), lda, db.data(), ldb, dc.data(), ldc, alpha, beta);
            const auto emu = host(dc);
            // The padding between rows is untouched.
            for (Index i = 0; i < s.m; ++i)
              for (Index j = s.n; j < ldc; ++j) CHECK(std::memcmp(&emu[i * ldc + j], &c0[i * ldc + j], 8) == 0);
            for (Index i = 0; i < s.m; ++i)
              for (Index j = 0; j < s.n; ++j) {
                const Index e = i * ldc + j;
                if (integers) {
                  CHECK(emu[e] == truth[e]);  // exact in any summation order
                } else {
                  CHECK(std::abs(emu[e] - truth[e]) <= 1e-14 * (1 + std::abs(truth[e])));
                  CHECK(std::abs(emu[e] - cpu[e]) <= 1e-14 * (1 + std::abs(cpu[e])));
                }
              }
          }
        }
}

TEST_CASE("CudaEmulated vector operations and reductions equal backend::Cpu", "[backend][cuda]") {
  const Index m = 7, n = 5, ld = 9;  // leading dimension > columns
  const auto x = values(m * ld, 4), v = values(3 * n, 5), u = values(m * ld, 6);
  const auto dx = device(x), dv = device(v);
  SECTION("axpy, scale, fill, copy") {
    auto cpu = u;
    auto du = device(u);
    Cpu::axpy(m * ld, 0.75, x.data(), cpu.data());
    Emu::axpy(m * ld, 0.75, dx.data(), du.data());
    CHECK(host(du) == cpu);  // one rounding per element: identical
    Cpu::scale(m * ld - 3, -1.5, cpu.data() + 1);
    Emu::scale(m * ld - 3, -1.5, du.data() + 1);
    CHECK(host(du) == cpu);
    Cpu::fill(4, 2.5, cpu.data() + 2);
    Emu::fill(4, 2.5, du.data() + 2);
    CHECK(host(du) == cpu);
    Emu::copy(m * ld, dx.data(), du.data());
    CHECK(host(du) == x);
    Emu::copy(0, dx.data(), du.data());  // empty operations launch nothing
    Emu::fill(0, 1.0, du.data());
    CHECK(host(du) == x);
  }
  SECTION("add_row with increment and leading dimension") {
    auto cpu = u;
    auto du = device(u);
    Cpu::add_row(m, n, -0.5, v.data(), 3, cpu.data(), ld);
    Emu::add_row(m, n, -0.5, dv.data(), 3, du.data(), ld);
    CHECK(host(du) == cpu);
  }
  SECTION("column_sums, row_squared_norms, sum_of_products, sum") {
    for (double alpha : {1.0, -0.3}) {
      auto cpu = v;
      auto dy = device(v);
      Cpu::column_sums(m, n, alpha, x.data(), ld, cpu.data(), 3);
      Emu::column_sums(m, n, alpha, dx.data(), ld, dy.data(), 3);
      CHECK(close(cpu.data(), host(dy).data(), 3 * n, 1e-15));
    }
    std::vector<double> cpu(m);
    Emu::Buffer<double> out(static_cast<std::size_t>(m));
    Cpu::row_squared_norms(m, n, x.data(), ld, cpu.data());
    Emu::row_squared_norms(m, n, dx.data(), ld, out.data());
    CHECK(close(cpu.data(), host(out).data(), m, 1e-15));
    const double sp = Cpu::sum_of_products(m, n, x.data(), ld, v.data(), 3);
    CHECK(std::abs(Emu::sum_of_products(m, n, dx.data(), ld, dv.data(), 3) - sp) <= 1e-14 * std::abs(sp));
    CHECK(Emu::sum_of_products(0, n, dx.data(), ld, dv.data(), 3) == 0.0);
    for (Index len : {0, 1, 7, 1024, 3001}) {  // below, at and above the first stage's width
      INFO("sum of " << len);
      const auto s = values(len, 8 + unsigned(len));
      const auto ds = device(s);
      double exact = 0;
      for (double a : s) exact += a;
      CHECK(std::abs(Emu::sum(len, ds.data()) - Cpu::sum(len, s.data())) <= 1e-13 * (1 + std::abs(exact)));
    }
    const auto ints = values(3001, 9, true);
    const auto di = device(ints);
    double isum = 0;
    for (double a : ints) isum += a;
    CHECK(Emu::sum(3001, di.data()) == isum);  // exact for integers
  }
}

TEST_CASE("CudaEmulated kernels: every index once, 1d and 2d, beyond the grid's y limit", "[backend][cuda]") {
  for (auto [rows, cols] : {std::pair<Index, Index>{1, 1}, {3, 33}, {9, 7}, {17, 64}, {65535 * 8 + 5, 1}}) {
    INFO(rows << " × " << cols);
    Emu::Buffer<double> out(static_cast<std::size_t>(rows * cols));
    Emu::fill(rows * cols, 0.0, out.data());
    Emu::for_each_2d(rows, cols, Index2{out.data(), cols});
    const auto h = host(out);
    bool all = true;
    for (Index i = 0; i < rows * cols; ++i) all &= h[std::size_t(i)] == double(i) + 1;
    CHECK(all);
  }
  for (Index n : {1, 255, 256, 257, 5000}) {
    Emu::Buffer<double> out(static_cast<std::size_t>(n));
    Emu::fill(n, 0.0, out.data());
    Emu::for_each(n, Index1{out.data()});
    const auto h = host(out);
    bool all = true;
    for (Index i = 0; i < n; ++i) all &= h[std::size_t(i)] == double(i) + 1;
    CHECK(all);
  }
}

TEST_CASE("CudaEmulated coefficient-0 functions equal backend::Cpu to an ulp or two", "[backend][cuda]") {
  std::vector<double> u;
  for (double x : {-800.0, -400.0, -40.0, -3.0, -0.2, -0.125, -0.1, -1e-3, 0.0, 1e-7, 0.05, 0.124, 0.7, 2.0, 30.0,
                   360.0, 900.0})
    u.push_back(x);
  const Index n = Index(u.size());
  std::vector<double> pos(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) pos[i] = std::abs(u[i]) + 0.01;
  const auto du = device(u), dpos = device(pos);
  std::vector<double> c1(u.size()), c2(u.size()), c3(u.size());
  Emu::Buffer<double> e1(u.size()), e2(u.size()), e3(u.size());
  auto each_close = [&](const std::vector<double>& cpu, const Emu::Buffer<double>& emu) {
    const auto h = host(emu);
    for (std::size_t i = 0; i < cpu.size(); ++i) {
      INFO("u = " << u[i] << ": " << cpu[i] << " vs " << h[i]);
      // Below the smallest normal number Eigen's vectorized exp (Cpu) is clamped (e^−800 gives
      // 5.6e-309, libm the correctly rounded 0): there an absolute difference of that size.
      CHECK((cpu[i] == h[i] || std::abs(cpu[i] - h[i]) <= 4 * std::numeric_limits<double>::epsilon() * std::abs(cpu[i]) ||
             std::abs(cpu[i] - h[i]) <= std::numeric_limits<double>::min()));
    }
  };
  Cpu::sigmoid_values(n, u.data(), c1.data(), c2.data());
  Emu::sigmoid_values(n, du.data(), e1.data(), e2.data());
  each_close(c1, e1);
  each_close(c2, e2);
  Cpu::tanh_values(n, u.data(), c1.data(), c2.data());
  Emu::tanh_values(n, du.data(), e1.data(), e2.data());
  each_close(c1, e1);
  each_close(c2, e2);
  Cpu::softplus_values(n, u.data(), c1.data(), c2.data(), c3.data());
  Emu::softplus_values(n, du.data(), e1.data(), e2.data(), e3.data());
  each_close(c1, e1);
  each_close(c2, e2);
  each_close(c3, e3);
  Cpu::exp_values(n, u.data(), c1.data());
  Emu::exp_values(n, du.data(), e1.data());
  each_close(c1, e1);
  Cpu::log_values(n, pos.data(), c1.data());
  Emu::log_values(n, dpos.data(), e1.data());
  each_close(c1, e1);
}

TEST_CASE("CudaEmulated memory: pooled, poisoned, transfers and mirrors", "[backend][cuda]") {
  // Fresh blocks hold garbage (NaN here), as device memory does.
  Emu::Buffer<double> b(10);
  CHECK(std::isnan(host(b)[3]));
  const double h[3] = {1, 2, 3};
  Emu::Mirror<double> mirror(h, 3);
  std::vector<double> back(3);
  Emu::download(3, mirror.data(), back.data());
  CHECK(back == std::vector<double>{1, 2, 3});
  const double h2[3] = {4, 5, 6};
  mirror.update(h2, 3);
  Emu::download(3, mirror.data(), back.data());
  CHECK(back == std::vector<double>{4, 5, 6});
  // A loop that allocates and frees the same sizes reaches the runtime in its first pass only.
  auto pass = [] {
    EMat a(13, 7), c(13, 5);
    Emu::Buffer<float> f(1000);
    Emu::fill(a.size(), 1.0, a.data());
    return Emu::sum(a.size(), a.data());
  };
  CHECK(pass() == 91.0);
  const long before = Pool::instance().runtime_allocations(), live = Pool::instance().live();
  for (int i = 0; i < 10; ++i) CHECK(pass() == 91.0);
  CHECK(Pool::instance().runtime_allocations() == before);
  CHECK(Pool::instance().live() == live);
  // Series and backend matrices have no Eigen accessors on a device backend.
  STATIC_REQUIRE(!backend::eigen_host<Emu>);
  STATIC_REQUIRE(!has_eigen_matrix<Series<double, Emu>>);
  STATIC_REQUIRE(has_eigen_matrix<Series<double>>);
}

TEST_CASE("CudaEmulated bad input: clear exceptions", "[backend][cuda]") {
  EMat a(3, 4), b(5, 4), c(3, 5);
  CHECK_THROWS_AS(Emu::gemm_nt(3, 5, 4, a.data(), 3, b.data(), 4, c.data(), 5, 1.0, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(Emu::gemm_nn(3, 5, 4, a.data(), 4, b.data(), 4, c.data(), 5, 1.0, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(Emu::gemm_tn(3, 5, 4, a.data(), 2, b.data(), 5, c.data(), 5, 1.0, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(Emu::gemm_nt(3, 5, 4, a.data(), 4, b.data(), 4, c.data(), 4, 1.0, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(Emu::gemm_nt(-1, 5, 4, a.data(), 4, b.data(), 4, c.data(), 5, 1.0, 0.0), std::invalid_argument);
  CHECK_THROWS_WITH(Emu::gemm_nt(3, 5, 4, a.data(), 3, b.data(), 4, c.data(), 5, 1.0, 0.0),
                    Catch::Contains("gemm_nt") && Catch::Contains("lda"));
  CHECK_THROWS_AS(Emu::fill(-2, 0.0, c.data()), std::invalid_argument);
  CHECK_THROWS_AS(Emu::sum(-1, c.data()), std::invalid_argument);
  // The emulated runtime refuses what the device refuses, as a cuda::Error naming call and operation.
  CHECK_THROWS_WITH(cuda::EmulatedRuntime::gemm(false, false, 4, 3, 2, 1.0, a.data(), 3, b.data(), 2, 0.0, c.data(), 4,
                                                "gemm_nn"),
                    Catch::Contains("cublasDgemm") && Catch::Contains("CUBLAS_STATUS_INVALID_VALUE") &&
                        Catch::Contains("gemm_nn"));
  CHECK_THROWS_AS(cuda::EmulatedRuntime::launch(cuda::Dim{1, 1}, cuda::Dim{64, 32}, kernels_probe(), "for_each"),
                  cuda::Error);
  try {
    cuda::EmulatedRuntime::launch(cuda::Dim{0, 1}, cuda::Dim{32, 1}, kernels_probe(), "for_each_2d");
    FAIL("no exception");
  } catch (const cuda::Error& e) {
    CHECK(e.api() == "cudaLaunchKernel");
    CHECK(e.operation() == "for_each_2d");
    CHECK(std::string(e.what()) == "taynode::cuda: cudaLaunchKernel failed (invalid configuration argument) in for_each_2d");
  }
}

TEST_CASE("NetworkTaylor on CudaEmulated equals backend::Cpu, three paper dynamics, K = 0..6", "[backend][cuda]") {
  for (auto& [name, net] : networks<double>())
    for (Index batch : {1, 3}) {
      INFO(name << " batch " << batch);
      const Index D = net.in_features();
      const RowMatrix z = taynode_test::random_state<double>(batch, D, 7 + unsigned(batch));
      const RowMatrix v = taynode_test::random_state<double>(batch, D, 17 + unsigned(batch));
      const EMat ze = backend::to_backend<Emu>(z), ve = backend::to_backend<Emu>(v);
      NetworkTaylor<double> cpu(net, 6, batch);
      NetworkTaylor<double, Emu> emu(net, 6, batch);
      CHECK(close_to_emulated(cpu.evaluate(0.6, z), emu.evaluate(0.6, ze)));  // K = 0: f itself
      CHECK(close_to_emulated(cpu.jvp(0.6, z, v), emu.jvp(0.6, ze, ve)));
      for (int K = 1; K <= 6; ++K) {
        INFO("K = " << K);
        cpu.ode_coefficients(0.3, z, K);
        emu.ode_coefficients(0.3, ze, K);
        CHECK(close_series(cpu.state(), emu.state(), K));
        CHECK(close_to_emulated(cpu.derivative(K), emu.derivative(K)));
      }
    }
}

TEST_CASE("A Dopri5 solve on CudaEmulated equals backend::Cpu", "[backend][cuda]") {
  auto net = nn::mnist_dynamics<double>(6, 5);
  taynode_test::fill_parameters(net, 8);
  const Index batch = 3;
  const RowMatrix z0 = taynode_test::random_state<double>(batch, 6, 9);
  NetworkTaylor<double> ws(net, 1, batch);
  NetworkTaylor<double, Emu> wse(net, 1, batch);
  auto f = [&](double t, const RowMatrix& y, RowMatrix& dy) { dy = ws.evaluate(t, y); };
  auto fe = [&](double t, const EMat& y, EMat& dy) { backend::assign<Emu>(dy, wse.evaluate(t, y)); };
  SolveOptions<double> o;
  o.rtol = o.atol = 1e-8;
  const std::vector<double> times{0.0, 0.5, 1.0};
  const auto a = solve(f, z0, times, Dopri5{}, o);
  const auto b = solve(fe, backend::to_backend<Emu>(z0), times, Dopri5{}, o);
  REQUIRE(a.y.size() == b.y.size());
  for (std::size_t i = 0; i < a.y.size(); ++i) CHECK(close_to_emulated(a.y[i], b.y[i]));
  // Rounding-level differences in the error norm do not change a step decision here.
  CHECK(a.stats.nfe == b.stats.nfe);
  CHECK(a.stats.accepted_steps == b.stats.accepted_steps);
  CHECK(a.stats.rejected_steps == b.stats.rejected_steps);
}

namespace {
struct Loss {
  RowMatrix w;
  double lambda = 0.7;
  RowMatrix z1_bar_of(const RowMatrix& z1) const { return w.cwiseProduct((1 - z1.array().tanh().square()).matrix()); }
  void operator()(const RowMatrix& z1, const Vec&, RowMatrix& z1_bar, Vec& r1_bar) const {
    z1_bar = z1_bar_of(z1);
    r1_bar.setConstant(lambda);
  }
  void operator()(const EMat& z1, const EMat&, EMat& z1_bar, EMat& r1_bar) const {
    const RowMatrix zb = z1_bar_of(backend::to_host<Emu>(z1));
    Emu::upload(zb.size(), zb.data(), z1_bar.data());
    Emu::fill(r1_bar.size(), lambda, r1_bar.data());
  }
};
bool close_parameters(const nn::Sequential<double>& a, const nn::Sequential<double>& b) {
  std::vector<const double*> pa, pb;
  std::vector<Index> n;
  nn::for_each_parameter(a, [&](const auto& p) {
    pa.push_back(p.data());
    n.push_back(p.size());
  });
  nn::for_each_parameter(b, [&](const auto& p) { pb.push_back(p.data()); });
  if (pa.size() != pb.size()) return false;
  for (std::size_t i = 0; i < pa.size(); ++i)
    if (!close(pa[i], pb[i], n[i], 1e-12)) return false;
  return true;
}
template <class G1, class G2>
void check_close(const G1& cpu, const G2& e) {
  CHECK(close_to_emulated(cpu.z1, e.z1));
  CHECK(close_to_emulated(cpu.r1, e.r1));
  CHECK(close_to_emulated(cpu.z0_bar, e.z0_bar));
  CHECK(close_parameters(cpu.theta_bar, e.theta_bar));
  CHECK(cpu.nfe_forward == e.nfe_forward);
  CHECK(cpu.nfe_backward == e.nfe_backward);
}
}  // namespace

TEST_CASE("solve_gradient on CudaEmulated equals backend::Cpu (R_2, backprop and adjoint)", "[backend][cuda]") {
  for (auto& [name, net] : networks<double>()) {
    INFO(name);
    const Index batch = 3, D = net.in_features();
    const RowMatrix z0 = taynode_test::random_state<double>(batch, D, 11);
    const Loss loss{taynode_test::random_state<double>(batch, D, 12)};
    NetworkTaylor<double> ws(net, 3, batch);
    NetworkTaylor<double, Emu> wse(net, 3, batch);
    ad::NetworkAdjoint<double> adj(ws);
    ad::NetworkAdjoint<double, Emu> adje(wse);
    const EMat z0e = backend::to_backend<Emu>(z0);
    const ad::TaylorRegularizer<double> reg{2, 0.5};
    SolveOptions<double> grid;
    grid.fixed_steps = 3;
    SolveOptions<double> tol;
    tol.rtol = tol.atol = 1e-7;
    check_close(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, reg, RK4{}, grid, ad::Backprop{}, loss),
                ad::solve_gradient(wse, adje, z0e, 0.0, 1.0, reg, RK4{}, grid, ad::Backprop{}, loss));
    check_close(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, reg, Dopri5{}, tol, ad::Adjoint{}, loss),
                ad::solve_gradient(wse, adje, z0e, 0.0, 1.0, reg, Dopri5{}, tol, ad::Adjoint{}, loss));
  }
}

TEST_CASE("Training on CudaEmulated: host SGD steps and refreshed device parameters track backend::Cpu",
          "[backend][cuda]") {
  auto nets = networks<double>();
  nn::Sequential<double> net_cpu = nets[0].second, net_e = nets[0].second;
  const Index batch = 4, D = net_cpu.in_features();
  NetworkTaylor<double> ws(net_cpu, 2, batch);
  NetworkTaylor<double, Emu> wse(net_e, 2, batch);
  ad::NetworkAdjoint<double> adj(ws);
  ad::NetworkAdjoint<double, Emu> adje(wse);
  auto refs = nn::parameter_refs(net_cpu), refs_e = nn::parameter_refs(net_e);
  nn::SgdMomentum<double> opt(nn::constant(0.05), 0.9), opt_e(nn::constant(0.05), 0.9);
  SolveOptions<double> tol;
  tol.rtol = tol.atol = 1e-6;
  const ad::TaylorRegularizer<double> reg{2, 0.1};
  for (int it = 0; it < 3; ++it) {
    INFO("iteration " << it);
    const RowMatrix z0 = taynode_test::random_state<double>(batch, D, 100 + unsigned(it));
    const Loss loss{taynode_test::random_state<double>(batch, D, 200 + unsigned(it))};
    auto g = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, reg, Dopri5{}, tol, ad::Backprop{}, loss);
    auto ge = ad::solve_gradient(wse, adje, backend::to_backend<Emu>(z0), 0.0, 1.0, reg, Dopri5{}, tol, ad::Backprop{},
                                 loss);
    check_close(g, ge);
    auto grads = nn::parameter_refs(g.theta_bar), grads_e = nn::parameter_refs(ge.theta_bar);
    opt.step(refs, grads);
    opt_e.step(refs_e, grads_e);
    wse.refresh_parameters();  // the device copies take the new values
    CHECK(close_parameters(net_cpu, net_e));
  }
}

namespace {
nn::ParameterSet<double> random_set(unsigned seed) {
  nn::ParameterSet<double> s;
  s.add("layers.0.weight", taynode_test::random_state<double>(3, 300, seed));  // > one 256-thread block
  s.add("layers.0.bias", taynode_test::random_state<double>(3, 1, seed + 1));
  return s;
}
template <class CpuOpt, class EmuOpt>
void compare_optimizers(CpuOpt cpu, EmuOpt emu) {
  nn::ParameterSet<double> p = random_set(1);
  auto pe = nn::ParameterBuffers<double, Emu>::upload(p);
  for (unsigned step = 0; step < 4; ++step) {
    const nn::ParameterSet<double> grads = random_set(100 + step);
    cpu.step(p, grads);
    emu.step(pe, nn::ParameterBuffers<double, Emu>::upload(grads));
    const auto back = pe.download();
    // The same update body per element, launched instead of looped: identical bits.
    for (std::size_t i = 0; i < p.size(); ++i)
      CHECK(std::memcmp(p.value(i).data(), back.value(i).data(), std::size_t(p.value(i).size()) * sizeof(double)) == 0);
  }
}
}  // namespace

TEST_CASE("Optimizer updates launched on CudaEmulated equal backend::Cpu bit for bit", "[backend][cuda]") {
  const auto lr = nn::piecewise_constant({2}, {0.1, 0.01});
  compare_optimizers(nn::SgdMomentum<double>(lr, 0.9), nn::SgdMomentum<double, Emu>(lr, 0.9));
  compare_optimizers(nn::Adam<double>(lr), nn::Adam<double, Emu>(lr));
  compare_optimizers(nn::Adamax<double>(lr), nn::Adamax<double, Emu>(lr));
}

TEST_CASE("CudaEmulated graphs: capture records without running, replays run the frozen launches", "[backend][cuda]") {
  auto net = networks<double>()[0].second;  // MNIST-shaped dynamics
  const Index batch = 3, D = net.in_features();
  const RowMatrix z = taynode_test::random_state<double>(batch, D, 31);
  const RowMatrix z2 = taynode_test::random_state<double>(batch, D, 32);
  NetworkTaylor<double, Emu> ws(net, 3, batch);
  EMat zin = backend::to_backend<Emu>(z);
  const RowMatrix f_z = backend::to_host<Emu>(ws.evaluate(0.6, zin));
  const RowMatrix f_z2 = backend::to_host<Emu>(ws.evaluate(0.6, backend::to_backend<Emu>(z2)));
  CHECK(f_z != f_z2);
  SECTION("an evaluation") {
    Emu::ConstView<double> out(nullptr, 0, 0);
    Emu::Graph graph([&] { out = ws.evaluate(0.6, zin); });
    // σ, Linear(t, ·), σ, Linear(t, ·): the first σ's kernel copies z into the input series, the
    // GEMM, the second σ's kernel adds the bias and time column first, the GEMM, its bias and time.
    CHECK(graph.operations() == 5);
    CHECK(backend::to_host<Emu>(out) == f_z2);  // captured, not run: the workspace still holds f(z2)
    graph.replay();
    CHECK(backend::to_host<Emu>(out) == f_z);  // the same launches: identical bits
    Emu::upload(z2.size(), z2.data(), zin.data());  // a new input, in place
    graph.replay();
    CHECK(backend::to_host<Emu>(out) == f_z2);
    CHECK(backend::to_host<Emu>(ws.input().view(0)) == z2);  // the input series holds the state (VJPs read it)
  }
  SECTION("Taylor coefficients up to K = 3") {
    ws.ode_coefficients(0.3, zin, 3);
    const RowMatrix d3 = backend::to_host<Emu>(ws.derivative(3));
    ws.ode_coefficients(0.3, backend::to_backend<Emu>(z2), 3);
    Emu::Graph graph([&] { ws.ode_coefficients(0.3, zin, 3); });
    // Passes 0 and 1 as the evaluation above (5 each: t_0, t_1 ≠ 0); pass 2 has no bias and t_2 = 0:
    // σ, GEMM, σ, GEMM.
    CHECK(graph.operations() == 14);
    graph.replay();
    CHECK(backend::to_host<Emu>(ws.derivative(3)) == d3);
  }
  SECTION("a synchronizing call fails the capture, which leaves nothing behind") {
    try {
      Emu::Graph graph([&] {
        ws.evaluate(0.6, zin);
        Emu::synchronize();
      });
      FAIL("the capture should have failed");
    } catch (const cuda::Error& e) {
      CHECK(e.api() == "cudaStreamSynchronize");
      CHECK(std::string(e.what()).find("capturing") != std::string::npos);
    }
    CHECK(backend::to_host<Emu>(ws.evaluate(0.6, zin)) == f_z);  // runs directly again
  }
  SECTION("blocks given back during the capture stay reserved until the graph is gone") {
    const long live = Pool::instance().live();
    {
      Emu::Graph graph([&] {
        Emu::Buffer<double> scratch(1000);
        Emu::fill(1000, 2.0, scratch.data());
      });
      CHECK(Pool::instance().live() == live + 1);  // held by the graph
      graph.replay();                               // writes the held block: nobody else has it
    }
    CHECK(Pool::instance().live() == live);
  }
}

TEST_CASE("CudaEmulated row_squared_norms: one warp per row, every row, the grid's row limit", "[backend][cuda]") {
  // Against backend::Cpu (Eigen's row reduction) on shapes with fewer columns than a warp's lanes,
  // a leading dimension beyond the row, the MNIST state's 784 columns, and more rows than one grid
  // covers (65535 blocks of 8 rows: the kernel's row loop strides over the rest).
  struct Shape {
    Index m, n, ld;
  };
  for (const Shape sh : {Shape{1, 1, 1}, Shape{3, 31, 40}, Shape{100, 784, 784}, Shape{600000, 1, 1}}) {
    INFO(sh.m << " x " << sh.n << ", ld " << sh.ld);
    const std::vector<double> x = values(sh.m * sh.ld, 90 + unsigned(sh.n));
    std::vector<double> cpu(static_cast<std::size_t>(sh.m));
    Cpu::row_squared_norms(sh.m, sh.n, x.data(), sh.ld, cpu.data());
    const auto dx = device(x);
    Emu::Buffer<double> out(static_cast<std::size_t>(sh.m));
    Emu::row_squared_norms(sh.m, sh.n, dx.data(), sh.ld, out.data());
    CHECK(close(cpu.data(), host(out).data(), sh.m, 1e-14));  // NaN (an unwritten row) fails
  }
}

TEST_CASE("CudaEmulated transfers go through the pinned staging ring; large ones and captures do not",
          "[backend][cuda]") {
  using Staging = cuda::Staging<cuda::EmulatedRuntime>;
  Staging& staging = Staging::current();
  // Ten small uploads in a row (the ring has 4 slots: each is reused after its event), each into its
  // own buffer: every buffer holds its own values afterwards.
  const std::size_t before = staging.staged();
  std::vector<Emu::Buffer<double>> buffers;
  std::vector<std::vector<double>> sent;
  for (int i = 0; i < 10; ++i) {
    sent.push_back(values(1000, 70 + unsigned(i)));
    buffers.emplace_back(1000);
    Emu::upload(1000, sent.back().data(), buffers.back().data());
  }
  for (int i = 0; i < 10; ++i) {
    std::vector<double> back(1000);
    Emu::download(1000, buffers[std::size_t(i)].data(), back.data());
    CHECK(back == sent[std::size_t(i)]);
  }
  CHECK(staging.staged() == before + 20);
  // Larger than a slot (1 MiB): directly, not staged.
  const Index big = Index(Staging::slot_bytes / sizeof(double)) + 7;
  const std::vector<double> large = values(big, 80);
  Emu::Buffer<double> b(static_cast<std::size_t>(big));
  Emu::upload(big, large.data(), b.data());
  std::vector<double> back(large.size());
  Emu::download(big, b.data(), back.data());
  CHECK(back == large);
  CHECK(staging.staged() == before + 20);
  // Inside a capture an upload fails (a replay would copy the slot as it is then).
  try {
    Emu::Graph graph([&] { Emu::upload(1000, sent[0].data(), buffers[1].data()); });
    FAIL("the capture should have failed");
  } catch (const cuda::Error& e) {
    CHECK(e.operation() == "upload");
    CHECK(std::string(e.what()).find("capturing") != std::string::npos);
  }
  Emu::download(1000, buffers[1].data(), back.data());
  CHECK(std::vector<double>(back.begin(), back.begin() + 1000) == sent[1]);
}

TEST_CASE("With a Clock, captured Taylor passes and VJPs replay at the clock's new time", "[backend][cuda]") {
  // The time enters the kernels through the clock's memory (series/clock.hpp): a graph captured at
  // t = 0.3 and replayed after set(0.8) computes at 0.8. Truth: backend::Cpu at 0.8, by value.
  for (auto& [name, net] : networks<double>()) {
    INFO(name);
    const Index batch = 3, D = net.in_features();
    const int K = 3;
    const RowMatrix z = taynode_test::random_state<double>(batch, D, 51);
    const RowMatrix f_bar = taynode_test::random_state<double>(batch, D, 52);
    const Vec r_bar = taynode_test::random_state<double>(batch, 1, 53);
    NetworkTaylor<double> ws(net, K, batch);
    ad::NetworkAdjoint<double> adj(ws);
    NetworkTaylor<double, Emu> wse(net, K, batch);
    ad::NetworkAdjoint<double, Emu> adje(wse);
    Clock<double, Emu> clock(0.3);
    wse.use_clock(&clock);
    const EMat ze = backend::to_backend<Emu>(z), fbe = backend::to_backend<Emu>(f_bar);
    const EMat rbe = backend::to_backend<Emu>(RowMatrix(r_bar));
    auto pass_and_vjp = [&] {
      wse.ode_coefficients(clock.host_time(), ze, K);
      adje.taylor_integrand(clock.host_time(), K, fbe, rbe);
    };
    pass_and_vjp();  // at 0.3, directly
    const RowMatrix d3_at_03 = backend::to_host<Emu>(wse.derivative(K));
    const nn::Sequential<double> grad_at_03 = adje.gradient();
    Emu::Graph graph(pass_and_vjp);
    clock.set(0.8);
    graph.replay();
    ws.ode_coefficients(0.8, z, K);
    adj.taylor_integrand(0.8, K, f_bar, r_bar);
    CHECK(close_series(ws.state(), wse.state(), K));
    CHECK(close_parameters(adj.gradient(), adje.gradient()));
    // Not vacuous: where the dynamics depends on t (all but the latent ODE's), 0.3 gives another result.
    if (name != "latent") {
      CHECK(!close_to_emulated(ws.derivative(K), backend::to_backend<Emu>(d3_at_03), 1e-6));
      CHECK(!close_parameters(adj.gradient(), grad_at_03));
    }
    // A workspace on a clock computes as one without when run directly (offset 0: exact).
    NetworkTaylor<double, Emu> plain(net, K, batch);
    plain.ode_coefficients(0.8, ze, K);
    wse.ode_coefficients(0.8, ze, K);  // clock at 0.8: the offset is 0
    for (int k = 0; k <= K; ++k)
      CHECK(backend::to_host<Emu>(plain.derivative(k)) == backend::to_host<Emu>(wse.derivative(k)));
  }
}

TEST_CASE("One captured RK4 step on a Clock replays a fixed grid step after step", "[backend][cuda]") {
  // The step f(t, y) → stages → y1, then y ← y1 and clock.advance(h), captured once at t = 0 and
  // replayed 4 times: the solution on the 4-step grid of [0, 1]. Truth: taynode::solve on
  // backend::Cpu (RK4, fixed_steps = 4). Stage times come from the clock (offsets c·h), so the
  // replays agree to rounding, not bitwise.
  auto nets = networks<double>();
  for (std::size_t which : {std::size_t(0), std::size_t(2)}) {  // MNIST-shaped and FFJORD (ConcatSquash)
    INFO(nets[which].first);
    const auto& net = nets[which].second;
    const Index batch = 3, D = net.in_features();
    const RowMatrix z0 = taynode_test::random_state<double>(batch, D, 61);
    NetworkTaylor<double> ws(net, 1, batch);
    auto f = [&](double t, const RowMatrix& z, RowMatrix& dz) { ws.evaluate(t, z, dz); };
    SolveOptions<double> grid;
    grid.fixed_steps = 4;
    const auto want = taynode::solve(f, z0, std::vector<double>{0.0, 1.0}, RK4{}, grid);

    NetworkTaylor<double, Emu> wse(net, 1, batch);
    Clock<double, Emu> clock(0.0);
    wse.use_clock(&clock);
    auto fe = [&](double t, const EMat& z, EMat& dz) { wse.evaluate(t, z, dz); };
    EMat y = backend::to_backend<Emu>(z0);
    RungeKuttaStepper<RK4, EMat> stepper;
    stepper.init(y);
    const double h = 0.25;
    auto step = [&] {
      const double t = clock.host_time();
      fe(t, y, stepper.stage0());
      stepper.step(fe, t, y, h);
      Emu::copy(y.size(), stepper.y1().data(), y.data());
      clock.advance(h);
    };
    Emu::Graph graph(step);  // captured: nothing ran, the host time moved to 0.25
    clock.set(0.0);
    for (int i = 0; i < 4; ++i) graph.replay();
    CHECK(close_to_emulated(want.y.back(), y, 1e-13));
    double now = 0;
    Emu::download(1, clock.data(), &now);
    CHECK(now == 1.0);
  }
}

namespace {
// ½·mean_b ‖z1 − y‖² + λ·mean_b r: z̄1 = (z1 − y)/B, r̄1 = λ/B, by backend operations only (no
// host copy: a loss a captured training step can contain).
struct SquaredErrorLoss {
  const EMat* target;
  double lambda;
  void operator()(const EMat& z1, const EMat&, EMat& z1_bar, EMat& r1_bar) const {
    const Index B = z1.rows();
    Emu::copy(z1.size(), z1.data(), z1_bar.data());
    Emu::axpy(z1.size(), -1.0, target->data(), z1_bar.data());
    Emu::scale(z1.size(), 1.0 / double(B), z1_bar.data());
    Emu::fill(r1_bar.size(), lambda / double(B), r1_bar.data());
  }
  void operator()(const RowMatrix& z1, const Vec&, RowMatrix& z1_bar, Vec& r1_bar) const {
    const RowMatrix y = backend::to_host<Emu>(*target);
    z1_bar = (z1 - y) / double(z1.rows());
    r1_bar.setConstant(lambda / double(z1.rows()));
  }
};
}  // namespace

TEST_CASE("A training step on CudaEmulated with θ̄ and the optimizer on the device replays as one graph",
          "[backend][cuda]") {
  // The device path: solve_gradient leaves θ̄ in the adjoint's backend memory
  // (theta_bar_to_host = false), SGD with momentum updates the workspace's device copies of the
  // parameters in place — no transfer to or from the host, so the whole step (RK4 grid, R_2,
  // backprop) is captured. Truth: the host path on backend::Cpu (θ̄ on the host, the optimizer on
  // the network); the replays equal the directly launched steps bit for bit.
  auto nets = networks<double>();
  for (std::size_t which : {std::size_t(0), std::size_t(2)}) {  // MNIST-shaped and FFJORD (ConcatSquash)
    INFO(nets[which].first);
    nn::Sequential<double> net_cpu = nets[which].second, net_direct = net_cpu, net_graph = net_cpu;
    const Index batch = 3, D = net_cpu.in_features();
    const RowMatrix z0 = taynode_test::random_state<double>(batch, D, 41);
    const EMat z0e = backend::to_backend<Emu>(z0);
    const EMat target = backend::to_backend<Emu>(taynode_test::random_state<double>(batch, D, 42));
    const SquaredErrorLoss loss{&target, 0.3};
    const ad::TaylorRegularizer<double> reg{2, 1.0};
    SolveOptions<double> grid;
    grid.fixed_steps = 2;
    const auto lr = nn::constant(0.05);

    NetworkTaylor<double> ws(net_cpu, 2, batch);
    ad::NetworkAdjoint<double> adj(ws);
    auto refs = nn::parameter_refs(net_cpu);
    nn::SgdMomentum<double> opt(lr, 0.9);

    struct DevicePath {
      NetworkTaylor<double, Emu> ws;
      ad::NetworkAdjoint<double, Emu> adj{ws};
      nn::ParameterViews<double, Emu> params = ws.backend_parameters(), grads = adj.backend_gradient();
      nn::SgdMomentum<double, Emu> opt;
      DevicePath(const nn::Sequential<double>& net, Index b, nn::Schedule s) : ws(net, 2, b), opt(std::move(s), 0.9) {}
    };
    DevicePath direct(net_direct, batch, lr), graphed(net_graph, batch, lr);
    ad::Backprop on_device;
    on_device.theta_bar_to_host = false;
    auto device_step = [&](DevicePath& p) {
      auto g = ad::solve_gradient(p.ws, p.adj, z0e, 0.0, 1.0, reg, RK4{}, grid, on_device, loss);
      CHECK(g.theta_bar.layers.empty());
      p.opt.step(p.params, p.grads);
    };
    REQUIRE(direct.params.size() == refs.size());
    for (std::size_t i = 0; i < refs.size(); ++i) CHECK(direct.params.name(i) == refs.name(i));

    const int steps = 4;
    for (int i = 0; i < steps; ++i) {
      auto g = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, reg, RK4{}, grid, ad::Backprop{}, loss);
      auto grads = nn::parameter_refs(g.theta_bar);
      opt.step(refs, grads);
      device_step(direct);
    }
    // The graph: one direct step first (the optimizer creates its slots), then the step captured
    // once — which runs nothing — and replayed.
    device_step(graphed);
    std::size_t operations = 0;
    {
      Emu::Graph graph([&] { device_step(graphed); });
      operations = graph.operations();
      const auto before = graphed.params.download();
      CHECK(before == graphed.params.download());
      for (int i = 1; i < steps; ++i) graph.replay();
    }
    CHECK(operations > 100);  // the solve, its backward pass and the update: all in the graph

    const nn::ParameterSet<double> want = nn::ParameterSet<double>::from_network(net_cpu);
    const nn::ParameterSet<double> got = direct.params.download(), replayed = graphed.params.download();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      INFO(want.name(i));
      CHECK(close(want.value(i).data(), got.value(i).data(), want.value(i).size(), 1e-12));
      CHECK(got.value(i) == replayed.value(i));  // replays and direct launches: identical bits
    }
    // The host networks were never written: their parameters are still the initial ones.
    CHECK(nn::ParameterSet<double>::from_network(net_direct) == nn::ParameterSet<double>::from_network(nets[which].second));
  }
}

TEST_CASE("ad::detail::ZeroBatch zeroes many buffers in few launches on CudaEmulated", "[backend][cuda]") {
  // 30 buffers of sizes 1..30·37 (more than one launch holds): each is zeroed on its first n
  // elements and left alone beyond them; the launch count is ⌈30 / capacity⌉.
  const int buffers = 30;
  std::vector<Emu::Buffer<double>> b;
  for (int i = 0; i < buffers; ++i) {
    b.emplace_back(std::size_t(37 * (i + 1) + 5));
    Emu::fill(Index(b.back().size()), 1.5, b.back().data());
  }
  std::size_t launches = 0;
  {
    Emu::Graph counted([&] {
      ad::detail::ZeroBatch<double, Emu> zero;
      for (int i = 0; i < buffers; ++i) zero.add(b[std::size_t(i)].data(), Index(37 * (i + 1)));
      zero.add(b[0].data(), 0);  // nothing
      zero.flush();
    });
    launches = counted.operations();
    counted.replay();
  }
  const int capacity = ad::detail::ZeroBuffersKernel<double>::capacity;
  CHECK(launches == std::size_t((buffers + capacity - 1) / capacity));
  for (int i = 0; i < buffers; ++i) {
    std::vector<double> h(b[std::size_t(i)].size());
    Emu::download(Index(h.size()), b[std::size_t(i)].data(), h.data());
    const std::size_t n = std::size_t(37 * (i + 1));
    for (std::size_t j = 0; j < h.size(); ++j) {
      INFO("buffer " << i << " element " << j);
      REQUIRE(h[j] == (j < n ? 0.0 : 1.5));
    }
  }
}

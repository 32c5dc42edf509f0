// A Dopri5 solve of the paper's MNIST dynamics (784 → 100 → 784, batch 100, double, rtol = atol =
// 1e-8, t ∈ [0, 1]) with the two ways of writing the right-hand side on NetworkTaylor:
//   copy  dz = ws.evaluate(t, z)        the workspace's output, then a state-sized copy
//   into  ws.evaluate(t, z, dz)         the last linear layer writes into the solver's buffer
// Interleaved, R rounds, medians; the two results are checked to be bit-identical.
//
//   bench_train_network_rhs [rounds=9]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "taynode/nn.hpp"
#include "taynode/ode.hpp"
#include "taynode/taylor/network_taylor.hpp"

using namespace taynode;
using Mat = nn::RowMatrix<double>;

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 9;
  nn::Sequential<double> net = nn::mnist_dynamics<double>();
  std::mt19937_64 rng(1);
  nn::init_haiku(net, rng);
  std::uniform_real_distribution<double> u(0, 1);
  const Mat z0 = Mat::NullaryExpr(100, 784, [&] { return u(rng); });
  NetworkTaylor<double> ws(net, 1, 100);
  SolveOptions<double> o;
  o.rtol = o.atol = 1e-8;
  const std::vector<double> span{0.0, 1.0};
  auto copy = [&](double t, const Mat& z, Mat& dz) { dz = ws.evaluate(t, z); };
  auto into = [&](double t, const Mat& z, Mat& dz) { ws.evaluate(t, z, dz); };
  std::vector<double> tc, ti;
  std::size_t nfe = 0;
  for (int r = 0; r <= rounds; ++r) {  // round 0: warm-up
    const auto t0 = std::chrono::steady_clock::now();
    const auto a = solve(copy, z0, span, Dopri5{}, o);
    const auto t1 = std::chrono::steady_clock::now();
    const auto b = solve(into, z0, span, Dopri5{}, o);
    const auto t2 = std::chrono::steady_clock::now();
    if (a.y.back() != b.y.back()) {
      std::fprintf(stderr, "bench_train_network_rhs: the two right-hand sides gave different results\n");
      return 1;
    }
    nfe = a.stats.nfe;
    if (r == 0) continue;
    tc.push_back(std::chrono::duration<double>(t1 - t0).count());
    ti.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double c = 1e3 * median(tc), i = 1e3 * median(ti);
  std::printf("Dopri5 1e-8, MNIST dynamics, batch 100, double, NFE %zu, %d rounds, median ms per solve:\n", nfe, rounds);
  std::printf("  copy %.2f   into %.2f   (into / copy %.3f)\n", c, i, i / c);
  return 0;
}

// One MNIST training step (the paper's dynamics 784 → 100 → 784 with its classifier head, batch
// 100, backprop through RK4 on 4 steps, unregularized or R_3, SGD with momentum) on one rank and
// data-parallel over all ranks, interleaved in one run (benchmarks/RESULTS.md, "Data-parallel"):
//
//   mpirun -np 2 build/benchmarks/dist/bench_dist_mpi_step [rounds=9] [K=0]
//
// Per round: (a) rank 0 alone computes the whole batch's gradient and steps (the other ranks wait
// at a barrier, idle) — the single-process time; (b) every rank its shard, one MPI_Allreduce of
// the 165 418 gradient scalars, the step — the data-parallel time (the slowest rank's); (c) the
// allreduce alone on that buffer. Medians over the rounds; rank 0 prints one line per figure.
#include <taynode/ad.hpp>
#include <taynode/dist/mpi.hpp>
#include <taynode/nn.hpp>
#include <taynode/ode.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <vector>

using namespace taynode;
using Mat = nn::RowMatrix<double>;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Trainer {
  nn::Sequential<double> dynamics = nn::mnist_dynamics<double>();
  nn::Linear<double> head{784, 10};
  NetworkTaylor<double> ws;
  ad::NetworkAdjoint<double> adj;
  nn::ParameterRefs<double> refs;
  nn::SgdMomentum<double> opt{nn::constant(0.01)};
  int K;

  Trainer(Index rows, int K_) : ws(init(dynamics, head), std::max(K_, 1), rows), adj(ws), K(K_) {
    refs = nn::parameter_refs(dynamics);
    nn::add_head_parameters(refs, head);
  }
  static const nn::Sequential<double>& init(nn::Sequential<double>& net, nn::Linear<double>& head) {
    std::mt19937_64 rng(3);
    nn::init_haiku(net, rng);
    head = nn::make_classifier_head<double>(784, 10, rng);
    return net;
  }
  // The gradient of the global mean loss from these rows (share = rows / global batch).
  nn::ParameterSet<double> gradient(const Mat& x, std::span<const int> y, double share) {
    SolveOptions<double> grid;
    grid.fixed_steps = 4;
    nn::ClassifierGradient<double> head_grad;
    auto loss = [&](const Mat& z1, const nn::Vector<double>&, Mat& z1_bar, nn::Vector<double>& r1_bar) {
      const auto fwd = nn::classifier_forward(head, z1, y);
      head_grad = nn::classifier_backward(head, fwd, y, share);
      z1_bar = head_grad.z_bar;
      r1_bar.setConstant(share / double(x.rows()));
    };
    const ad::TaylorRegularizer<double> reg{K, 1e-4};
    const auto g = ad::solve_gradient(ws, adj, x, 0.0, 1.0, reg, RK4{}, grid, ad::Backprop{ad::ForwardPass::plain}, loss);
    auto grads = nn::ParameterSet<double>::from_network(g.theta_bar);
    nn::add_head_gradient(grads, head_grad);
    return grads;
  }
};

}  // namespace

int main(int argc, char** argv) {
  dist::MpiSession session(argc, argv);
  dist::DataParallel dp;
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 9;
  const int K = argc > 2 ? std::atoi(argv[2]) : 0;
  const std::size_t global = 100;
  const auto [first, count] = dp.shard(global);

  std::mt19937_64 data_rng(5);
  std::uniform_real_distribution<double> pixel(0.0, 1.0);
  Mat x(global, 784);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = pixel(data_rng);
  std::vector<int> y(global);
  for (auto& label : y) label = int(data_rng() % 10);
  const Mat rows = x.middleRows(Eigen::Index(first), Eigen::Index(count));

  Trainer whole(Index(global), K), part(Index(count), K);
  std::vector<double> single, parallel, allreduce;
  for (int r = -1; r < rounds; ++r) {  // round −1 warms up
    dp.barrier();
    if (dp.rank() == 0) {
      const auto t0 = std::chrono::steady_clock::now();
      auto g = whole.gradient(x, y, 1.0);
      whole.opt.step(whole.refs, g);
      if (r >= 0) single.push_back(seconds_since(t0));
    }
    dp.barrier();
    const auto t1 = std::chrono::steady_clock::now();
    auto g = part.gradient(rows, std::span<const int>(y).subspan(first, count), double(count) / double(global));
    dp.sum(g);
    part.opt.step(part.refs, g);
    const double mine = seconds_since(t1);
    const double slowest = dp.maximum(mine);
    if (r >= 0) parallel.push_back(slowest);
    dp.barrier();
    const auto t2 = std::chrono::steady_clock::now();
    dp.sum(g);
    const double reduce = dp.maximum(seconds_since(t2));
    if (r >= 0) allreduce.push_back(reduce);
  }
  if (dp.rank() == 0) {
    const double s = median(single), p = median(parallel), a = median(allreduce);
    std::printf("MNIST training step, batch %zu, RK4 x 4, %s, %d rounds (medians):\n", global, K > 0 ? "R_K" : "unregularized",
                rounds);
    std::printf("  one process          %8.2f ms\n", 1e3 * s);
    std::printf("  %d ranks (%zu rows)    %8.2f ms   ratio %.3f\n", dp.size(), count, 1e3 * p, p / s);
    std::printf("  allreduce of %ld doubles %6.3f ms\n", long(part.refs.total_size()), 1e3 * a);
  }
  return 0;
}

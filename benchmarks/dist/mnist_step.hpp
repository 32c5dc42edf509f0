#pragma once
// The MNIST training step that the data-parallel benchmarks time (mpi_step.cpp, threads_step.cpp):
// the paper's dynamics 784 → 100 → 784 with its classifier head, backprop through RK4 on 4 steps,
// unregularized (K = 0) or R_K, SGD with momentum; and the batch of random pixels they share.
#include <taynode/ad.hpp>
#include <taynode/nn.hpp>
#include <taynode/ode.hpp>

#include <algorithm>
#include <chrono>
#include <random>
#include <span>
#include <vector>

namespace taynode_bench {

using namespace taynode;
using Mat = nn::RowMatrix<double>;

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// `rows` random images (pixels uniform in [0, 1]) and labels, seed 5.
struct RandomBatch {
  Mat x;
  std::vector<int> y;
  explicit RandomBatch(Index rows) : x(rows, 784), y(std::size_t(rows)) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> pixel(0.0, 1.0);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = pixel(rng);
    for (auto& label : y) label = int(rng() % 10);
  }
};

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
  // The gradient of the mean loss over a global batch of `global` rows from these rows.
  nn::ParameterSet<double> gradient(const Mat& x, std::span<const int> y, std::size_t global) {
    SolveOptions<double> grid;
    grid.fixed_steps = 4;
    nn::ClassifierLoss<double> loss{head, y, Index(global)};  // the rows' part of the means
    const ad::TaylorRegularizer<double> reg{K, 1e-4};
    const auto g = ad::solve_gradient(ws, adj, x, 0.0, 1.0, reg, RK4{}, grid, ad::Backprop{ad::ForwardPass::plain}, loss);
    auto grads = nn::ParameterSet<double>::from_network(g.theta_bar);
    nn::add_head_gradient(grads, loss.grad);
    return grads;
  }
};

}  // namespace taynode_bench

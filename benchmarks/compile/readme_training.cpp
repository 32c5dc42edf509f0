// The README's training snippet, filled in to compile: the translation unit whose compile cost
// benchmarks/compile/measure reports (benchmarks/RESULTS.md, "Compile cost").
#include <random>

#include <taynode/ad.hpp>
#include <taynode/nn.hpp>
#include <taynode/ode.hpp>
using namespace taynode;

int main() {
  auto net = nn::mnist_dynamics<double>();
  std::mt19937_64 rng(1);
  nn::init_haiku(net, rng);
  const int K = 3, batch = 100;
  const double lambda = 6e-5;
  nn::RowMatrix<double> z0 = nn::RowMatrix<double>::Random(batch, 784), y = nn::RowMatrix<double>::Random(batch, 784);
  NetworkTaylor<double> ws(net, K, batch);
  ad::NetworkAdjoint<double> adj(ws);
  auto params = nn::parameter_refs(net);
  nn::SgdMomentum<double> opt(nn::mnist_schedule());
  SolveOptions<double> rk4;
  rk4.fixed_steps = 4;
  auto loss = [&](const auto& z1, const auto& /*r1*/, auto& z1_bar, auto& r1_bar) {
    z1_bar = (z1 - y) / batch;
    r1_bar.setConstant(1.0 / batch);
  };
  const ad::TaylorRegularizer<double> r3{K, lambda};
  auto g = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, r3, RK4{}, rk4, ad::Backprop{ad::ForwardPass::plain}, loss);
  auto grads = nn::parameter_refs(g.theta_bar);
  opt.step(params, grads);
  return int(g.nfe_forward % 2);
}

// Optimizers against update formulas written out independently here (scalar loops, textbook
// form), a hand-computed SGD sequence, and convergence to a known quadratic minimum.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "taynode/nn/optimizers.hpp"

using namespace taynode::nn;

namespace {

// f(θ) = ½ Σ a_k (θ_k − c_k)², ∇f = a ⊙ (θ − c), minimum at c.
const std::vector<double> A{1.0, 4.0, 0.25, 2.0, 0.5, 3.0};
const std::vector<double> C{0.5, -1.0, 2.0, 0.0, -0.75, 1.25};

ParameterSet<double> start() {
  ParameterSet<double> p;
  RowMatrix<double> w(2, 2);
  w << 1.0, -2.0, 0.5, 3.0;
  p.add("w", w);
  p.add("b", Vector<double>::Constant(2, -1.5));
  return p;
}
ParameterSet<double> gradient(const ParameterSet<double>& p) {
  ParameterSet<double> g = ParameterSet<double>::zeros_like(p);
  Vector<double> th = p.flatten(), gr(th.size());
  for (Eigen::Index k = 0; k < th.size(); ++k) gr[k] = A[std::size_t(k)] * (th[k] - C[std::size_t(k)]);
  g.unflatten(gr);
  return g;
}

template <class Opt>
std::vector<double> run(Opt& opt, int steps) {
  auto p = start();
  for (int s = 0; s < steps; ++s) opt.step(p, gradient(p));
  const Vector<double> f = p.flatten();
  return {f.data(), f.data() + f.size()};
}

std::vector<double> start_flat() {
  const Vector<double> f = start().flatten();
  return {f.data(), f.data() + f.size()};
}

}  // namespace

TEST_CASE("SGD momentum: hand-computed sequence on f = theta^2/2", "[nn][optimizers]") {
  ParameterSet<double> p;
  p.add("x", RowMatrix<double>::Constant(1, 1, 1.0));
  SgdMomentum<double> opt(constant(0.1), 0.9);
  // v1 = 1, θ1 = 0.9; v2 = 0.9 + 0.9 = 1.8, θ2 = 0.72; v3 = 1.62 + 0.72 = 2.34, θ3 = 0.486.
  const double expect[] = {0.9, 0.72, 0.486};
  for (double e : expect) {
    ParameterSet<double> g = p;  // ∇ = θ
    opt.step(p, g);
    CHECK(p["x"](0, 0) == Approx(e).epsilon(1e-15));
  }
  CHECK(opt.state().step == 3);
  CHECK(opt.state().slots.at(0)["x"](0, 0) == Approx(2.34).epsilon(1e-15));
}

TEST_CASE("SGD momentum matches the heavy-ball formula and converges", "[nn][optimizers]") {
  const auto lr = piecewise_constant({20}, {0.05, 0.02});
  SgdMomentum<double> opt(lr, 0.9);
  const int n = 40;
  auto got = run(opt, n);
  std::vector<double> th = start_flat(), v(th.size(), 0.0);
  for (int i = 0; i < n; ++i) {
    const double eta = i < 20 ? 0.05 : 0.02;
    for (std::size_t k = 0; k < th.size(); ++k) {
      v[k] = 0.9 * v[k] + A[k] * (th[k] - C[k]);
      th[k] -= eta * v[k];
    }
  }
  for (std::size_t k = 0; k < th.size(); ++k) CHECK(got[k] == Approx(th[k]).epsilon(1e-13).margin(1e-15));

  SgdMomentum<double> longer(constant(0.05), 0.9);
  auto far = run(longer, 1500);
  for (std::size_t k = 0; k < C.size(); ++k) CHECK(far[k] == Approx(C[k]).margin(1e-8));
}

TEST_CASE("Adam matches Kingma & Ba Algorithm 1 and converges", "[nn][optimizers]") {
  Adam<double> opt(constant(0.01));
  const int n = 50;
  auto got = run(opt, n);
  std::vector<double> th = start_flat(), m(th.size(), 0.0), v(th.size(), 0.0);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8, alpha = 0.01;
  for (int t = 1; t <= n; ++t)
    for (std::size_t k = 0; k < th.size(); ++k) {
      const double g = A[k] * (th[k] - C[k]);
      m[k] = b1 * m[k] + (1 - b1) * g;
      v[k] = b2 * v[k] + (1 - b2) * g * g;
      const double mh = m[k] / (1 - std::pow(b1, t)), vh = v[k] / (1 - std::pow(b2, t));
      th[k] = th[k] - alpha * mh / (std::sqrt(vh) + eps);
    }
  for (std::size_t k = 0; k < th.size(); ++k) CHECK(got[k] == Approx(th[k]).epsilon(1e-12).margin(1e-14));

  // First step moves every coordinate by ≈ η against the sign of its gradient.
  Adam<double> one(constant(0.01));
  auto first = run(one, 1);
  auto s = start_flat();
  for (std::size_t k = 0; k < s.size(); ++k) {
    const double g = A[k] * (s[k] - C[k]);
    CHECK(first[k] == Approx(s[k] - 0.01 * g / (std::abs(g) + 1e-8)).epsilon(1e-14));
  }

  Adam<double> conv(piecewise_constant({2000}, {0.05, 1e-3}));
  auto far = run(conv, 4000);
  for (std::size_t k = 0; k < C.size(); ++k) CHECK(far[k] == Approx(C[k]).margin(1e-4));
}

TEST_CASE("Adamax matches jax.experimental.optimizers.adamax", "[nn][optimizers]") {
  const auto lr = exponential_decay_floor(1e-2, 0.999, 1e-3);
  Adamax<double> opt(lr);
  const int n = 60;
  auto got = run(opt, n);
  std::vector<double> th = start_flat(), m(th.size(), 0.0), u(th.size(), 0.0);
  for (int i = 0; i < n; ++i) {
    const double eta = std::max(1e-2 * std::pow(0.999, i), 1e-3);
    for (std::size_t k = 0; k < th.size(); ++k) {
      const double g = A[k] * (th[k] - C[k]);
      m[k] = 0.1 * g + 0.9 * m[k];
      u[k] = std::max(0.999 * u[k], std::abs(g));
      th[k] -= eta / (1 - std::pow(0.9, i + 1)) * m[k] / (u[k] + 1e-8);
    }
  }
  for (std::size_t k = 0; k < th.size(); ++k) CHECK(got[k] == Approx(th[k]).epsilon(1e-12).margin(1e-14));

  Adamax<double> conv(constant(0.02));
  auto far = run(conv, 3000);
  for (std::size_t k = 0; k < C.size(); ++k) CHECK(far[k] == Approx(C[k]).margin(1e-3));
}

TEST_CASE("optimizers update a network in place through ParameterRefs", "[nn][optimizers]") {
  auto net = latent_ode_dynamics<float>(3, 4, 2);
  std::mt19937_64 rng(7);
  init_haiku(net, rng);
  auto copy = ParameterSet<float>::from_network(net);
  auto grads = ParameterSet<float>::zeros_like(copy);
  for (std::size_t i = 0; i < grads.size(); ++i) grads.value(i).setConstant(0.25f * float(i + 1));

  Adam<float> a(constant(1e-2)), b(constant(1e-2));
  auto refs = parameter_refs(net);
  for (int s = 0; s < 3; ++s) {
    a.step(refs, grads);
    b.step(copy, grads);
  }
  CHECK(ParameterSet<float>::from_network(net) == copy);
  CHECK(a.state() == b.state());

  auto bad = grads;
  bad.value(0).resize(1, 1);
  CHECK_THROWS_AS(a.step(refs, bad), std::invalid_argument);
}

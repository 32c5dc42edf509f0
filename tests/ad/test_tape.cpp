// ad::Tape (ad/tape.hpp):
//  * a composite expression using every recorded op, K = 0..3, batch 1 and 3: the gradient of
//    L = Σ_k <seed_k, out_k> (random seed on every output coefficient) with respect to every
//    coefficient of the inputs, every weight and bias, and the time series (t0, t1), against
//    central finite differences of the re-recorded tape (tests/ad/fd.hpp: h = 1e-5, normwise
//    relative error ≤ 1e-6 per tensor). Re-recording after clear() is exercised by every FD probe.
//  * the MNIST-shaped network σ → [t,·]Linear → σ → [t,·]Linear recorded op by op gives the
//    gradients of ad::NetworkAdjoint (the hand-written sweep) to 1e-12: the dynamics VJP (K = 0)
//    and the Jacobian-Frobenius VJP (order 1, t1 = 0).

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include <catch2/catch.hpp>

#include "../series/generic_network.hpp"
#include "fd.hpp"
#include "taynode/ad.hpp"
#include "taynode/series.hpp"

using namespace taynode;
using taynode_test::fd_gradient;
using taynode_test::fd_tolerance;
using taynode_test::relative_error;
using S = Series<double>;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXd;

namespace {

void fill(double* p, Index n, std::mt19937_64& rng, double scale = 1.0) {
  std::uniform_real_distribution<double> u(-scale, scale);
  for (Index i = 0; i < n; ++i) p[i] = u(rng);
}
void fill(S& s, std::mt19937_64& rng, double scale = 1.0) { fill(s.data(), (s.order() + 1) * s.size(), rng, scale); }
double dot(const S& a, const S& b) {
  double d = 0;
  for (Index i = 0; i < (a.order() + 1) * a.size(); ++i) d += a.data()[i] * b.data()[i];
  return d;
}
Eigen::Map<const Vec> all(const S& s) { return {s.data(), (s.order() + 1) * s.size()}; }
template <class M>
Eigen::Map<const Vec> flat(const M& m) {
  return {m.data(), m.size()};
}

// The leaves of the composite expression (perturbed in place by the FD probes).
struct Leaves {
  S x, g;               // batch × 3 and 1 × 4, every coefficient random
  RowMatrix c0;         // batch × 4, an input constant in τ
  RowMatrix W1, W2, W3;  // 4 × 3, 4 × (1 + 4) (time column), 2 × 4 (no bias)
  Vec b1, b2;
  TimeSeries<double> t{0.3, 1.0};
};

struct Handles {
  ad::Var x, g, c0, out;
  ad::Param p1, p2, p3;
  ad::Time t;
};

// Every recorded op once (product with itself too); values stay O(1).
Handles record(ad::Tape<double>& tape, const Leaves& l) {
  tape.clear();
  Handles h;
  h.x = tape.input(l.x);
  h.g = tape.input(l.g);
  h.c0 = tape.input(l.c0);
  h.p1 = tape.parameter(l.W1, l.b1);
  h.p2 = tape.parameter(l.W2, l.b2);
  h.p3 = tape.parameter(l.W3);
  h.t = tape.time(l.t);
  const ad::Var a = tape.linear(h.x, h.p1);                     // batch × 4
  const ad::Var s = tape.sigmoid(a);
  const ad::Var th = tape.tanh(a);
  const ad::Var sp = tape.softplus(s);                          // > 0
  const ad::Var c = tape.concat_time_linear(h.t, th, h.p2);     // batch × 4
  const ad::Var p = tape.product(s, c);
  const ad::Var pb = tape.product_broadcast_row(p, h.g);
  const ad::Var e = tape.exp(tape.scale(0.5, pb));
  const ad::Var q = tape.square(tape.add(e, sp, -0.7));
  const ad::Var m = tape.add(tape.add(q, tape.log(sp)), h.c0, 0.9);  // batch × 4
  const ad::Var n1 = tape.squared_norm_rows(tape.linear(m, h.p3));    // batch × 1
  const ad::Var r = tape.add(n1, tape.mean_cols(m), 0.8);             // batch × 1
  const ad::Var n3 = tape.mean_cols(tape.mean_rows(tape.product(m, m)));  // 1 × 1
  h.out = tape.product_broadcast_row(r, n3);                          // batch × 1
  return h;
}

double max_error = 0;
void require_close(const char* what, double err) {
  INFO(what << ": relative error " << err);
  max_error = std::max(max_error, err);
  REQUIRE(err <= fd_tolerance);
}

}  // namespace

TEST_CASE("tape: every recorded op of a composite expression against finite differences", "[ad][tape]") {
  for (int K = 0; K <= 3; ++K)
    for (Index batch : {1, 3}) {
      INFO("K = " << K << " batch = " << batch);
      std::mt19937_64 rng(17 * K + unsigned(batch));
      Leaves l;
      l.x = S(K, batch, 3);
      l.g = S(K, 1, 4);
      fill(l.x, rng);
      fill(l.g, rng);
      l.c0.resize(batch, 4);
      l.W1.resize(4, 3);
      l.W2.resize(4, 5);
      l.W3.resize(2, 4);
      l.b1.resize(4);
      l.b2.resize(4);
      for (auto* m : {&l.c0, &l.W1, &l.W2, &l.W3}) fill(m->data(), m->size(), rng, 0.7);
      for (auto* v : {&l.b1, &l.b2}) fill(v->data(), v->size(), rng, 0.5);

      ad::Tape<double> tape(K);
      Handles h = record(tape, l);
      S seed(K, batch, 1);
      fill(seed, rng);
      auto L = [&] { return dot(seed, tape.value(record(tape, l).out)); };

      // FD first (each probe re-records), then one clean recording and its backward.
      const Vec gx = fd_gradient(L, l.x.data(), (K + 1) * l.x.size());
      const Vec gg = fd_gradient(L, l.g.data(), (K + 1) * l.g.size());
      const Vec gc = fd_gradient(L, l.c0.data(), l.c0.size());
      const Vec gW1 = fd_gradient(L, l.W1.data(), l.W1.size());
      const Vec gW2 = fd_gradient(L, l.W2.data(), l.W2.size());
      const Vec gW3 = fd_gradient(L, l.W3.data(), l.W3.size());
      const Vec gb1 = fd_gradient(L, l.b1.data(), l.b1.size());
      const Vec gb2 = fd_gradient(L, l.b2.data(), l.b2.size());
      const double gt0 = fd_gradient(L, &l.t.t0, 1)[0];
      const double gt1 = fd_gradient(L, &l.t.t1, 1)[0];

      h = record(tape, l);
      tape.backward(h.out, seed);
      require_close("x (all coefficients)", relative_error(all(tape.grad(h.x)), gx));
      require_close("g (all coefficients)", relative_error(all(tape.grad(h.g)), gg));
      require_close("c0", relative_error(flat(tape.grad(h.c0).matrix(0)), gc));
      require_close("W1", relative_error(flat(tape.grad_weight(h.p1)), gW1));
      require_close("W2", relative_error(flat(tape.grad_weight(h.p2)), gW2));
      require_close("W3", relative_error(flat(tape.grad_weight(h.p3)), gW3));
      require_close("b1", relative_error(tape.grad_bias(h.p1), gb1));
      require_close("b2", relative_error(tape.grad_bias(h.p2), gb2));
      const auto tb = tape.grad_time(h.t);
      require_close("t0", std::abs(tb.t0 - gt0) / std::max(std::abs(gt0), 1e-3));
      require_close("t1", std::abs(tb.t1 - gt1) / std::max(std::abs(gt1), 1e-3));
      if (K == 0) REQUIRE(tb.t1 == 0.0);
      REQUIRE(tape.grad_bias(h.p3).isZero());  // no bias: no cotangent
    }
  std::printf("tape FD test: max relative error %.2e (bound %.0e)\n", max_error, fd_tolerance);
}

TEST_CASE("tape: reuse after clear() is bitwise identical, bad handles and shapes raise", "[ad][tape]") {
  std::mt19937_64 rng(5);
  Leaves l;
  l.x = S(2, 3, 3);
  l.g = S(2, 1, 4);
  fill(l.x, rng);
  fill(l.g, rng);
  l.c0 = RowMatrix::Constant(3, 4, 0.1);
  l.W1 = RowMatrix::Constant(4, 3, 0.2);
  l.W2 = RowMatrix::Constant(4, 5, -0.3);
  l.W3 = RowMatrix::Constant(2, 4, 0.4);
  l.b1 = Vec::Constant(4, 0.1);
  l.b2 = Vec::Constant(4, -0.2);
  ad::Tape<double> tape(2), fresh(2);
  S seed(2, 3, 1);
  fill(seed, rng);
  for (int i = 0; i < 3; ++i) {
    const Handles h = record(tape, l);
    tape.backward(h.out, seed);
  }
  const Handles h = record(tape, l);
  tape.backward(h.out, seed);
  const Handles hf = record(fresh, l);
  fresh.backward(hf.out, seed);
  REQUIRE(all(tape.grad(h.x)) == all(fresh.grad(hf.x)));
  REQUIRE(tape.grad_weight(h.p2) == fresh.grad_weight(hf.p2));

  // backward(out) seeds 1 on coefficient 0 only.
  S ones(2, 3, 1);
  ones.stacked().setZero();
  ones.matrix(0).setOnes();
  fresh.backward(hf.out, ones);
  tape.backward(h.out);
  REQUIRE(all(tape.grad(h.x)) == all(fresh.grad(hf.x)));

  const std::size_t n = tape.size();
  tape.clear();
  REQUIRE_THROWS_AS(tape.grad(ad::Var{n - 1}), std::out_of_range);
  const ad::Var x = tape.input(l.x);
  const ad::Param p = tape.parameter(l.W3);  // 2 × 4 does not take 3 features
  REQUIRE_THROWS_AS(tape.linear(x, p), std::invalid_argument);
  REQUIRE_THROWS_AS(tape.product_broadcast_row(x, x), std::invalid_argument);
  REQUIRE_THROWS_AS(tape.backward(x, seed), std::invalid_argument);
}

namespace {
// The network σ → [t,·]Linear → σ → [t,·]Linear of nn::mnist_dynamics, recorded op by op.
struct NetHandles {
  ad::Var z, out;
  ad::Param p1, p2;
  ad::Time t;
};
NetHandles record_network(ad::Tape<double>& tape, const nn::Sequential<double>& net, const S& z, TimeSeries<double> t) {
  const auto& l1 = std::get<nn::ConcatLinear<double>>(net.layers[1]);
  const auto& l3 = std::get<nn::ConcatLinear<double>>(net.layers[3]);
  NetHandles h;
  tape.clear();
  h.z = tape.input(z);
  h.p1 = tape.parameter(l1.weight, l1.bias);
  h.p2 = tape.parameter(l3.weight, l3.bias);
  h.t = tape.time(t);
  const ad::Var a = tape.concat_time_linear(h.t, tape.sigmoid(h.z), h.p1);
  h.out = tape.concat_time_linear(h.t, tape.sigmoid(a), h.p2);
  return h;
}
void require_equal(const char* what, double err) {
  INFO(what << ": relative difference " << err);
  REQUIRE(err <= 1e-12);
}
}  // namespace

TEST_CASE("tape: the MNIST-shaped network gives the gradients of ad::NetworkAdjoint", "[ad][tape]") {
  nn::Sequential<double> net = nn::mnist_dynamics<double>(5, 4);
  taynode_test::fill_parameters(net, 3);
  const Index D = 5;
  double max_diff = 0;
  for (Index batch : {1, 3}) {
    INFO("batch = " << batch);
    const RowMatrix z = taynode_test::random_state<double>(batch, D, 40 + unsigned(batch));
    const RowMatrix eps = taynode_test::random_state<double>(batch, D, 50 + unsigned(batch));
    const RowMatrix f_bar = taynode_test::random_state<double>(batch, D, 60 + unsigned(batch));
    const Vec r_bar = taynode_test::random_state<double>(batch, 1, 70 + unsigned(batch)).col(0);
    const double t = 0.37;
    NetworkTaylor<double> ws(net, 1, batch);
    ad::NetworkAdjoint<double> adj(ws);
    adj.compute_t_bar(true);
    auto compare = [&](const ad::Tape<double>& tape, const NetHandles& h, bool with_eps) {
      const auto& ga = std::get<nn::ConcatLinear<double>>(adj.gradient().layers[1]);
      const auto& gb = std::get<nn::ConcatLinear<double>>(adj.gradient().layers[3]);
      const double d[] = {relative_error(flat(tape.grad(h.z).matrix(0)), flat(adj.z_bar())),
                          with_eps ? relative_error(flat(tape.grad(h.z).matrix(1)), flat(adj.input_bar().matrix(1)))
                                   : 0.0,
                          relative_error(flat(tape.grad_weight(h.p1)), flat(ga.weight)),
                          relative_error(tape.grad_bias(h.p1), ga.bias),
                          relative_error(flat(tape.grad_weight(h.p2)), flat(gb.weight)),
                          relative_error(tape.grad_bias(h.p2), gb.bias),
                          std::abs(tape.grad_time(h.t).t0 - adj.t_bar()) / std::max(std::abs(adj.t_bar()), 1e-3)};
      const char* names[] = {"z", "eps", "W1", "b1", "W2", "b2", "t"};
      for (int i = 0; i < 7; ++i) {
        max_diff = std::max(max_diff, d[i]);
        require_equal(names[i], d[i]);
      }
    };
    {
      INFO("dynamics VJP, K = 0");
      ad::Tape<double> tape(0);
      S zs(0, batch, D);
      zs.matrix(0) = z;
      const NetHandles h = record_network(tape, net, zs, {t, 1.0});
      S seed(0, batch, D);
      seed.matrix(0) = f_bar;
      tape.backward(h.out, seed);
      ad::vjp_dynamics(ws, adj, t, z, f_bar);
      REQUIRE(relative_error(flat(tape.value(h.out).matrix(0)), flat(ws.output().matrix(0))) <= 1e-14);
      compare(tape, h, false);
    }
    {
      INFO("Jacobian-Frobenius VJP, order 1 with t1 = 0");
      ad::Tape<double> tape(1);
      S zs(1, batch, D);
      zs.matrix(0) = z;
      zs.matrix(1) = eps;
      const NetHandles h = record_network(tape, net, zs, {t, 0.0});
      // L = Σ f̄ ⊙ f + Σ_b r̄_b (1/D)||(Jε)_b||²: seed_0 = f̄, seed_1 = (2/D) r̄ ⊙ Jε.
      S seed(1, batch, D);
      seed.matrix(0) = f_bar;
      seed.matrix(1) = (2.0 / double(D) * r_bar).asDiagonal() * tape.value(h.out).matrix(1);
      tape.backward(h.out, seed);
      ad::vjp_jacobian_frobenius_integrand(ws, adj, t, z, eps, f_bar, r_bar);
      compare(tape, h, true);
    }
  }
  std::printf("tape vs NetworkAdjoint: max relative difference %.2e (bound 1e-12)\n", max_diff);
}

// ad::CnfDynamics (FFJORD's augmented [z, Δlogp, R] dynamics) against outside truth, in double on
// small FFJORD networks (ConcatSquash + softplus, dim 3, hidden {8, 8}, batch 3):
//  * the exact trace against the trace of a dense Jacobian from central differences of f;
//  * Hutchinson: for a fixed ε equal to εᵀJε with the FD Jacobian; its mean over many ε (Gaussian
//    and Rademacher) within 5 standard errors of the exact trace;
//  * the VJP of [f, Δlogp', R'] against central differences of the evaluation (tests/ad/fd.hpp,
//    bound 1e-6 normwise per tensor), Hutchinson and exact trace, without a regularizer, with
//    R_1..R_3 and with RNODE (its ε shared with the trace, as Finlay et al., and separate);
//  * the gradient of mean NLL + mean λ·R_2 through ad::solve_gradient: Backprop on RK4's grid
//    against FD of an independent solve (taynode::solve with reg::taylor_integrand and ws.jvp,
//    the NLL written out; bound 1e-6), and the continuous adjoint (Dopri5, rtol = atol = 1e-10)
//    against FD of a fine RK4 grid (200 steps; bound 5e-7, attained 7e-8) and against backprop
//    through the same Dopri5 solve (bound 1e-7); the same with the exact trace (backprop vs FD of
//    the solve of its evaluation, 1e-6; adjoint vs backprop, 1e-7);
//  * the change of variables on f(z) = A z: Δlogp(t) = −t·tr A, and log p(x) equals the density of
//    the pushforward Gaussian N(0, e^{−A} e^{−Aᵀ});
//  * bad arguments raise std::invalid_argument.

#include <cmath>
#include <functional>
#include <numbers>
#include <random>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include "../series/generic_network.hpp"
#include "fd.hpp"
#include "taynode/ad.hpp"
#include "taynode/ode.hpp"

using namespace taynode;
using taynode_test::fd_gradient;
using taynode_test::fd_step;
using taynode_test::fd_tolerance;
using taynode_test::flat;
using taynode_test::flat_gradients;
using taynode_test::relative_error;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXd;
using Cnf = ad::CnfDynamics<double>;

namespace {

constexpr Index B = 3, D = 3;

nn::Sequential<double> ffjord_net(unsigned seed) {
  auto net = nn::ffjord_dynamics<double>(D, {8, 8});
  taynode_test::fill_parameters(net, seed);
  return net;
}

// J_b = ∂f/∂z at (t, z_b) for every example, by central differences of ws.evaluate (examples are
// independent, so one perturbed column serves the whole batch).
std::vector<Eigen::MatrixXd> fd_jacobians(NetworkTaylor<double>& ws, double t, const RowMatrix& z) {
  std::vector<Eigen::MatrixXd> J(std::size_t(z.rows()), Eigen::MatrixXd(z.cols(), z.cols()));
  for (Index c = 0; c < z.cols(); ++c) {
    RowMatrix zp = z, zm = z;
    zp.col(c).array() += fd_step;
    zm.col(c).array() -= fd_step;
    const RowMatrix fp = ws.evaluate(t, zp);
    const RowMatrix fm = ws.evaluate(t, zm);
    for (Index b = 0; b < z.rows(); ++b) J[std::size_t(b)].col(c) = (fp.row(b) - fm.row(b)).transpose() / (2 * fd_step);
  }
  return J;
}

Vec traces(const std::vector<Eigen::MatrixXd>& J) {
  Vec tr(Index(J.size()));
  for (std::size_t b = 0; b < J.size(); ++b) tr[Index(b)] = J[b].trace();
  return tr;
}

// −Δlogp' = εᵀJε (Hutchinson) of one evaluation.
Vec estimated_traces(const Cnf& d, double t, const RowMatrix& z) {
  RowMatrix f(B, D);
  Vec r = d.zero_integrand();
  d.evaluate(t, z, f, r);
  return -r.head(B);
}

// z̄ and θ̄ against central differences of L (perturbing z and the network's parameters in place).
void check_against_fd(const std::function<double()>& L, const RowMatrix& z_bar, const nn::Sequential<double>& theta_bar,
                      nn::Sequential<double>& net, RowMatrix& z, double tolerance, const char* what) {
  const double ez = relative_error(Eigen::Map<const Vec>(z_bar.data(), z.size()), fd_gradient(L, z.data(), z.size()));
  INFO(what << ": z_bar rel err " << ez);
  CHECK(ez <= tolerance);
  const auto grads = flat_gradients(theta_bar);
  std::size_t i = 0;
  double worst = 0;
  nn::for_each_parameter(net, [&](auto& p) {
    const double e = relative_error(grads[i], fd_gradient(L, p.data(), p.size()));
    INFO(what << ": parameter tensor " << i << " rel err " << e);
    CHECK(e <= tolerance);
    worst = std::max(worst, e);
    ++i;
  });
  WARN(what << ": worst relative error z_bar " << ez << ", theta_bar " << worst << " (bound " << tolerance << ")");
}

// The CNF objective written out: mean_b [½||z1_b||² + (D/2) log 2π + Δlogp_b] + mean_b R_b.
double nll_objective(const RowMatrix& z1, const Vec& r1) {
  const double n = double(z1.rows());
  double L = 0;
  for (Index b = 0; b < z1.rows(); ++b)
    L += (0.5 * z1.row(b).squaredNorm() + 0.5 * double(D) * std::log(2 * std::numbers::pi) + r1[b]) / n;
  for (Index i = z1.rows(); i < r1.size(); ++i) L += r1[i] / n;
  return L;
}

// e^A by its Taylor series (||A|| ≤ 1 here: 40 terms are exact to rounding).
Eigen::MatrixXd expm(const Eigen::MatrixXd& A) {
  Eigen::MatrixXd term = Eigen::MatrixXd::Identity(A.rows(), A.cols()), sum = term;
  for (int k = 1; k <= 40; ++k) {
    term = term * A / double(k);
    sum += term;
  }
  return sum;
}

}  // namespace

TEST_CASE("CnfDynamics: the exact trace equals the trace of a finite-difference Jacobian", "[ad][cnf]") {
  for (unsigned seed : {41u, 42u}) {
    auto net = ffjord_net(seed);
    const RowMatrix z = taynode_test::random_state<double>(B, D, seed + 100);
    NetworkTaylor<double> ws(net, 2, B);
    for (double t : {0.0, 0.3, 1.0}) {
      INFO("seed " << seed << " t = " << t);
      const Vec want = traces(fd_jacobians(ws, t, z));
      const RowMatrix f_want = ws.evaluate(t, z);
      for (int K : {0, 2}) {  // the regularizer's push must not disturb the trace's
        Cnf d(ws, ad::TaylorRegularizer<double>{K}, ad::TraceEstimator::exact);
        RowMatrix f(B, D);
        Vec r = d.zero_integrand();
        REQUIRE(r.size() == (K > 0 ? 2 * B : B));
        d.evaluate(t, z, f, r);
        const double e = relative_error(-r.head(B), want);
        INFO("K = " << K << " exact trace rel err " << e);
        CHECK(e <= 1e-7);
        CHECK(relative_error(f, f_want) <= 1e-14);
        if (K > 0) CHECK(r.tail(B).minCoeff() > 0);
      }
    }
  }
}

TEST_CASE("CnfDynamics: Hutchinson's estimate is εᵀJε and converges to the trace", "[ad][cnf]") {
  auto net = ffjord_net(43);
  const RowMatrix z = taynode_test::random_state<double>(B, D, 143);
  const double t = 0.6;
  NetworkTaylor<double> ws(net, 1, B);
  const auto J = fd_jacobians(ws, t, z);
  const Vec tr = traces(J);
  Cnf exact(ws, {}, ad::TraceEstimator::exact);
  CHECK(relative_error(estimated_traces(exact, t, z), tr) <= 1e-7);
  for (auto kind : {ad::Noise::gaussian, ad::Noise::rademacher}) {
    INFO((kind == ad::Noise::gaussian ? "gaussian" : "rademacher"));
    std::mt19937_64 rng(7);
    RowMatrix eps = ad::hutchinson_noise<double>(rng, B, D, kind);
    Cnf d(ws);
    d.set_noise(eps);
    // A fixed ε: the estimate is εᵀJε with the FD Jacobian.
    Vec want(B);
    for (Index b = 0; b < B; ++b) want[b] = eps.row(b) * J[std::size_t(b)] * eps.row(b).transpose();
    CHECK(relative_error(estimated_traces(d, t, z), want) <= 1e-7);
    if (kind == ad::Noise::rademacher) CHECK(eps.cwiseAbs().isOnes(0));
    // The mean over N redraws (in place: d holds a reference) within 5 standard errors.
    const int N = 4000;
    Vec sum = Vec::Zero(B), sum2 = Vec::Zero(B);
    for (int n = 0; n < N; ++n) {
      eps = ad::hutchinson_noise<double>(rng, B, D, kind);
      const Vec est = estimated_traces(d, t, z);
      sum += est;
      sum2 += est.cwiseProduct(est);
    }
    const Vec mean = sum / N;
    for (Index b = 0; b < B; ++b) {
      const double var = (sum2[b] / N - mean[b] * mean[b]) * N / (N - 1);
      const double se = std::sqrt(var / N);
      INFO("example " << b << ": mean " << mean[b] << " trace " << tr[b] << " standard error " << se);
      CHECK(se > 0);
      CHECK(std::abs(mean[b] - tr[b]) <= 5 * se);
    }
  }
}

TEST_CASE("CnfDynamics: vjp against central finite differences (Hutchinson and exact; none, R_K, RNODE)",
          "[ad][cnf]") {
  auto net = ffjord_net(44);
  RowMatrix z = taynode_test::random_state<double>(B, D, 144);
  const RowMatrix eps = taynode_test::random_state<double>(B, D, 145, 1.5);
  const RowMatrix eps_r = taynode_test::random_state<double>(B, D, 146, 1.5);
  const double t = 0.4;
  const RowMatrix f_bar = taynode_test::random_state<double>(B, D, 147);
  const Vec r_bar = taynode_test::random_state<double>(2 * B, 1, 148);
  NetworkTaylor<double> ws(net, 3, B);
  ad::NetworkAdjoint<double> adj(ws);

  // L = Σ f̄ ⊙ f + Σ r̄ ⊙ r through d.evaluate; d.vjp with the same cotangents.
  auto check = [&](auto& d, const char* what) {
    d.set_noise(eps);
    const Vec rb = r_bar.head(d.integrand_size());
    auto L = [&]() {
      RowMatrix f(B, D);
      Vec r = d.zero_integrand();
      d.evaluate(t, z, f, r);
      return (f_bar.array() * f.array()).sum() + rb.dot(r);
    };
    RowMatrix f_out;
    d.vjp(t, z, f_bar, rb, false, &f_out);
    const RowMatrix z_bar = d.z_bar();
    const nn::Sequential<double> theta_bar = d.gradient();
    CHECK(relative_error(f_out, RowMatrix(ws.evaluate(t, z))) <= 1e-14);
    check_against_fd(L, z_bar, theta_bar, net, z, fd_tolerance, what);
    // accumulate: a second call adds θ̄ (z̄ is per call).
    d.vjp(t, z, f_bar, rb, true);
    const auto once = flat_gradients(theta_bar), twice = flat_gradients(d.gradient());
    for (std::size_t i = 0; i < once.size(); ++i) CHECK(relative_error(twice[i], 2 * once[i]) <= 1e-14);
    CHECK(relative_error(d.z_bar(), z_bar) <= 1e-14);
  };
  using Rnode = ad::CnfDynamics<double, backend::Cpu, ad::RnodeRegularizer<double>>;
  for (auto mode : {ad::TraceEstimator::hutchinson, ad::TraceEstimator::exact}) {
    INFO(ad::to_string(mode) << " trace");
    {
      Cnf d(ws, adj, {}, mode);
      check(d, "no regularizer");
    }
    for (int K : {1, 2, 3}) {
      Cnf d(ws, adj, ad::TaylorRegularizer<double>{K, 0.7}, mode);
      check(d, K == 1 ? "R_1" : K == 2 ? "R_2" : "R_3");
    }
    {
      Rnode d(ws, adj, ad::RnodeRegularizer<double>{&eps, 0.3, 0.8}, mode);
      check(d, "RNODE, the trace's eps");
    }
    {
      Rnode d(ws, adj, ad::RnodeRegularizer<double>{&eps_r, 0.3, 0.8}, mode);
      check(d, "RNODE, its own eps");
    }
  }
}

TEST_CASE("CnfDynamics through solve_gradient: mean NLL + λ·R_2 against finite differences of an independent solve",
          "[ad][cnf][solve]") {
  const double lambda = 0.7;
  auto net = ffjord_net(45);
  RowMatrix z0 = taynode_test::random_state<double>(B, D, 150, 1.5);
  std::mt19937_64 rng(11);
  const RowMatrix eps = ad::hutchinson_noise<double>(rng, B, D);
  NetworkTaylor<double> ws(net, 2, B);
  ad::NetworkAdjoint<double> adj(ws);
  Cnf d(ws, adj, ad::TaylorRegularizer<double>{2, lambda});
  d.set_noise(eps);

  // The augmented dynamics written out: f and R_2 by reg::taylor_integrand, the trace by ws.jvp.
  using A = Augmented<RowMatrix, Vec>;
  auto L = [&](const SolveOptions<double>& o, auto method) {
    auto rhs = [&](double t, const A& y, A& dy) {
      dy.z.resize(B, D);
      dy.r.resize(2 * B);
      Vec R(B);
      reg::taylor_integrand(ws, t, y.z, 2, dy.z, R);
      const RowMatrix jv = ws.jvp(t, y.z, eps);
      dy.r.head(B) = -(eps.array() * jv.array()).rowwise().sum().matrix();
      dy.r.tail(B) = lambda * R;
    };
    const auto sol = solve(rhs, A{z0, Vec::Zero(2 * B)}, std::vector<double>{0.0, 1.0}, method, o);
    return nll_objective(sol.final_state().z, sol.final_state().r);
  };

  SECTION("backprop on RK4's fixed grid") {
    SolveOptions<double> grid;
    grid.fixed_steps = 4;
    ad::CnfLoss<double> loss;
    const auto g = ad::solve_gradient(d, z0, 0.0, 1.0, RK4{}, grid, ad::Backprop{}, loss);
    const double want = L(grid, RK4{});
    CHECK(std::abs(loss.value() - want) <= 1e-13 * std::abs(want));
    CHECK(loss.penalty > 0);
    CHECK(std::abs(loss.nll - (-ad::log_density(g.z1, g.r1).mean())) <= 1e-14);
    check_against_fd([&] { return L(grid, RK4{}); }, g.z0_bar, g.theta_bar, net, z0, fd_tolerance, "backprop RK4 x4");
  }
  SECTION("continuous adjoint, Dopri5 at 1e-10, against FD of a fine RK4 grid") {
    SolveOptions<double> tight;
    tight.rtol = tight.atol = 1e-10;
    ad::CnfLoss<double> loss;
    const auto g = ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tight, ad::Adjoint{}, loss);
    SolveOptions<double> fine;
    fine.fixed_steps = 200;
    CHECK(std::abs(loss.value() - L(fine, RK4{})) <= 1e-9);
    CHECK(g.backward_steps > 0);
    // Attained: 1.4e-10 (z̄), 7e-8 (θ̄: the gate tensors, whose FD noise floor is ~3e-8 — see the
    // backprop section on the same tensors).
    check_against_fd([&] { return L(fine, RK4{}); }, g.z0_bar, g.theta_bar, net, z0, 5e-7, "adjoint Dopri5 1e-10");
    // Backprop through the same Dopri5 solve agrees with the adjoint to the tolerance.
    ad::CnfLoss<double> loss_bp;
    const auto bp = ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tight, ad::Backprop{}, loss_bp);
    double worst = relative_error(g.z0_bar, bp.z0_bar);
    CHECK(worst <= 1e-7);
    const auto a = flat_gradients(g.theta_bar), b = flat_gradients(bp.theta_bar);
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double e = relative_error(a[i], b[i]);
      CHECK(e <= 1e-7);
      worst = std::max(worst, e);
    }
    WARN("adjoint vs backprop through Dopri5 at 1e-10: worst relative error " << worst);
    // The reference's "aux" forward (z only): r1 = 0, so the loss value lacks Δlogp and R, but the
    // gradient is the full one (up to the forward's tolerance-level difference in z1).
    ad::CnfLoss<double> loss_plain;
    const auto gp = ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tight, ad::Adjoint{ad::ForwardPass::plain}, loss_plain);
    CHECK(gp.r1.isZero(0));
    CHECK(loss_plain.penalty == 0);
    CHECK(relative_error(gp.z0_bar, g.z0_bar) <= 1e-7);
    const auto c = flat_gradients(gp.theta_bar);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(relative_error(c[i], a[i]) <= 1e-7);
  }
}

TEST_CASE("CnfDynamics through solve_gradient with the exact trace and R_2", "[ad][cnf][solve]") {
  const double lambda = 0.7;
  auto net = ffjord_net(47);
  RowMatrix z0 = taynode_test::random_state<double>(B, D, 151, 1.5);
  NetworkTaylor<double> ws(net, 2, B);
  ad::NetworkAdjoint<double> adj(ws);
  Cnf d(ws, adj, ad::TaylorRegularizer<double>{2, lambda}, ad::TraceEstimator::exact);
  // The objective by taynode::solve of d.evaluate (whose exact trace is checked against FD above).
  using A = Augmented<RowMatrix, Vec>;
  SolveOptions<double> grid;
  grid.fixed_steps = 4;
  auto L = [&]() {
    auto rhs = [&](double t, const A& y, A& dy) { d.evaluate(t, y.z, dy.z, dy.r); };
    const auto sol = solve(rhs, A{z0, Vec::Zero(2 * B)}, std::vector<double>{0.0, 1.0}, RK4{}, grid);
    return nll_objective(sol.final_state().z, sol.final_state().r);
  };
  ad::CnfLoss<double> loss;
  const auto g = ad::solve_gradient(d, z0, 0.0, 1.0, RK4{}, grid, ad::Backprop{}, loss);
  CHECK(std::abs(loss.value() - L()) <= 1e-13 * std::abs(L()));
  check_against_fd(L, g.z0_bar, g.theta_bar, net, z0, fd_tolerance, "exact trace, backprop RK4 x4");
  // The adjoint (which reads θ̄ through store_gradient: both adjoints summed) against backprop.
  SolveOptions<double> tight;
  tight.rtol = tight.atol = 1e-10;
  ad::CnfLoss<double> la, lb;
  const auto aj = ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tight, ad::Adjoint{}, la);
  const auto bp = ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tight, ad::Backprop{}, lb);
  CHECK(relative_error(aj.z0_bar, bp.z0_bar) <= 1e-7);
  const auto a = flat_gradients(aj.theta_bar), b = flat_gradients(bp.theta_bar);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(relative_error(a[i], b[i]) <= 1e-7);
}

TEST_CASE("CnfLoss over the row shards of a global batch: the parts sum to the whole batch's loss and gradient",
          "[ad][cnf][solve]") {
  // Data-parallel training (dist/mpi.hpp) solves each rank's rows with CnfLoss::batch = the global
  // row count and sums the parts. On a fixed grid the rows' solves are independent, so the sums of
  // the shards' values and θ̄ are the whole batch's (mean = Σ over shards of the shard's sum / B).
  auto net = ffjord_net(48);
  const RowMatrix z0 = taynode_test::random_state<double>(B, D, 152, 1.5);
  SolveOptions<double> grid;
  grid.fixed_steps = 4;
  auto run = [&](const RowMatrix& rows, Index global, ad::CnfLoss<double>& loss) {
    NetworkTaylor<double> ws(net, 2, rows.rows());
    ad::NetworkAdjoint<double> adj(ws);
    Cnf d(ws, adj, ad::TaylorRegularizer<double>{2, 0.7}, ad::TraceEstimator::exact);
    loss.batch = global;
    return ad::solve_gradient(d, rows, 0.0, 1.0, RK4{}, grid, ad::Backprop{}, loss);
  };
  ad::CnfLoss<double> whole, first, second;
  const auto g = run(z0, 0, whole);
  const auto g1 = run(z0.topRows(2), B, first);
  const auto g2 = run(z0.bottomRows(B - 2), B, second);
  CHECK(std::abs(first.nll + second.nll - whole.nll) <= 1e-14 * std::abs(whole.nll));
  CHECK(std::abs(first.penalty + second.penalty - whole.penalty) <= 1e-14 * std::abs(whole.penalty));
  CHECK(whole.penalty > 0);
  CHECK(relative_error(g1.z0_bar, RowMatrix(g.z0_bar.topRows(2))) <= 1e-14);
  CHECK(relative_error(g2.z0_bar, RowMatrix(g.z0_bar.bottomRows(B - 2))) <= 1e-14);
  const auto a = flat_gradients(g.theta_bar), a1 = flat_gradients(g1.theta_bar), a2 = flat_gradients(g2.theta_bar);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(relative_error(Eigen::VectorXd(a1[i] + a2[i]), a[i]) <= 1e-13);
  // A shard larger than the batch it is said to be part of is a caller's error.
  ad::CnfLoss<double> bad;
  CHECK_THROWS_WITH(run(z0, B - 1, bad), Catch::Contains("is less than the 3 rows"));
}

TEST_CASE("CnfDynamics: the change of variables of a linear flow in closed form", "[ad][cnf]") {
  // f(t, z) = A z: z(t) = e^{tA} x, Δlogp(t) = −t·tr A, and x ~ the pushforward of N(0, I) under
  // e^{−A}: N(0, Σ), Σ = e^{−A} e^{−Aᵀ}, so log p(x) = −½ xᵀ e^{Aᵀ} e^{A} x + tr A − (D/2) log 2π.
  nn::Sequential<double> net;
  net.layers.emplace_back(std::in_place_type<nn::Linear<double>>, D, D);
  auto& lin = std::get<nn::Linear<double>>(net.layers[0]);
  lin.weight << 0.3, -0.5, 0.2, 0.4, -0.7, 0.1, -0.2, 0.6, 0.25;
  const Eigen::MatrixXd Amat = lin.weight;
  const double trA = Amat.trace();
  const RowMatrix x = taynode_test::random_state<double>(B, D, 160, 2.0);
  NetworkTaylor<double> ws(net, 1, B);
  using S = Augmented<RowMatrix, Vec>;
  SolveOptions<double> o;
  o.rtol = o.atol = 1e-12;
  const std::vector<double> times{0.0, 0.5, 1.0};

  Cnf exact(ws, {}, ad::TraceEstimator::exact);
  auto rhs = [&](double t, const S& y, S& dy) { exact.evaluate(t, y.z, dy.z, dy.r); };
  const auto sol = solve(rhs, S{x, Vec::Zero(B)}, times, Dopri5{}, o);
  for (std::size_t i = 0; i < times.size(); ++i)
    CHECK((sol.y[i].r - Vec::Constant(B, -times[i] * trA)).cwiseAbs().maxCoeff() <= 1e-13);
  const RowMatrix& z1 = sol.final_state().z;
  const Eigen::MatrixXd E = expm(Amat);
  CHECK(relative_error(z1, RowMatrix(x * E.transpose())) <= 1e-10);
  const Vec lp = ad::log_density(z1, sol.final_state().r);
  const Eigen::MatrixXd precision = E.transpose() * E;  // Σ^{-1}
  Vec want(B);
  for (Index b = 0; b < B; ++b)
    want[b] = -0.5 * x.row(b) * precision * x.row(b).transpose() + trA - 0.5 * D * std::log(2 * std::numbers::pi);
  const double e = relative_error(lp, want);
  WARN("linear flow: log p against the pushforward Gaussian, rel err " << e);
  CHECK(e <= 1e-10);

  // Hutchinson on a linear f: Δlogp(1) = −εᵀAε exactly.
  std::mt19937_64 rng(3);
  const RowMatrix eps = ad::hutchinson_noise<double>(rng, B, D);
  Cnf hutch(ws);
  hutch.set_noise(eps);
  auto rhs_h = [&](double t, const S& y, S& dy) { hutch.evaluate(t, y.z, dy.z, dy.r); };
  const auto sol_h = solve(rhs_h, S{x, Vec::Zero(B)}, times, Dopri5{}, o);
  for (Index b = 0; b < B; ++b)
    CHECK(std::abs(sol_h.final_state().r[b] + double(eps.row(b) * Amat * eps.row(b).transpose())) <= 1e-13);
}

TEST_CASE("CnfDynamics: bad arguments raise", "[ad][cnf]") {
  auto net = ffjord_net(46);
  NetworkTaylor<double> ws(net, 2, B), ws0(net, 0, B);
  ad::NetworkAdjoint<double> adj(ws);
  const RowMatrix z = RowMatrix::Zero(B, D), eps = RowMatrix::Ones(B, D), wrong = RowMatrix::Ones(B + 1, D);
  RowMatrix f(B, D);
  Vec r(B);
  // K beyond the workspace's order, negative K, Hutchinson on an order-0 workspace.
  CHECK_THROWS_AS(Cnf(ws, adj, ad::TaylorRegularizer<double>{3}), std::invalid_argument);
  CHECK_THROWS_AS(Cnf(ws, adj, ad::TaylorRegularizer<double>{-1}), std::invalid_argument);
  CHECK_THROWS_AS(Cnf(ws0), std::invalid_argument);
  CHECK_NOTHROW(Cnf(ws0, {}, ad::TraceEstimator::exact));
  Cnf d(ws, adj);
  // ε missing, of the wrong shape.
  CHECK_THROWS_AS(d.evaluate(0.0, z, f, r), std::invalid_argument);
  CHECK_THROWS_AS(d.vjp(0.0, z, f, r, false), std::invalid_argument);
  CHECK_THROWS_AS(d.set_noise(wrong), std::invalid_argument);
  d.set_noise(eps);
  CHECK_NOTHROW(d.evaluate(0.0, z, f, r));
  // Wrong shapes of z, f and r (r of a regularized dynamics has 2B entries).
  CHECK_THROWS_AS(d.evaluate(0.0, wrong, f, r), std::invalid_argument);
  Vec r_long(2 * B);
  CHECK_THROWS_AS(d.evaluate(0.0, z, f, r_long), std::invalid_argument);
  Cnf d2(ws, adj, ad::TaylorRegularizer<double>{2});
  d2.set_noise(eps);
  CHECK_THROWS_AS(d2.evaluate(0.0, z, f, r), std::invalid_argument);
  CHECK_THROWS_AS(d2.vjp(0.0, z, wrong, r_long, false), std::invalid_argument);
  // A dynamics built without an adjoint cannot pull back.
  Cnf e(ws, {}, ad::TraceEstimator::exact);
  CHECK_THROWS_AS(e.vjp(0.0, z, f, r, false), std::logic_error);
  // log_density needs the integrand's layout.
  CHECK_THROWS_AS(ad::log_density(z, Vec(B + 1)), std::invalid_argument);
}

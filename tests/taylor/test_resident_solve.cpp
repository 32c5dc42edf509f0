// resident_dopri5 (taylor/resident_solve.hpp) on backend::CudaEmulated — the kernel body with real
// block and grid barriers (one std::thread per device thread) — against taynode::solve with
// Dopri5 on backend::Cpu: the MNIST and latent-ODE dynamics, every rows_per_block with a partial
// last group, blocks taking several groups, both time directions, the options it honours, float and
// double; and its errors.
// Not bitwise: the kernel's dot products and norms add in other orders than Eigen's, so the states
// agree to rounding (1e-12 relative in double) and the step statistics exactly (no decision here
// sits on that rounding).

#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "../series/generic_network.hpp"
#include "taynode/cuda.hpp"
#include "taynode/nn.hpp"
#include "taynode/ode.hpp"
#include "taynode/taylor/network_taylor.hpp"
#include "taynode/taylor/resident_solve.hpp"

using namespace taynode;
using Emu = backend::CudaEmulated;

namespace {

template <class T>
using Rows = nn::RowMatrix<T>;

// max |a − b| ≤ tol · max |a| (NaN fails).
template <class T>
bool close(const Rows<T>& a, const Rows<T>& b, double tol) {
  if (a.rows() != b.rows() || a.cols() != b.cols() || !b.allFinite()) return false;
  const double scale = double(a.cwiseAbs().maxCoeff()), worst = double((a - b).cwiseAbs().maxCoeff());
  if (worst > tol * scale) UNSCOPED_INFO("relative difference " << worst / scale);
  return worst <= tol * scale;
}

// The CPU reference and the resident solve of one problem; checks states and statistics.
template <class T>
void compare(const nn::Sequential<T>& net, Index batch, Index dim, T t0, T t1, const SolveOptions<T>& o,
             ResidentOptions r, double tol, bool same_statistics = true) {
  const Rows<T> z0 = taynode_test::random_state<T>(batch, dim, 21);
  NetworkTaylor<T> ws(net, 0, batch);
  auto f = [&](T t, const Rows<T>& y, Rows<T>& dy) { dy = ws.evaluate(t, y); };
  const auto cpu = solve(f, z0, std::vector<T>{t0, t1}, Dopri5{}, o);
  NetworkTaylor<T, Emu> wse(net, 0, batch);
  typename Emu::template Matrix<T> z1;
  const SolveStatistics<T> st = resident_dopri5(wse, backend::to_backend<Emu>(z0), t0, t1, z1, o, r);
  INFO("rows_per_block " << r.rows_per_block << ", threads " << r.threads_per_block << ", batch " << batch);
  CHECK(close<T>(cpu.y.back(), backend::to_host<Emu>(z1), tol));
  if (same_statistics) {
    CHECK(st.nfe == cpu.stats.nfe);
    CHECK(st.attempted_steps == cpu.stats.attempted_steps);
    CHECK(st.accepted_steps == cpu.stats.accepted_steps);
    CHECK(st.rejected_steps == cpu.stats.rejected_steps);
    CHECK(st.initial_rejected_steps == cpu.stats.initial_rejected_steps);
  }
  CHECK(st.nfe == 2 * (o.first_step == T(0)) + (o.first_step != T(0)) + 6 * st.attempted_steps);
}

template <class E>
void check_error(E&& run, SolveErrorKind kind, const std::string& fragment) {
  try {
    run();
    FAIL("no exception; expected one containing '" << fragment << "'");
  } catch (const SolveError& e) {
    INFO(e.what());
    CHECK(e.kind() == kind);
    CHECK(std::string(e.what()).find(fragment) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("resident_dopri5 equals taynode::solve on the MNIST dynamics, every rows_per_block", "[taylor][cuda]") {
  auto net = nn::mnist_dynamics<double>(6, 9);
  taynode_test::fill_parameters(net, 8);
  SolveOptions<double> o;
  o.rtol = o.atol = 1e-9;
  for (int rows : {1, 2, 4, 8})
    compare<double>(net, 7, 6, 0.0, 1.0, o, ResidentOptions{rows, 32}, 1e-12);
  compare<double>(net, 3, 6, 0.0, 1.0, o, ResidentOptions{2, 64}, 1e-12);  // more threads than outputs
  // More groups of rows than blocks: blocks take groups block, block + blocks, … (as beyond the
  // device's resident capacity).
  compare<double>(net, 11, 6, 0.0, 1.0, o, ResidentOptions{2, 32, 2}, 1e-12);
  compare<double>(net, 9, 6, 0.0, 1.0, o, ResidentOptions{1, 32, 4}, 1e-12);
}

TEST_CASE("resident_dopri5 equals taynode::solve on the latent-ODE dynamics, backward, with options",
          "[taylor][cuda]") {
  auto net = nn::latent_ode_dynamics<double>(5, 12, 2);
  taynode_test::fill_parameters(net, 3);
  SolveOptions<double> o;
  o.rtol = 1e-7;
  o.atol = 1e-9;
  compare<double>(net, 5, 5, 2.0, 0.5, o, ResidentOptions{2, 32}, 1e-12);  // t1 < t0
  o.first_step = 0.01;
  o.max_step = 0.2;
  o.controller = IntegralController<double>{0.8, 0.25, 4.0, true};
  compare<double>(net, 5, 5, 0.0, 1.5, o, ResidentOptions{4, 32}, 1e-12);
}

TEST_CASE("resident_dopri5 in float agrees with taynode::solve in float", "[taylor][cuda]") {
  auto net = nn::mnist_dynamics<float>(6, 9);
  taynode_test::fill_parameters(net, 5);
  SolveOptions<float> o;
  o.rtol = o.atol = 1e-5f;
  // Float rounding may move a step decision: states only, to the solve's tolerance.
  compare<float>(net, 6, 6, 0.0f, 1.0f, o, ResidentOptions{4, 32}, 1e-4, false);
}

TEST_CASE("resident_dopri5 rejects what it does not support and reports failures as taynode::solve",
          "[taylor][cuda]") {
  auto net = nn::mnist_dynamics<double>(4, 5);
  taynode_test::fill_parameters(net, 2);
  NetworkTaylor<double, Emu> ws(net, 0, 3);
  const auto z0 = backend::to_backend<Emu>(taynode_test::random_state<double>(3, 4, 1));
  Emu::Matrix<double> z1;
  SolveOptions<double> o;
  using K = SolveErrorKind;
  auto run = [&](SolveOptions<double> opt, ResidentOptions r = {}) {
    return [&, opt, r] { resident_dopri5(ws, z0, 0.0, 1.0, z1, opt, r); };
  };
  check_error(run(o, ResidentOptions{3, 32}), K::invalid_argument, "rows_per_block must be 1, 2, 4 or 8");
  check_error(run(o, ResidentOptions{4, 48}), K::invalid_argument, "threads_per_block");
  SolveOptions<double> bad = o;
  bad.atol_per_component.assign(12, 1e-6);
  check_error(run(bad), K::invalid_argument, "per-component tolerances are not supported");
  bad = o;
  bad.step_control = StepControl::jax;
  check_error(run(bad), K::invalid_argument, "only StepControl::hairer");
  bad = o;
  bad.rtol = -1;
  check_error(run(bad), K::invalid_argument, "invalid tolerances");
  bad = o;
  bad.max_steps = 2;
  check_error(run(bad), K::max_steps_exceeded, "more than max_steps = 2");
  check_error([&] { resident_dopri5(ws, z0, 0.0, 0.0, z1, o); }, K::invalid_argument, "empty time span");

  const auto wrong = backend::to_backend<Emu>(taynode_test::random_state<double>(2, 4, 1));
  check_error([&] { resident_dopri5(ws, wrong, 0.0, 1.0, z1, o); }, K::invalid_argument, "z0 is 2 x 4");
  Rows<double> nan_state = taynode_test::random_state<double>(3, 4, 1);
  nan_state(1, 2) = std::nan("");
  const auto z_nan = backend::to_backend<Emu>(nan_state);
  check_error([&] { resident_dopri5(ws, z_nan, 0.0, 1.0, z1, o); }, K::non_finite, "non-finite initial state");

  auto squash = nn::ffjord_dynamics<double>(4, {5});
  NetworkTaylor<double, Emu> wsq(squash, 0, 3);
  check_error([&] { resident_dopri5(wsq, z0, 0.0, 1.0, z1, o); }, K::invalid_argument,
              "layer 0 is not Linear, ConcatLinear, Sigmoid, Tanh or Softplus");
}

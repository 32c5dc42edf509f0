// VectorSpace<backend::Matrix<T, B>> (ode/backend_vector_space.hpp): taynode::solve on states in a
// backend's memory. On the guarded test backend (tests/backend/guarded_backend.hpp) a solve of
// the MNIST-shaped network dynamics must equal the same solve on backend::Cpu (Eigen states) bit
// for bit — RK4 on a fixed grid, and Dopri5 and Tsit5 adaptive (the error norms, and so every
// step-size decision, identical) — with the same statistics; the norms and the finiteness check
// alone against the Eigen VectorSpace.

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "../backend/compare.hpp"
#include "../series/generic_network.hpp"
#include "taynode/ode.hpp"
#include "taynode/ode/backend_vector_space.hpp"
#include "taynode/taylor/network_taylor.hpp"

using namespace taynode;
using taynode_test::Guarded;
using taynode_test::guarded_stats;
using taynode_test::same_bits_as_guarded;
using RowMatrix = nn::RowMatrix<double>;
using GMat = Guarded::Matrix<double>;

namespace {
template <class Method>
void compare_solves(const SolveOptions<double>& options) {
  auto net = nn::mnist_dynamics<double>(6, 5);
  taynode_test::fill_parameters(net, 8);
  const Index batch = 3;
  const RowMatrix z0 = taynode_test::random_state<double>(batch, 6, 9);
  NetworkTaylor<double> ws(net, 1, batch);
  NetworkTaylor<double, Guarded> wsg(net, 1, batch);
  auto f = [&](double t, const RowMatrix& y, RowMatrix& dy) { dy = ws.evaluate(t, y); };
  auto fg = [&](double t, const GMat& y, GMat& dy) { backend::assign<Guarded>(dy, wsg.evaluate(t, y)); };
  const auto a = solve(f, z0, std::vector<double>{0.0, 0.5, 1.0}, Method{}, options);
  const auto b = solve(fg, backend::to_backend<Guarded>(z0), std::vector<double>{0.0, 0.5, 1.0}, Method{}, options);
  REQUIRE(a.y.size() == b.y.size());
  for (std::size_t i = 0; i < a.y.size(); ++i) CHECK(same_bits_as_guarded(a.y[i], b.y[i]));
  CHECK(a.stats.nfe == b.stats.nfe);
  CHECK(a.stats.accepted_steps == b.stats.accepted_steps);
  CHECK(a.stats.rejected_steps == b.stats.rejected_steps);
}
}  // namespace

TEST_CASE("solve on the guarded backend equals backend::Cpu bit for bit", "[ode][backend]") {
  guarded_stats().reset_counts();
  const long live = guarded_stats().live;
  SECTION("RK4, fixed grid") {
    SolveOptions<double> o;
    o.fixed_steps = 7;
    compare_solves<RK4>(o);
  }
  SECTION("Dopri5, adaptive") {
    SolveOptions<double> o;
    o.rtol = o.atol = 1e-7;
    compare_solves<Dopri5>(o);
  }
  SECTION("Tsit5, adaptive") {
    SolveOptions<double> o;
    o.rtol = o.atol = 1e-9;
    compare_solves<Tsit5>(o);
  }
  CHECK(guarded_stats().count("sum") + guarded_stats().count("for_each") > 0);
  taynode_test::check_guards();
  taynode_test::check_no_leak(live);
}

TEST_CASE("VectorSpace on backend matrices: norms and finiteness as the Eigen path", "[ode][backend]") {
  using VE = VectorSpace<RowMatrix>;
  using VG = VectorSpace<GMat>;
  const RowMatrix x = taynode_test::random_state<double>(4, 37, 1), y = taynode_test::random_state<double>(4, 37, 2);
  const GMat xg = backend::to_backend<Guarded>(x), yg = backend::to_backend<Guarded>(y);
  Tolerances<double> tol{1e-6, 1e-8};
  CHECK(VE::scaled_sq_norm(x, y, tol) == VG::scaled_sq_norm(xg, yg, tol));
  CHECK(VE::scaled_sq_norm_diff(x, y, x, tol) == VG::scaled_sq_norm_diff(xg, yg, xg, tol));
  const std::array<double, 2> c{0.25, -1.5};
  CHECK(VE::error_sq_sum(x, y, 0.1, tol, c, x, y) == VG::error_sq_sum(xg, yg, 0.1, tol, c, xg, yg));
  CHECK(VG::all_finite(xg));
  RowMatrix bad = x;
  bad(2, 5) = std::numeric_limits<double>::infinity();
  CHECK_FALSE(VG::all_finite(backend::to_backend<Guarded>(bad)));
  bad(2, 5) = std::nan("");
  CHECK_FALSE(VG::all_finite(backend::to_backend<Guarded>(bad)));
  const double rt[1] = {1e-6};
  tol.rtol_vec = rt;
  CHECK_THROWS_AS(VG::scaled_sq_norm(xg, yg, tol), std::invalid_argument);
}

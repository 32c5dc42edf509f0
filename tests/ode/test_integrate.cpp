// The integration loop with controller objects (solve(f, y0, times, Method{}, controller,
// options)) and the reverse of one step (RungeKuttaStepAdjoint). Truth: the options-driven solves
// the controllers must reproduce bit for bit, a recorded adaptive run replayed step by step, and
// the Jacobian of one forward step, column by column.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "taynode/ode.hpp"

using namespace taynode;

namespace {

// A nonlinear oscillator with a time-dependent force.
struct Forced {
  template <class V>
  void operator()(double t, const V& y, V& f) const {
    f(0) = y(1);
    f(1) = -y(0) - 0.3 * y(1) * y(1) * y(1) + 0.5 * std::sin(t);
  }
};

template <class V>
bool same_bits(const V& a, const V& b) {
  if (a.size() != b.size()) return false;
  for (Eigen::Index i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint64_t>(a(i)) != std::bit_cast<std::uint64_t>(b(i))) return false;
  return true;
}

SolveErrorKind kind_of(auto&& run) {
  try {
    run();
  } catch (const SolveError& e) {
    return e.kind();
  }
  FAIL("no SolveError thrown");
  return SolveErrorKind::invalid_argument;
}

}  // namespace

TEST_CASE("controller objects reproduce the option-driven solves bit for bit", "[ode][integrate]") {
  const Eigen::Vector2d y0(1.0, 0.0);
  const std::vector<double> times{0.0, 1.3, 4.0, 7.5};
  SolveOptions<double> o;
  o.rtol = o.atol = 1e-8;

  HairerController<double> hairer;
  hairer.control = PIController<double>{0.8, 0.25, 4.0, 0.08, 0.0, true};
  hairer.max_step = 0.5;
  SolveOptions<double> oh = o;
  oh.controller = hairer.control;
  oh.max_step = 0.5;
  const auto a = solve(Forced{}, y0, times, Dop853{}, hairer, o);
  const auto b = solve(Forced{}, y0, times, Dop853{}, oh);
  REQUIRE(a.y.size() == times.size());
  for (std::size_t i = 0; i < times.size(); ++i) CHECK(same_bits(a.y[i], b.y[i]));
  CHECK(a.stats.nfe == b.stats.nfe);
  CHECK(a.stats.attempted_steps == b.stats.attempted_steps);

  SolveOptions<double> oj = o;
  oj.step_control = StepControl::jax;
  const auto j = solve(Forced{}, y0, times, Dopri5{}, JaxController<double>{}, o);
  const auto k = solve(Forced{}, y0, times, Dopri5{}, oj);
  for (std::size_t i = 0; i < times.size(); ++i) CHECK(same_bits(j.y[i], k.y[i]));
  CHECK(j.stats.nfe == k.stats.nfe);

  SolveOptions<double> og = o;
  og.fixed_steps = 23;
  const auto g = solve(Forced{}, y0, times, RK4{}, ConstantStepController<double>::count(23), o);
  const auto h = solve(Forced{}, y0, times, RK4{}, og);
  for (std::size_t i = 0; i < times.size(); ++i) CHECK(same_bits(g.y[i], h.y[i]));
  CHECK(g.stats.nfe == h.stats.nfe);
}

TEST_CASE("step replay re-runs a recorded adaptive solve exactly", "[ode][integrate]") {
  const Eigen::Vector2d y0(1.0, 0.0);
  for (const double t1 : {6.0, -1.5}) {  // backward: the cubic term grows, keep it short
    SolveOptions<double> o;
    o.rtol = o.atol = 1e-7;
    o.record_step_sizes = true;
    const auto adaptive = solve(Forced{}, y0, {0.0, t1}, Dopri5{}, o);
    // The times as the adaptive loop forms them: t + h, the last one t1 exactly.
    std::vector<double> t{0.0};
    const auto& h = adaptive.stats.step_sizes;
    for (std::size_t n = 0; n < h.size(); ++n) t.push_back(n + 1 == h.size() ? t1 : t.back() + h[n]);
    SolveOptions<double> plain;
    const auto replay = solve(Forced{}, y0, {0.0, t1}, Dopri5{}, StepReplayController<double>(t, h), plain);
    CHECK(same_bits(replay.final_state(), adaptive.final_state()));
    CHECK(replay.stats.accepted_steps == adaptive.stats.accepted_steps);
    CHECK(replay.stats.rejected_steps == 0);
    CHECK(replay.stats.nfe == 1 + 6 * h.size());
  }
}

TEST_CASE("controller objects are checked", "[ode][integrate][errors]") {
  const Eigen::Vector2d y0(1.0, 0.0);
  SolveOptions<double> grid;
  grid.fixed_steps = 4;  // belongs to the controller now
  CHECK(kind_of([&] { solve(Forced{}, y0, {0.0, 1.0}, Dopri5{}, HairerController<double>{}, grid); }) ==
        SolveErrorKind::invalid_argument);
  const std::vector<double> t{0.0, 0.5, 1.0}, h{0.5, 0.5};
  // The replayed steps must span the requested times.
  CHECK(kind_of([&] { solve(Forced{}, y0, {0.0, 2.0}, RK4{}, StepReplayController<double>(t, h)); }) ==
        SolveErrorKind::invalid_argument);
  SolveOptions<double> few;
  few.max_steps = 1;
  CHECK(kind_of([&] { solve(Forced{}, y0, {0.0, 1.0}, RK4{}, StepReplayController<double>(t, h), few); }) ==
        SolveErrorKind::max_steps_exceeded);
  CHECK(kind_of([&] { solve(Forced{}, y0, {0.0, 1.0}, RK4{}, ConstantStepController<double>{}); }) ==
        SolveErrorKind::invalid_argument);
  CHECK(kind_of([&] { solve(Forced{}, y0, {0.0, 1.0}, RK4{}, HairerController<double>{}); }) ==
        SolveErrorKind::invalid_argument);  // RK4 has no error estimate
  // A replay raises on a non-finite state unless told not to check.
  auto blows_up = [](double tt, const Eigen::Vector2d& y) {
    return Eigen::Vector2d(tt > 0.4 ? std::numeric_limits<double>::infinity() : y(1), -y(0));
  };
  CHECK(kind_of([&] { solve(blows_up, y0, {0.0, 1.0}, RK4{}, StepReplayController<double>(t, h)); }) ==
        SolveErrorKind::non_finite);
  const auto unchecked = solve(blows_up, y0, {0.0, 1.0}, RK4{}, StepReplayController<double>(t, h, false));
  CHECK(!unchecked.final_state().allFinite());
}

// The reverse of one step is the transpose of the step's Jacobian: for y' = f(t, y), one step
// y1 = Φ(y0) of the forward stepper, and a cotangent ȳ1, RungeKuttaStepAdjoint gives
// ȳ0 = (∂Φ/∂y0)ᵀ ȳ1. Truth: ∂Φ/∂y0 by central differences of the forward stepper itself.
template <class Method>
void check_step_adjoint() {
  using V = Eigen::VectorXd;
  const int n = 3;
  auto f = [](double t, const V& y, V& dy) {
    dy.resize(3);
    dy(0) = std::sin(y(1)) + 0.2 * t;
    dy(1) = y(0) * y(2) - 0.5 * y(1);
    dy(2) = -y(0) * y(0) + std::cos(t) * y(2);
  };
  // VJP: (∂f/∂y)ᵀ k̄.
  auto vjp = [](double t, const V& y, const V& kb, V& yb) {
    yb.resize(3);
    yb(0) = kb(1) * y(2) - 2 * y(0) * kb(2);
    yb(1) = std::cos(y(1)) * kb(0) - 0.5 * kb(1);
    yb(2) = kb(1) * y(0) + std::cos(t) * kb(2);
  };
  const double t = 0.3, h = 0.2;
  V y0(n), ybar1(n);
  y0 << 0.7, -0.4, 1.1;
  ybar1 << 0.3, -1.2, 0.8;
  auto step = [&](const V& y) {
    RungeKuttaStepper<Method, V> st;
    st.init(y);
    f(t, y, st.stage0());
    st.step(f, t, y, h);
    return V(st.y1());
  };
  V want = V::Zero(n);
  for (int i = 0; i < n; ++i) {
    const double eps = 1e-6;
    V yp = y0, ym = y0;
    yp(i) += eps;
    ym(i) -= eps;
    want(i) = ybar1.dot((step(yp) - step(ym)) / (2 * eps));
  }
  RungeKuttaStepAdjoint<Method, V> adj;
  adj.init(y0);
  V ybar = ybar1;
  const std::size_t evaluations = adj.recompute(f, t, y0, h);
  const std::size_t vjps = adj.reverse(vjp, t, y0, h, ybar);
  INFO(Method::name << ": " << ybar.transpose() << " vs " << want.transpose());
  CHECK((ybar - want).norm() <= 1e-8 * want.norm());
  // Every stage that enters y1 gets a VJP; Dopri5's FSAL stage does not.
  std::size_t used = 0;
  for (std::size_t i = 0; i < Method::stages; ++i) used += ode_detail::StageUse<Method>::needed[i];
  CHECK(vjps == used);
  CHECK(evaluations < used);  // the last used stage's k feeds no later stage
  if constexpr (Method::fsal) CHECK(used == Method::stages - 1);
}

TEST_CASE("the reverse of a step is the transpose of its Jacobian", "[ode][integrate][adjoint]") {
  check_step_adjoint<Euler>();
  check_step_adjoint<Heun>();
  check_step_adjoint<RK4>();
  check_step_adjoint<BogackiShampine>();
  check_step_adjoint<Dopri5>();
  check_step_adjoint<Tsit5>();
  check_step_adjoint<Dop853>();
}

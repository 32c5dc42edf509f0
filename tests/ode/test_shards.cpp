// SolveOptions::shards (ShardReduction, ode/vector_space.hpp): one system split into shards, each
// solved by its own thread (standing in for an MPI rank), every reduction of the integration loop
// summed over the shards through a barrier. Truth: the joint solve of the whole system in one
// call — the same accepted and rejected steps, the same NFE, the same result up to the order in
// which the error norm's partial sums are added — and the closed-form solution.
#include <catch2/catch.hpp>

#include <array>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <thread>
#include <vector>

#include <Eigen/Core>

#include "taynode/ode.hpp"

using namespace taynode;
using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

// The sum over two shards: each thread posts its values, both add them in the same order.
class TwoShardSum {
 public:
  ShardReduction shard(int who) {
    return {[this, who](double* x, std::size_t n) {
      posted_[std::size_t(who)].assign(x, x + n);
      sync_.arrive_and_wait();
      for (std::size_t i = 0; i < n; ++i) x[i] = posted_[0][i] + posted_[1][i];
      ++calls_[std::size_t(who)];
      sync_.arrive_and_wait();  // both have read before either posts again
    }};
  }
  std::size_t calls(int who) const { return calls_[std::size_t(who)]; }

 private:
  std::barrier<> sync_{2};
  std::array<std::vector<double>, 2> posted_;
  std::array<std::size_t, 2> calls_{0, 0};
};

// Rows y_b' = −a_b y_b + sin(t): rates spread over two decades, so the fast rows (all in shard 1)
// set the step size, and a shard alone would take other steps.
Mat rates(Eigen::Index rows, Eigen::Index cols) {
  Mat a(rows, cols);
  for (Eigen::Index b = 0; b < rows; ++b)
    for (Eigen::Index j = 0; j < cols; ++j) a(b, j) = 0.5 * std::pow(10.0, 2.0 * double(b) / double(rows - 1)) + 0.1 * double(j);
  return a;
}

// Rows y_b' = −rate_b y_b + sin(t).
auto rhs_of(const Mat& rate) {
  return [rate](double t, const Mat& y, Mat& dy) { dy = (-rate.array() * y.array() + std::sin(t)).matrix(); };
}

// The system (rates a, y0) split after row `split` into two shards, each solved by its own
// thread with options o and its ShardReduction of `sum`.
template <class Method>
std::array<Solution<Mat, double>, 2> solve_in_two_shards(TwoShardSum& sum, const Mat& a, const Mat& y0,
                                                          Eigen::Index split, const std::vector<double>& times,
                                                          Method method, const SolveOptions<double>& o) {
  std::array<ShardReduction, 2> shards{sum.shard(0), sum.shard(1)};
  std::array<Solution<Mat, double>, 2> part;
  const Eigen::Index rest = a.rows() - split;
  std::array<Mat, 2> a_part{a.topRows(split), a.bottomRows(rest)};
  std::array<Mat, 2> y_part{y0.topRows(split), y0.bottomRows(rest)};
  auto run = [&](int who) {
    SolveOptions<double> mine = o;
    mine.shards = &shards[std::size_t(who)];
    part[std::size_t(who)] = solve(rhs_of(a_part[std::size_t(who)]), y_part[std::size_t(who)], times, method, mine);
  };
  std::thread other(run, 1);
  run(0);
  other.join();
  return part;
}

}  // namespace

TEST_CASE("SolveOptions::shards: shards solved apart take the joint system's steps", "[ode][shards]") {
  const Eigen::Index rows = 6, cols = 3, split = 2;  // shard 0: rows 0–1, shard 1: rows 2–5
  const Mat a = rates(rows, cols);
  const Mat y0 = Mat::Constant(rows, cols, 1.0);
  for (const auto control : {StepControl::hairer, StepControl::jax}) {
    INFO((control == StepControl::hairer ? "Hairer's controller" : "the reference's dopri5 controller"));
    SolveOptions<double> o;
    o.rtol = o.atol = 1e-7;
    o.step_control = control;
    const auto joint = solve(rhs_of(a), y0, std::vector<double>{0.0, 0.5, 2.0}, Dopri5{}, o);

    TwoShardSum sum;
    const auto part = solve_in_two_shards(sum, a, y0, split, {0.0, 0.5, 2.0}, Dopri5{}, o);

    for (int who : {0, 1}) {
      INFO("shard " << who);
      const auto& p = part[std::size_t(who)];
      CHECK(p.stats.nfe == joint.stats.nfe);
      CHECK(p.stats.accepted_steps == joint.stats.accepted_steps);
      CHECK(p.stats.rejected_steps == joint.stats.rejected_steps);
      const Mat want = who == 0 ? Mat(joint.y.back().topRows(split)) : Mat(joint.y.back().bottomRows(rows - split));
      CHECK((p.y.back() - want).cwiseAbs().maxCoeff() <= 1e-14);
      CHECK((p.y[1] - (who == 0 ? Mat(joint.y[1].topRows(split)) : Mat(joint.y[1].bottomRows(rows - split))))
                .cwiseAbs()
                .maxCoeff() <= 1e-14);
      // One reduction per step attempt, plus the count, the two finiteness checks of y0 and
      // f(y0), the initial step's norms (‖y0‖ and ‖f0‖ in one, then ‖f1 − f0‖) and the final check.
      CHECK(sum.calls(who) == joint.stats.attempted_steps + 6);
    }
    // The closed form at t = 2 within the tolerance's reach: y = e^{−at}(1 + ∫₀ᵗ e^{as} sin s ds).
    const double t = 2.0;
    double worst = 0;
    for (Eigen::Index b = 0; b < rows; ++b)
      for (Eigen::Index j = 0; j < cols; ++j) {
        const double r = a(b, j);
        const double integral = (std::exp(r * t) * (r * std::sin(t) - std::cos(t)) + 1.0) / (r * r + 1.0);
        const double want = std::exp(-r * t) * (1.0 + integral);
        worst = std::max(worst, std::abs(joint.y.back()(b, j) - want));
      }
    CHECK(worst <= 1e-5);

    // The premise: on its own, the slow shard takes fewer steps.
    const auto alone = solve(rhs_of(Mat(a.topRows(split))), Mat(y0.topRows(split)), std::vector<double>{0.0, 0.5, 2.0}, Dopri5{}, o);
    CHECK(alone.stats.nfe < joint.stats.nfe);
  }
}

TEST_CASE("SolveOptions::shards: a fixed grid reduces only its finiteness checks", "[ode][shards]") {
  // No error norm, so no count of components and no per-step reduction: the finiteness checks of
  // y0, f(y0) and the result are the only collectives of the whole solve.
  const Eigen::Index rows = 4, cols = 2, split = 1;
  const Mat a = rates(rows, cols);
  const Mat y0 = Mat::Constant(rows, cols, 1.0);
  SolveOptions<double> o;
  o.fixed_steps = 8;
  const auto joint = solve(rhs_of(a), y0, std::vector<double>{0.0, 1.0}, RK4{}, o);
  TwoShardSum sum;
  const auto part = solve_in_two_shards(sum, a, y0, split, {0.0, 1.0}, RK4{}, o);
  for (int who : {0, 1}) {
    INFO("shard " << who);
    CHECK(sum.calls(who) == 3);
    CHECK(part[std::size_t(who)].stats.nfe == joint.stats.nfe);
    const Mat want = who == 0 ? Mat(joint.y.back().topRows(split)) : Mat(joint.y.back().bottomRows(rows - split));
    CHECK(part[std::size_t(who)].y.back() == want);  // rows are independent: the same arithmetic
  }
}

TEST_CASE("SolveOptions::shards: a non-finite shard stops every shard", "[ode][shards]") {
  // Shard 1's state is NaN: the initial finiteness check is summed over the shards, so shard 0
  // fails too (instead of waiting in its next reduction for a shard that has thrown).
  TwoShardSum sum;
  std::array<ShardReduction, 2> shards{sum.shard(0), sum.shard(1)};
  std::array<SolveErrorKind, 2> kind{SolveErrorKind::invalid_argument, SolveErrorKind::invalid_argument};
  std::array<bool, 2> threw{false, false};
  auto run = [&](int who) {
    SolveOptions<double> o;
    o.shards = &shards[std::size_t(who)];
    Mat y0 = Mat::Ones(2, 2);
    if (who == 1) y0(1, 0) = std::nan("");
    try {
      (void)solve([](double, const Mat& y, Mat& dy) { dy = -y; }, y0, std::vector<double>{0.0, 1.0}, Dopri5{}, o);
    } catch (const SolveError& e) {
      threw[std::size_t(who)] = true;
      kind[std::size_t(who)] = e.kind();
    }
  };
  std::thread other(run, 1);
  run(0);
  other.join();
  CHECK(threw[0]);
  CHECK(threw[1]);
  CHECK(kind[0] == SolveErrorKind::non_finite);
  CHECK(kind[1] == SolveErrorKind::non_finite);
}

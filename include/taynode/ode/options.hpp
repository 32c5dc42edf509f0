#pragma once
// What a solve is asked to do (SolveOptions) and what it returns (Solution, SolveStatistics).

#include <cstddef>
#include <variant>
#include <vector>

#include "taynode/ode/controller.hpp"

namespace taynode {

// Which published code's step-size semantics to follow.
enum class StepControl {
  // Hairer's DOPRI5/DOP853: initial step of HNW I II.4 (as coded in HINIT), RMS error norm with
  // sk = atol + rtol·max(|y0|,|y1|), PI control, last step stretched by 1.01 to hit t_end, steps
  // clamped to the final time, intermediate outputs by dense output.
  hairer,
  // The reference code's `dopri5` (jax.experimental.ode of 2020, REFERENCE.md §5): alternative
  // embedded weights (b̂ = 1951/21600, …), initial step with Euclidean norms and order 4, RMS
  // error ratio over all components, JaxStepRule (factor clamps 0.1 / 5 / 1, no memory), no
  // h_max, no clamping to output times (every output, the last included, is the quartic
  // interpolant of the step that crossed it), NFE = 2 + 6·attempts. Dopri5 only; the controller
  // and max_step options must stay at their defaults.
  jax,
};

template <class Real>
struct SolveOptions {
  Real rtol = Real(1e-6);
  Real atol = Real(1e-9);
  // Per-component tolerances, in the state's storage order; empty means use the scalar.
  std::vector<Real> rtol_per_component;
  std::vector<Real> atol_per_component;

  Real first_step = Real(0);    // 0: automatic (Hairer's HINIT, or the reference code's in jax mode)
  Real max_step = Real(0);      // 0: |t_end − t0|
  std::size_t max_steps = 100000;  // step attempts, accepted and rejected

  // Fixed grid: either a number of equal steps over [t0, t_end] or a step size (last step
  // clipped). Required for methods without an error estimate; overrides adaptivity otherwise.
  std::size_t fixed_steps = 0;
  Real fixed_step_size = Real(0);

  std::variant<MethodDefaultController, PIController<Real>, IntegralController<Real>> controller{};
  StepControl step_control = StepControl::hairer;
  // (first_step, max_step, fixed_steps / fixed_step_size, controller and step_control choose and
  // configure the step-size controller; solve() with a controller object takes them from it.)

  // The state is one shard of a system split over processes (ShardReduction, vector_space.hpp;
  // dist::across_ranks for MPI ranks): all shards take the joint system's step sizes. Per-component
  // tolerances then index this shard's components.
  const ShardReduction* shards = nullptr;

  bool record_step_sizes = false;  // fill SolveStatistics::step_sizes with accepted steps
  // Prepare the interpolant on every accepted step (Hairer's IOUT=2), not only on steps that
  // contain an output time; costs DOP853's 3 extra stages per step. Only for NFE parity.
  bool dense_every_step = false;
};

template <class Real>
struct SolveStatistics {
  std::size_t nfe = 0;               // calls of f, all of them
  std::size_t attempted_steps = 0;   // accepted + rejected (Hairer's NSTEP)
  std::size_t accepted_steps = 0;    // Hairer's NACCPT
  std::size_t rejected_steps = 0;    // all rejections
  // Rejections before the first accepted step; Hairer's NREJCT = rejected − initial_rejected.
  std::size_t initial_rejected_steps = 0;
  std::vector<Real> step_sizes;      // accepted step sizes (signed), if requested
};

template <class State, class Real>
struct Solution {
  std::vector<Real> t;   // the requested output times (t[0] = t0)
  std::vector<State> y;  // the state at each of them
  SolveStatistics<Real> stats;

  const State& final_state() const { return y.back(); }
};

}  // namespace taynode

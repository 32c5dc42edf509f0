#pragma once
// Optimize-then-discretize: the continuous adjoint (Chen et al. 2018, App. C) of a network neural
// ODE with the R_K speed regularizer, as the reference computes its gradients (REFERENCE.md §4).
//
// Augmented dynamics F(t, [z, r]; θ) = [f(t, z; θ), g(t, z; θ)], g = (1/D)·||d^K z/dt^K||² per
// example (K = 0: no integrand, r stays 0). For a loss L(z(t1), r(t1)) with cotangents (z̄1, r̄1):
//
//   forward   [z, r] from t0 to t1 (r0 = 0), Method and options as given;
//   backward  the state Y = [z, a, a_θ] from t1 to t0 with the same Method and options:
//               z'   = f(t, z)                       (z re-integrated backward from z(t1); no checkpoints)
//               a'   = −(aᵀ ∂f/∂z + r̄1ᵀ ∂g/∂z)
//               a_θ' = −(aᵀ ∂f/∂θ + r̄1ᵀ ∂g/∂θ)
//             with a(t1) = z̄1, a_θ(t1) = 0. Nothing depends on r, so r's cotangent is the
//             constant r̄1 and is not part of the state. Then dL/dz0 = a(t0), dL/dθ = a_θ(t0).
//
// One backward RHS evaluation = one Taylor pass of order K (K = 0: a plain pass) that gives f,
// followed by the reverse pass of NetworkAdjoint (the VJP of [f, g] with cotangents (a, r̄1)). The
// state is one flat vector [vec z (row-major), vec a, θ̄ flattened in for_each_parameter order];
// the solver's error norm covers all of it, parameter adjoints included (as the reference). The
// backward solve runs with t1 > t0 → t0 directly (taynode::solve integrates backward when the
// span is decreasing); the reference negates time instead, which is the same step sequence in |h|.
//
// Variants:
//   full  forward solves the augmented [z, r] (r in the error norm, as the reference);
//   aux   the reference's "aux/sepaux" trick (MNIST): forward solves the plain dynamics z only
//         (fewer steps), so r1 is NOT computed and is reported as 0; the backward pass is the same
//         augmented adjoint system (R_K integrand VJP in every RHS). Its gradient is the gradient of
//         L(z1, r1) where r1 is the regularizer the full forward would have produced — the
//         backward system does not involve r, only z(t1) (the two forwards' z(t1) differ at the
//         level of the tolerance).
//
// Time gradients: t̄0, t̄1 and the t-adjoint are not computed (dropped; the reference computes and
// discards them). NetworkAdjoint's t_bar() is ignored.
//
// Not supported: per-component tolerances (the backward state has a different size),
// fixed_step_size (use fixed_steps: the backward pass then takes the same number of steps).
//
// API (docs/ad.md, "The continuous adjoint"):
//   adjoint_solve(ws, adj, z0, t0, t1, K, Method{}, options, z̄1, r̄1, AdjointVariant::full)
// and, generic over any GradientDynamics (ad/dynamics.hpp), adjoint_detail::forward / backward,
// which ad::solve_gradient runs with the loss head in between.
//     → AdjointResult{z1, r1, z0_bar, theta_bar, nfe_forward, nfe_backward, forward_stats, backward_stats}

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "taynode/ad/dynamics.hpp"
#include "taynode/ad/network_adjoint.hpp"
#include "taynode/ad/regularizer.hpp"
#include "taynode/ad/solve_backprop.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/ode/augmented.hpp"
#include "taynode/ode/solve.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::ad {

enum class AdjointVariant { full, aux };

template <class T, class B = backend::Cpu>
struct AdjointResult {
  typename B::template Matrix<T> z1;      // batch × D (the forward solve's)
  typename B::template Vector<T> r1;      // batch; 0 for K = 0 and for the aux variant
  typename B::template Matrix<T> z0_bar;  // dL/dz0
  nn::Sequential<T> theta_bar;            // dL/dθ, shaped like the network (host)
  std::size_t nfe_forward = 0;   // evaluations of the forward dynamics
  std::size_t nfe_backward = 0;  // evaluations of the backward RHS (each: pass + VJP)
  SolveStatistics<T> forward_stats;
  SolveStatistics<T> backward_stats;
};

namespace adjoint_detail {

template <class T>
void check_options(const SolveOptions<T>& options) {
  if (!options.rtol_per_component.empty() || !options.atol_per_component.empty())
    throw std::invalid_argument("taynode::ad::adjoint_solve: per-component tolerances unsupported");
  if (options.fixed_step_size != T(0))
    throw std::invalid_argument("taynode::ad::adjoint_solve: fixed_step_size unsupported; use fixed_steps");
}

// The forward solve of [z, r] over `times` (t0, output times, t1; r integrated and in the error
// norm for the full variant of an active integrand; otherwise r stays 0 outside it): fills
// res.z1, res.r1 (at t1), res.forward_stats, res.nfe_forward, and *z_inside (if not null) with z
// at the output times strictly inside the span, by dense output as taynode::solve reports them.
template <class Method, GradientDynamics D>
void forward(D& d, const typename D::Matrix& z0, const std::vector<typename D::Real>& times,
             const SolveOptions<typename D::Real>& options, AdjointVariant variant,
             AdjointResult<typename D::Real, typename D::Backend>& res,
             std::vector<typename D::Matrix>* z_inside = nullptr) {
  using T = typename D::Real;
  using S = solve_backprop_detail::State<D>;
  const bool with_integrand = variant == AdjointVariant::full && d.integrand_active();
  auto rhs = [&](T t, const S& y, S& dy) {
    if (with_integrand) {
      d.evaluate(t, y.z, dy.z, dy.r);
    } else {
      d.evaluate(t, y.z, dy.z);
      D::Backend::fill(dy.r.size(), T(0), dy.r.data());
    }
  };
  auto sol = solve(rhs, S{z0, solve_backprop_detail::zero_vector(d), with_integrand}, times, Method{}, options);
  if (z_inside)
    for (std::size_t i = 1; i + 1 < sol.y.size(); ++i) z_inside->push_back(std::move(sol.y[i].z));
  res.z1 = std::move(sol.y.back().z);
  res.r1 = std::move(sol.y.back().r);
  res.forward_stats = std::move(sol.stats);
  res.nfe_forward = res.forward_stats.nfe;
}

// The backward solve of Y = [[z, a], a_θ] from t1 to t0, starting at z(t1) = res.z1 with
// a(t1) = z̄1: fills res.z0_bar, res.theta_bar, res.backward_stats, res.nfe_backward. With output
// times inside the span (times = t0, t_1, …, t1; z_inside, z_inside_bar: z and ∂L/∂z at
// t_1 … t_{n−1}) it runs in segments t_n → t_{n−1} → … → t0, one solve each (Method, options;
// a fresh initial step per segment); at each t_i inside, a jumps by ∂L/∂z(t_i) and z restarts
// from the forward's z(t_i) (as torchdiffeq's odeint_adjoint: the backward re-integration of z
// does not drift across segments). The integrand's cotangent r̄ acts over the whole span. The
// statistics are summed over the segments (step_sizes concatenated).
template <class Method, GradientDynamics D>
void backward(D& d, const std::vector<typename D::Real>& times, const SolveOptions<typename D::Real>& options,
              const typename D::Matrix& z1_bar, const typename D::Vector& r1_bar,
              AdjointResult<typename D::Real, typename D::Backend>& res,
              const std::vector<typename D::Matrix>& z_inside = {},
              const std::vector<typename D::Matrix>& z_inside_bar = {}) {
  using T = typename D::Real;
  using B = typename D::Backend;
  using Mat = typename D::Matrix;
  using Vec = typename D::Vector;
  using Y = Augmented<Augmented<Mat, Mat>, Vec>;
  solve_backprop_detail::check_state(d, z1_bar, "adjoint_solve", "z1_bar");
  solve_backprop_detail::check_integrand(d, r1_bar, "adjoint_solve");
  const std::size_t n = times.size() - 1;
  if (z_inside.size() + 1 != n || z_inside_bar.size() + 1 != n)
    throw std::invalid_argument("taynode::ad::adjoint_solve: one state and one cotangent per output time inside the span");
  const Index P = Index(d.parameter_count());
  Vec theta0(P);
  B::fill(P, T(0), theta0.data());
  auto rhs = [&](T t, const Y& y, Y& dy) {
    d.vjp(t, y.z.z, y.z.r, r1_bar, false, &dy.z.z);  // f(t, z) and the VJP with (a, r̄1)
    const auto zb = d.z_bar();
    backend::assign<B>(dy.z.r, backend::MatrixView<const T>(zb.data(), zb.rows(), zb.cols()));
    B::scale(dy.z.r.size(), T(-1), dy.z.r.data());  // a' = −(aᵀ ∂f/∂z + r̄1ᵀ ∂g/∂z)
    d.store_gradient(dy.r.data(), T(-1));            // a_θ' = −(aᵀ ∂f/∂θ + r̄1ᵀ ∂g/∂θ)
  };
  Y y{{res.z1, z1_bar, true}, std::move(theta0), true};
  res.backward_stats = {};
  for (std::size_t i = n; i >= 1; --i) {
    auto sol = solve(rhs, y, std::vector<T>{times[i], times[i - 1]}, Method{}, options);
    y = std::move(sol.y.back());
    auto& total = res.backward_stats;
    total.nfe += sol.stats.nfe;
    total.attempted_steps += sol.stats.attempted_steps;
    total.accepted_steps += sol.stats.accepted_steps;
    total.rejected_steps += sol.stats.rejected_steps;
    total.initial_rejected_steps += sol.stats.initial_rejected_steps;
    total.step_sizes.insert(total.step_sizes.end(), sol.stats.step_sizes.begin(), sol.stats.step_sizes.end());
    if (i > 1) {  // the jump at t_{i−1}: a += ∂L/∂z(t_{i−1}), z from the forward
      y.z.z = z_inside[i - 2];
      const Mat& jump = z_inside_bar[i - 2];
      solve_backprop_detail::check_state(d, jump, "adjoint_solve", "z_bar");
      B::axpy(Index(jump.size()), T(1), jump.data(), y.z.r.data());
    }
  }
  res.z0_bar = std::move(y.z.r);
  // θ̄ on the host, shaped like the network.
  res.theta_bar = d.gradient();
  std::vector<T> flat(static_cast<std::size_t>(P));
  B::download(P, y.r.data(), flat.data());
  std::size_t k = 0;
  nn::for_each_parameter(res.theta_bar, [&](auto& p) {
    for (Index i = 0; i < p.size(); ++i) p.data()[i] = flat[k + std::size_t(i)];
    k += std::size_t(p.size());
  });
  res.nfe_backward = res.backward_stats.nfe;
}

}  // namespace adjoint_detail

template <class T, class B, class Method>
AdjointResult<T, B> adjoint_solve(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj,
                                  const typename B::template Matrix<T>& z0, T t0, T t1, int K, Method,
                                  const SolveOptions<T>& options, const typename B::template Matrix<T>& z1_bar,
                                  const typename B::template Vector<T>& r1_bar,
                                  AdjointVariant variant = AdjointVariant::full) {
  namespace bp = solve_backprop_detail;
  bp::check_order(ws, K, "adjoint_solve");
  NetworkDynamics<T, B> dyn(ws, adj, TaylorRegularizer<T>{K});
  bp::check_state(dyn, z0, "adjoint_solve");
  adjoint_detail::check_options(options);
  bp::check_state(dyn, z1_bar, "adjoint_solve", "z1_bar");
  bp::check_integrand(dyn, r1_bar, "adjoint_solve");
  AdjointResult<T, B> res;
  const std::vector<T> span{t0, t1};
  adjoint_detail::forward<Method>(dyn, z0, span, options, variant, res);
  adjoint_detail::backward<Method>(dyn, span, options, z1_bar, r1_bar, res);
  return res;
}

}  // namespace taynode::ad

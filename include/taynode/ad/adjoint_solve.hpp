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
//     → AdjointResult{z1, r1, z0_bar, theta_bar, nfe_forward, nfe_backward, forward_stats, backward_stats}

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "taynode/ad/network_adjoint.hpp"
#include "taynode/ad/regularizer.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/ode/augmented.hpp"
#include "taynode/ode/solve.hpp"
#include "taynode/reg/integrands.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::ad {

enum class AdjointVariant { full, aux };

template <class T>
struct AdjointResult {
  nn::RowMatrix<T> z1;          // batch × D (the forward solve's)
  nn::Vector<T> r1;             // batch; 0 for K = 0 and for the aux variant
  nn::RowMatrix<T> z0_bar;      // dL/dz0
  nn::Sequential<T> theta_bar;  // dL/dθ, shaped like the network
  std::size_t nfe_forward = 0;   // evaluations of the forward dynamics
  std::size_t nfe_backward = 0;  // evaluations of the backward RHS (each: pass + VJP)
  SolveStatistics<T> forward_stats;
  SolveStatistics<T> backward_stats;
};

namespace adjoint_detail {

// θ̄ of a Sequential → contiguous segment (for_each_parameter order), and back.
template <class T>
void flatten_into(const nn::Sequential<T>& g, T* out) {
  Index k = 0;
  nn::for_each_parameter(g, [&](const auto& p) {
    for (Index i = 0; i < p.size(); ++i) out[k + i] = p.data()[i];
    k += p.size();
  });
}
template <class T>
void unflatten_from(const T* in, nn::Sequential<T>& g) {
  Index k = 0;
  nn::for_each_parameter(g, [&](auto& p) {
    for (Index i = 0; i < p.size(); ++i) p.data()[i] = in[k + i];
    k += p.size();
  });
}

template <class T, class DZ>
void check_arguments(const NetworkTaylor<T>& ws, const Eigen::MatrixBase<DZ>& z0, int K, const SolveOptions<T>& options) {
  if (z0.rows() != ws.batch() || z0.cols() != ws.dim())
    throw std::invalid_argument("taynode::ad::adjoint_solve: z0 must be batch × dim of the workspace");
  if (K < 0 || K > ws.max_order()) throw std::invalid_argument("taynode::ad::adjoint_solve: 0 <= K <= ws.max_order()");
  if (!options.rtol_per_component.empty() || !options.atol_per_component.empty())
    throw std::invalid_argument("taynode::ad::adjoint_solve: per-component tolerances unsupported");
  if (options.fixed_step_size != T(0))
    throw std::invalid_argument("taynode::ad::adjoint_solve: fixed_step_size unsupported; use fixed_steps");
}

// The forward solve: fills res.z1, res.r1, res.forward_stats, res.nfe_forward.
template <class T, class DZ, class Method, class Reg>
void forward(NetworkTaylor<T>& ws, const Eigen::MatrixBase<DZ>& z0, T t0, T t1, const Reg& g, Method method,
             const SolveOptions<T>& options, AdjointVariant variant, AdjointResult<T>& res) {
  using Mat = nn::RowMatrix<T>;
  using Vec = nn::Vector<T>;
  const Index B = ws.batch(), D = ws.dim();
  if (variant == AdjointVariant::full && g.active()) {
    using A = Augmented<Mat, Vec>;
    auto rhs = [&](T t, const A& y, A& dy) {
      dy.z.resize(B, D);
      dy.r.resize(B);
      g.evaluate(ws, t, y.z, dy.z, dy.r);
    };
    auto sol = solve(rhs, A{Mat(z0), Vec::Zero(B), true}, std::vector<T>{t0, t1}, method, options);
    res.z1 = sol.final_state().z;
    res.r1 = sol.final_state().r;
    res.forward_stats = std::move(sol.stats);
  } else {
    // K = 0 (r' = 0, the plain solve is the augmented one) or the aux variant.
    auto rhs = [&](T t, const Mat& y, Mat& dy) { dy = ws.evaluate(t, y); };
    auto sol = solve(rhs, Mat(z0), std::vector<T>{t0, t1}, method, options);
    res.z1 = sol.final_state();
    res.r1 = Vec::Zero(B);
    res.forward_stats = std::move(sol.stats);
  }
  res.nfe_forward = res.forward_stats.nfe;
}

// The backward solve of Y = [z, a, a_θ] from t1 to t0, starting at z(t1) = res.z1: fills
// res.z0_bar, res.theta_bar, res.backward_stats, res.nfe_backward.
template <class T, class Method, class Reg, class DZB, class DRB>
void backward(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, T t0, T t1, const Reg& g, Method method,
              const SolveOptions<T>& options, const Eigen::MatrixBase<DZB>& z1_bar, const Eigen::MatrixBase<DRB>& r1_bar,
              AdjointResult<T>& res) {
  using Mat = nn::RowMatrix<T>;
  using Vec = nn::Vector<T>;
  const Index B = ws.batch(), D = ws.dim();
  if (z1_bar.rows() != B || z1_bar.cols() != D || r1_bar.size() != B)
    throw std::invalid_argument("taynode::ad::adjoint_solve: z1_bar is batch × dim, r1_bar has batch entries");
  const Index BD = B * D;
  const Index P = Index(ws.network().parameter_count());
  const Vec rbar = r1_bar;
  Vec Y0(2 * BD + P);
  Eigen::Map<Mat>(Y0.data(), B, D) = res.z1;
  Eigen::Map<Mat>(Y0.data() + BD, B, D) = z1_bar;
  Y0.tail(P).setZero();
  Mat f(B, D);
  auto rhs = [&](T t, const Vec& y, Vec& dy) {
    dy.resize(y.size());
    const Eigen::Map<const Mat> z(y.data(), B, D), a(y.data() + BD, B, D);
    g.vjp(ws, adj, t, z, a, rbar, false, &f);
    Eigen::Map<Mat>(dy.data(), B, D) = f;
    Eigen::Map<Mat>(dy.data() + BD, B, D) = -adj.z_bar();
    flatten_into(adj.gradient(), dy.data() + 2 * BD);
    dy.tail(P) = -dy.tail(P);
  };
  auto sol = solve(rhs, Y0, std::vector<T>{t1, t0}, method, options);
  const Vec& Yt0 = sol.final_state();
  res.z0_bar = Eigen::Map<const Mat>(Yt0.data() + BD, B, D);
  res.theta_bar = ws.network();
  unflatten_from(Yt0.data() + 2 * BD, res.theta_bar);
  res.backward_stats = std::move(sol.stats);
  res.nfe_backward = res.backward_stats.nfe;
}

}  // namespace adjoint_detail

template <class T, class DZ, class Method, class DZB, class DRB>
AdjointResult<T> adjoint_solve(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, const Eigen::MatrixBase<DZ>& z0, T t0, T t1,
                               int K, Method method, const SolveOptions<T>& options,
                               const Eigen::MatrixBase<DZB>& z1_bar, const Eigen::MatrixBase<DRB>& r1_bar,
                               AdjointVariant variant = AdjointVariant::full) {
  adjoint_detail::check_arguments(ws, z0, K, options);
  if (z1_bar.rows() != ws.batch() || z1_bar.cols() != ws.dim() || r1_bar.size() != ws.batch())
    throw std::invalid_argument("taynode::ad::adjoint_solve: z1_bar is batch × dim, r1_bar has batch entries");
  AdjointResult<T> res;
  adjoint_detail::forward(ws, z0, t0, t1, TaylorRegularizer<T>{K}, method, options, variant, res);
  adjoint_detail::backward(ws, adj, t0, t1, TaylorRegularizer<T>{K}, method, options, z1_bar, r1_bar, res);
  return res;
}

}  // namespace taynode::ad

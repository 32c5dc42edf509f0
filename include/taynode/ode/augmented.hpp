#pragma once
// Augmented integrands: solve [z, r] with z' = f(t, z) and r' = g(t, z), where r accumulates
// integrals along the trajectory (the regularizers R_K, kinetic energy, Jacobian norm).
// Whether r takes part in error control is a choice: the paper's code includes it (the whole
// augmented state is one flattened vector in its RMS norm); excluding it makes the step sequence
// that of the plain ODE.

#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "taynode/ode/solve.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode {

template <class Z, class R>
struct Augmented {
  Z z;
  R r;
  bool r_in_error_control = true;
};

template <class Z, class R>
struct VectorSpace<Augmented<Z, R>> {
  using VZ = VectorSpace<Z>;
  using VR = VectorSpace<R>;
  using A = Augmented<Z, R>;
  using Real = typename VZ::Real;
  static_assert(std::is_same_v<Real, typename VR::Real>,
                "Augmented: z and r must share the real type");

  static std::ptrdiff_t size(const A& x) { return VZ::size(x.z) + VR::size(x.r); }
  // The number of components in the error norm.
  static std::ptrdiff_t error_count(const A& x) {
    return VZ::size(x.z) + (x.r_in_error_control ? VR::size(x.r) : 0);
  }
  static void resize_like(A& dst, const A& src) {
    VZ::resize_like(dst.z, src.z);
    VR::resize_like(dst.r, src.r);
    dst.r_in_error_control = src.r_in_error_control;
  }
  template <std::size_t N, class... K>
  static void add_scaled(A& out, const A& y, Real h, const std::array<Real, N>& c, const K&... k) {
    VZ::add_scaled(out.z, y.z, h, c, k.z...);
    VR::add_scaled(out.r, y.r, h, c, k.r...);
  }
  template <std::size_t N, class... K>
  static void scaled_sum(A& out, Real h, const std::array<Real, N>& c, const K&... k) {
    VZ::scaled_sum(out.z, h, c, k.z...);
    VR::scaled_sum(out.r, h, c, k.r...);
  }
  template <std::size_t N, class... K>
  static Real error_sq_sum(const A& y0, const A& y1, Real h, const Tolerances<Real>& tol,
                           const std::array<Real, N>& c, const K&... k) {
    Real s = VZ::error_sq_sum(y0.z, y1.z, h, tol, c, k.z...);
    if (y0.r_in_error_control)
      s += VR::error_sq_sum(y0.r, y1.r, h, tol.shifted(VZ::size(y0.z)), c, k.r...);
    return s;
  }
  static Real scaled_sq_norm(const A& x, const A& y0, const Tolerances<Real>& tol) {
    Real s = VZ::scaled_sq_norm(x.z, y0.z, tol);
    if (y0.r_in_error_control) s += VR::scaled_sq_norm(x.r, y0.r, tol.shifted(VZ::size(y0.z)));
    return s;
  }
  static Real scaled_sq_norm_diff(const A& a, const A& b, const A& y0,
                                  const Tolerances<Real>& tol) {
    Real s = VZ::scaled_sq_norm_diff(a.z, b.z, y0.z, tol);
    if (y0.r_in_error_control)
      s += VR::scaled_sq_norm_diff(a.r, b.r, y0.r, tol.shifted(VZ::size(y0.z)));
    return s;
  }
  static bool all_finite(const A& x) { return VZ::all_finite(x.z) && VR::all_finite(x.r); }
};

namespace ode_detail {
template <class F, class Real, class X, class D>
void call_rhs(F& f, Real t, const X& x, D& d) {
  if constexpr (std::is_invocable_v<F&, Real, const X&, D&>)
    f(t, x, d);
  else
    d = f(t, x);
}
}  // namespace ode_detail

// Solves z' = f(t, z), r' = g(t, z) from (z0, r0). f and g may return their value or write it
// (f(t, z, dz), g(t, z, dr)). The solution's states are Augmented{z, r}.
template <class F, class G, class Z, class R, class Method>
Solution<Augmented<Z, R>, typename VectorSpace<Z>::Real> solve_augmented(
    F&& f, G&& g, const Z& z0, const R& r0,
    const std::vector<typename VectorSpace<Z>::Real>& times, Method method,
    const SolveOptions<typename VectorSpace<Z>::Real>& options = {},
    bool r_in_error_control = true) {
  using Real = typename VectorSpace<Z>::Real;
  using A = Augmented<Z, R>;
  auto rhs = [&](Real t, const A& s, A& ds) {
    ode_detail::call_rhs(f, t, s.z, ds.z);
    ode_detail::call_rhs(g, t, s.z, ds.r);
  };
  return solve(rhs, A{z0, r0, r_in_error_control}, times, method, options);
}

}  // namespace taynode

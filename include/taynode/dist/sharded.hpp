#pragma once
// Adaptive solves of a batch split over MPI ranks, with ONE step-size sequence for all of them.
//
// The paper solves the whole batch as one system: one error norm over every example, one step
// size. dist::Sharded<S> keeps that across ranks: each rank holds its rows (`local`, any solver
// state S), the stage combinations act on them alone, and every reduction the solvers make — the
// error norm's sums, the initial step's norms, the finiteness checks, the number of components —
// is summed over the ranks (one small MPI_Allreduce each: one per step attempt for the error,
// one for the finiteness of each accepted step). So every rank accepts and rejects the same steps
// as the joint single-process solve, with the same NFE; the only difference is the order in which
// the error norm's partial sums are added (per rank, then across ranks), i.e. rounding.
//
// The alternative is to solve the plain local state S on each rank: no collective inside the
// solve, but each rank picks its own steps from its own examples, so the NFE (and the result,
// within the tolerance) depend on the rank count (docs/dist.md).
//
//   dist::Sharded<Mat> y0{x_local, &dp};
//   auto sol = solve([&](double t, const dist::Sharded<Mat>& y, dist::Sharded<Mat>& dy) {
//     f(t, y.local, dy.local); }, y0, {0.0, 1.0}, Dopri5{}, options);
//
// Tolerances are scalar or per LOCAL component (a vector of size(local) entries on each rank).

#include <cstddef>

#include "taynode/dist/mpi.hpp"
#include "taynode/ode/integrate.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode::dist {

template <class S>
struct Sharded {
  S local;
  const DataParallel* comm = nullptr;  // must outlive the solve
};

}  // namespace taynode::dist

namespace taynode {

template <class S>
struct VectorSpace<dist::Sharded<S>> {
  using V = VectorSpace<S>;
  using Real = typename V::Real;
  using X = dist::Sharded<S>;

  // Local: per-component tolerance vectors index this rank's components.
  static std::ptrdiff_t size(const X& x) { return V::size(x.local); }
  // The RMS divisor: every rank's error components.
  static std::ptrdiff_t error_count(const X& x) {
    return std::ptrdiff_t(comm(x).total(static_cast<long long>(ode_detail::error_count<V>(x.local))));
  }
  static void resize_like(X& dst, const X& src) {
    V::resize_like(dst.local, src.local);
    dst.comm = src.comm;
  }
  template <std::size_t N, class... K>
  static void add_scaled(X& out, const X& y, Real h, const std::array<Real, N>& c, const K&... k) {
    V::add_scaled(out.local, y.local, h, c, k.local...);
  }
  template <std::size_t N, class... K>
  static void scaled_sum(X& out, Real h, const std::array<Real, N>& c, const K&... k) {
    V::scaled_sum(out.local, h, c, k.local...);
  }
  template <std::size_t N, class... K>
  static Real error_sq_sum(const X& y0, const X& y1, Real h, const Tolerances<Real>& tol,
                           const std::array<Real, N>& c, const K&... k) {
    return comm(y0).total(V::error_sq_sum(y0.local, y1.local, h, tol, c, k.local...));
  }
  static Real scaled_sq_norm(const X& x, const X& y0, const Tolerances<Real>& tol) {
    return comm(y0).total(V::scaled_sq_norm(x.local, y0.local, tol));
  }
  static Real scaled_sq_norm_diff(const X& a, const X& b, const X& y0, const Tolerances<Real>& tol) {
    return comm(y0).total(V::scaled_sq_norm_diff(a.local, b.local, y0.local, tol));
  }
  static bool all_finite(const X& x) { return comm(x).total(V::all_finite(x.local) ? 0 : 1) == 0; }

 private:
  static const dist::DataParallel& comm(const X& x) {
    if (!x.comm) throw dist::MpiError("taynode::dist::Sharded: a state without a communicator (set .comm)");
    return *x.comm;
  }
};

}  // namespace taynode

#pragma once
// Separate compilation of the solve-gradient sweeps (opt-in; the library stays header-only).
//
// The sweeps of ad::solve_gradient — the forward replay, the recorded adaptive solve and the
// reverse sweep of Backprop, the forward and backward solves of Adjoint — are where nearly all of
// a training program's compile cost lies: they instantiate the network's Taylor passes, its VJPs,
// the regularizer and the integration loop (benchmarks/RESULTS.md, "Compile cost"). None of them
// depends on the user's loss head, so for the library's own dynamics they can be compiled once:
//
//   - every translation unit compiled with TAYNODE_EXTERN_INSTANCES defined sees them as
//     `extern template` (declared, not instantiated) for the configurations listed below
//     (TAYNODE_EXTERN_INSTANCES_DOUBLE / _FLOAT: those of one real type only);
//   - exactly one translation unit of the program includes <taynode/instantiate.hpp>, which
//     defines them (the CMake function taynode_add_instances does both: docs/ad.md).
//
// Configurations: backend::Cpu, T ∈ {double, float}, the integrand TaylorRegularizer (R_K;
// K = 0 is the unregularized solve) or RnodeRegularizer, the tableau RK4 or Dopri5; and
// NetworkTaylor / NetworkAdjoint for T ∈ {double, float} on backend::Cpu. Any other
// combination is instantiated implicitly as usual, so the macro never changes what compiles.

#include <cstddef>
#include <vector>

#include "taynode/ad/adjoint_solve.hpp"
#include "taynode/ad/dynamics.hpp"
#include "taynode/ad/regularizer.hpp"
#include "taynode/ad/solve_backprop.hpp"
#include "taynode/backend/cpu.hpp"
#include "taynode/ode/options.hpp"
#include "taynode/ode/tableaus.hpp"

namespace taynode::ad::instances_detail {
template <class T, template <class> class Reg>
using CpuDynamics = NetworkDynamics<T, backend::Cpu, Reg<T>>;
template <class T>
using Matrix = backend::Cpu::Matrix<T>;
}  // namespace taynode::ad::instances_detail

// Everything for one real type T; PREFIX is `extern template` or `template`. At global scope,
// every name qualified (an explicit instantiation may name a template from any enclosing namespace).
#define TAYNODE_AD_INSTANCES(PREFIX, T)                                                   \
  PREFIX class taynode::NetworkTaylor<T, taynode::backend::Cpu>;                          \
  PREFIX class taynode::ad::NetworkAdjoint<T, taynode::backend::Cpu>;                     \
  TAYNODE_AD_SWEEPS(PREFIX, T, TaylorRegularizer, RK4)                                    \
  TAYNODE_AD_SWEEPS(PREFIX, T, TaylorRegularizer, Dopri5)                                 \
  TAYNODE_AD_SWEEPS(PREFIX, T, RnodeRegularizer, RK4)                                     \
  TAYNODE_AD_SWEEPS(PREFIX, T, RnodeRegularizer, Dopri5)

// The five sweeps of one configuration.
#define TAYNODE_AD_SWEEPS(PREFIX, T, Reg, Method)                                                               \
  PREFIX taynode::ad::ForwardResult<T, taynode::backend::Cpu>                                                   \
  taynode::ad::solve_backprop_detail::forward<taynode::Method, taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>>( \
      taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>&, const taynode::ad::instances_detail::Matrix<T>&, bool, \
      const taynode::ad::StepSequence<T>&, std::vector<taynode::ad::instances_detail::Matrix<T>>*, std::size_t,  \
      const std::vector<T>*,                                                                                    \
      std::vector<taynode::ad::solve_backprop_detail::State<taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>>>*); \
  PREFIX taynode::ad::RecordedSolve<T, taynode::backend::Cpu>                                                   \
  taynode::ad::solve_backprop_detail::record<taynode::Method, taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>>( \
      taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>&, const taynode::ad::instances_detail::Matrix<T>&, \
      const std::vector<T>&, bool, bool, taynode::SolveOptions<T>);                                             \
  PREFIX bool taynode::ad::solve_backprop_detail::backward<taynode::Method, taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>>( \
      taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>&,                                       \
      const std::vector<taynode::ad::instances_detail::Matrix<T>>&, const taynode::ad::StepSequence<T>&,        \
      const taynode::ad::instances_detail::Matrix<T>&, const taynode::backend::Cpu::Vector<T>&,                 \
      taynode::ad::instances_detail::Matrix<T>&, std::size_t&, std::size_t&, std::size_t,                      \
      const taynode::ad::solve_backprop_detail::OutputCotangents<                                               \
          taynode::ad::solve_backprop_detail::State<taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>>, T>*, \
      const std::vector<taynode::ad::solve_backprop_detail::State<taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>>>*); \
  PREFIX void taynode::ad::adjoint_detail::forward<taynode::Method, taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>>( \
      taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>&, const taynode::ad::instances_detail::Matrix<T>&, \
      const std::vector<T>&, const taynode::SolveOptions<T>&, taynode::ad::AdjointVariant,                      \
      taynode::ad::AdjointResult<T, taynode::backend::Cpu>&, std::vector<taynode::ad::instances_detail::Matrix<T>>*); \
  PREFIX void taynode::ad::adjoint_detail::backward<taynode::Method, taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>>( \
      taynode::ad::instances_detail::CpuDynamics<T, taynode::ad::Reg>&, const std::vector<T>&, const taynode::SolveOptions<T>&, \
      const taynode::ad::instances_detail::Matrix<T>&, const taynode::backend::Cpu::Vector<T>&,                 \
      taynode::ad::AdjointResult<T, taynode::backend::Cpu>&, const std::vector<taynode::ad::instances_detail::Matrix<T>>&, \
      const std::vector<taynode::ad::instances_detail::Matrix<T>>&);

#if defined(TAYNODE_EXTERN_INSTANCES) || defined(TAYNODE_EXTERN_INSTANCES_DOUBLE)
TAYNODE_AD_INSTANCES(extern template, double)
#endif
#if defined(TAYNODE_EXTERN_INSTANCES) || defined(TAYNODE_EXTERN_INSTANCES_FLOAT)
TAYNODE_AD_INSTANCES(extern template, float)
#endif

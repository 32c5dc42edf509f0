#pragma once
// Reverse mode over array operations: adjoints of the Taylor rules and series ops, and VJPs of
// the dynamics and the speed-regularizer integrands through a NetworkTaylor pass (docs/ad.md).

#include "taynode/ad/adjoint_solve.hpp"
#include "taynode/ad/cnf_dynamics.hpp"
#include "taynode/ad/network_adjoint.hpp"
#include "taynode/ad/rules_adjoint.hpp"
#include "taynode/ad/series_adjoint.hpp"
#include "taynode/ad/solve_backprop.hpp"
#include "taynode/ad/solve_gradient.hpp"
#include "taynode/ad/tape.hpp"

#pragma once
// ODE solvers: explicit Runge–Kutta tableaux, one generic stepper, step-size controllers and
// solve(). See docs/ode.md.

#include "taynode/ode/augmented.hpp"
#include "taynode/ode/controller.hpp"
#include "taynode/ode/errors.hpp"
#include "taynode/ode/initial_step.hpp"
#include "taynode/ode/integrate.hpp"
#include "taynode/ode/options.hpp"
#include "taynode/ode/solve.hpp"
#include "taynode/ode/stepper.hpp"
#include "taynode/ode/tableau.hpp"
#include "taynode/ode/tableaus.hpp"
#include "taynode/ode/vector_space.hpp"

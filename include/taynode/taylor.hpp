#pragma once
// Taylor coefficients of ODE solutions.

#include "taynode/taylor/incremental_jet.hpp"
#include "taynode/taylor/ode_taylor_coefficients.hpp"

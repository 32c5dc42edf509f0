#pragma once
// Taylor coefficients of ODE solutions: for a generic f(t, z) on scalars (Jet, IncrementalJet,
// nested Dual) and, batched, for network dynamics (NetworkTaylor).

#include "taynode/taylor/incremental_jet.hpp"
#include "taynode/taylor/network_taylor.hpp"
#include "taynode/taylor/ode_taylor_coefficients.hpp"

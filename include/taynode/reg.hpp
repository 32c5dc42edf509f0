#pragma once
// Speed regularizers as integrands: R_K (TayNODE), RNODE's kinetic and Jacobian-Frobenius terms.

#include "taynode/reg/integrands.hpp"

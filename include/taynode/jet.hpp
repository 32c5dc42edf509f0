#pragma once
// Taylor-mode (Jet) and first-order forward-mode (Dual) scalars, with Eigen support.

#include "taynode/jet/dual.hpp"
#include "taynode/jet/eigen.hpp"
#include "taynode/jet/expression.hpp"
#include "taynode/jet/functions.hpp"
#include "taynode/jet/jet.hpp"
#include "taynode/jet/rule_list.hpp"
#include "taynode/jet/rules.hpp"
#include "taynode/jet/scalar.hpp"

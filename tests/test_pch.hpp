// The headers nearly every test includes, precompiled once per build tree and reused by every test
// executable whose flags match (tests/CMakeLists.txt, TAYNODE_TESTS_PCH). Only headers whose
// behavior no test configures by a macro belong here; a test target with definitions or options
// of its own (-fopenmp, TAYNODE_EXTERN_INSTANCES) is declared OWN_FLAGS and parses them itself.
#include <catch2/catch.hpp>

#include <Eigen/Dense>

#include "taynode/ad.hpp"
#include "taynode/data.hpp"
#include "taynode/jet.hpp"
#include "taynode/nn.hpp"
#include "taynode/ode.hpp"
#include "taynode/reg.hpp"
#include "taynode/series.hpp"
#include "taynode/taylor.hpp"

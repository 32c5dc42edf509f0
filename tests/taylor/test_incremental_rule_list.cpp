// Every function of jet/rule_list.hpp (and the powers built from them) on IncrementalJet against
// the Jet binding of the same list: ODE Taylor coefficients of z' = F(g(z)) + t for each function
// F, with g(z) keeping the argument inside every domain, by ode_taylor_coefficients_incremental
// (one coefficient per pass, auxiliaries on the tape) and ode_taylor_coefficients (growing-order
// Jet passes). The lists are expanded here, so a function added to them is tested without editing
// this file. Jet is tested against Cauchy integrals (tests/jet/); what this pins is the tape
// binding: auxiliary slots, the order of inputs, the per-pass step.
//
// Both paths run the same steps on the same numbers but group the passes differently, so they
// agree to rounding: 1e-13 relative to max(1, |derivative|) for K = 6.

#include <cmath>
#include <string>

#include <catch2/catch.hpp>

#include "taynode/jet.hpp"
#include "taynode/taylor.hpp"

using namespace taynode;

namespace {

constexpr int K = 6;

template <class F>
void require_same(F f, double z0, const std::string& what) {
  const auto tape = ode_taylor_coefficients_incremental<K>(f, z0, 0.1);
  const auto jet = ode_taylor_coefficients<K>(f, z0, 0.1);
  for (int k = 0; k <= K; ++k) {
    INFO(what << ", z0 = " << z0 << ", derivative " << k << ": " << tape[k] << " vs " << jet[k]);
    REQUIRE(std::abs(tape[k] - jet[k]) <= 1e-13 * std::max(1.0, std::abs(jet[k])));
  }
}

// The argument of F: in (0.25, 0.75) along the whole solution for z near z0 ∈ {0.2, 0.6}.
template <class S>
S inside(const S& z) {
  return S(z * 0.5 + 0.3);
}

}  // namespace

TEST_CASE("IncrementalJet: every unary function of the rule list agrees with Jet", "[taylor][rule-list]") {
  for (double z0 : {0.2, 0.6}) {
#define TAYNODE_TEST_UNARY(NAME, AUX, STEP)                                                          \
  require_same([](auto t, const auto& z) -> std::remove_cvref_t<decltype(z)> { return NAME(inside(z)) + t; }, z0, #NAME);
    TAYNODE_UNARY_RULES(TAYNODE_TEST_UNARY)
#undef TAYNODE_TEST_UNARY
  }
}

TEST_CASE("IncrementalJet: every binary function of the rule list agrees with Jet", "[taylor][rule-list]") {
  for (double z0 : {0.2, 0.6}) {
    // second argument w = 0.4 + 0.3 z·t: a different series (min and max switch sides between the z0)
#define TAYNODE_TEST_BINARY(NAME, SPELLING, AUX, STEP)                                                 \
  require_same(                                                                                        \
      [](auto t, const auto& z) -> std::remove_cvref_t<decltype(z)> {                                  \
        using Z = std::remove_cvref_t<decltype(z)>;                                                    \
        return SPELLING(inside(z), Z(Z(z * t) * 0.3 + 0.4)) + t;                                       \
      },                                                                                               \
      z0, #NAME);
    TAYNODE_BINARY_RULES(TAYNODE_TEST_BINARY)
#undef TAYNODE_TEST_BINARY
  }
}

TEST_CASE("IncrementalJet: the powers agree with Jet", "[taylor][rule-list]") {
  for (double z0 : {0.2, 0.6}) {
    require_same([](auto t, const auto& z) -> std::remove_cvref_t<decltype(z)> { return pow(inside(z), 2.5) + t; }, z0, "u^2.5");
    require_same([](auto t, const auto& z) -> std::remove_cvref_t<decltype(z)> { return 1.5 / inside(z) + t; }, z0, "1.5/u");
    require_same([](auto t, const auto& z) -> std::remove_cvref_t<decltype(z)> { return pow(inside(z), -3) + t; }, z0, "u^-3");
    require_same([](auto t, const auto& z) -> std::remove_cvref_t<decltype(z)> { return pow(inside(z), inside(z)) + t; }, z0, "u^u");
    require_same([](auto t, const auto& z) -> std::remove_cvref_t<decltype(z)> { return pow(2.0, inside(z)) + t; }, z0, "2^u");
  }
}

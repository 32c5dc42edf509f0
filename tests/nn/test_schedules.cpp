// Learning-rate schedules at and around their boundaries.
#include <catch2/catch.hpp>

#include <cmath>

#include "taynode/nn/schedules.hpp"

using namespace taynode::nn;

TEST_CASE("piecewise constant: MNIST epochs 60/100/140 at 600 iterations per epoch", "[nn][schedules]") {
  const auto s = mnist_schedule();
  CHECK(s(0) == 0.1);
  CHECK(s(35999) == 0.1);
  CHECK(s(36000) == 0.01);  // epoch 60 = 36000 // 600
  CHECK(s(59999) == 0.01);
  CHECK(s(60000) == 1e-3);
  CHECK(s(83999) == 1e-3);
  CHECK(s(84000) == 1e-4);
  CHECK(s(95999) == 1e-4);
}

TEST_CASE("piecewise constant: both boundary rules", "[nn][schedules]") {
  const auto ours = piecewise_constant({9000, 12750}, {1e-3, 1e-4, 1e-5});
  CHECK(ours(8999) == 1e-3);
  CHECK(ours(9000) == 1e-4);
  CHECK(ours(12749) == 1e-4);
  CHECK(ours(12750) == 1e-5);
  // jax.experimental.optimizers.piecewise_constant: values[sum(i > boundaries)].
  const auto jax = piecewise_constant({9000, 12750}, {1e-3, 1e-4, 1e-5}, Boundary::jax);
  CHECK(jax(9000) == 1e-3);
  CHECK(jax(9001) == 1e-4);
  CHECK(jax(12750) == 1e-4);
  CHECK(jax(12751) == 1e-5);
  CHECK_THROWS_AS(piecewise_constant({1, 2}, {1.0}), std::invalid_argument);
  CHECK_THROWS_AS(piecewise_constant({2, 2}, {1.0, 2.0, 3.0}), std::invalid_argument);
}

TEST_CASE("exponential decay with floor", "[nn][schedules]") {
  const auto s = exponential_decay_floor(1e-2, 0.999, 1e-3);
  CHECK(s(0) == 1e-2);
  CHECK(s(1) == Approx(0.999e-2).epsilon(1e-15));
  // 0.999^i = 0.1 at i = ln 0.1 / ln 0.999 ≈ 2301.4: above the floor at 2301, on it from 2302.
  CHECK(s(2301) > 1e-3);
  CHECK(s(2301) == Approx(1e-2 * std::pow(0.999, 2301)).epsilon(1e-14));
  CHECK(s(2302) == 1e-3);
  CHECK(s(100000) == 1e-3);
}

TEST_CASE("linear warm-up then a base schedule", "[nn][schedules]") {
  const auto s = linear_warmup(1000, piecewise_constant({24000}, {1e-3, 1e-4}));
  CHECK(s(0) == Approx(1e-6).epsilon(1e-14));
  CHECK(s(499) == Approx(0.5e-3).epsilon(1e-14));
  CHECK(s(998) == Approx(0.999e-3).epsilon(1e-14));
  CHECK(s(999) == 1e-3);
  CHECK(s(1000) == 1e-3);
  CHECK(s(23999) == 1e-3);
  CHECK(s(24000) == 1e-4);
  CHECK(linear_warmup(0, constant(0.5))(0) == 0.5);
}

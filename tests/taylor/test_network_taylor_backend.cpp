// NetworkTaylor<T, Guarded> (tests/backend/guarded_backend.hpp: memory not std::vector, guarded,
// poisoned, every call counted) against NetworkTaylor<T> on backend::Cpu, BITWISE: the same
// kernels and GEMMs must give the same bits, so any difference means a step bypassed the backend
// or read memory nobody wrote (poison is NaN). MNIST-shaped, latent-ODE and FFJORD networks, batch
// 1 and 3, float and double: ode_coefficients K = 1..4 (every coefficient), evaluate, jvp,
// derivative.

#include <catch2/catch.hpp>

#include "../ad/fd.hpp"
#include "../backend/compare.hpp"
#include "../series/generic_network.hpp"
#include "taynode/taylor/network_taylor.hpp"

using namespace taynode;
using taynode_test::Guarded;
using taynode_test::guarded_stats;
using taynode_test::same_bits_as_guarded;
using taynode_test::same_series;

namespace {
template <class T>
std::vector<std::pair<std::string, nn::Sequential<T>>> networks() {
  std::vector<std::pair<std::string, nn::Sequential<T>>> nets;
  nets.emplace_back("mnist", nn::mnist_dynamics<T>(5, 4));
  nets.emplace_back("latent", nn::latent_ode_dynamics<T>(4, 6, 2));
  nets.emplace_back("ffjord", nn::ffjord_dynamics<T>(3, {5, 4}));
  unsigned seed = 11;
  for (auto& n : nets) taynode_test::fill_parameters(n.second, seed++);
  return nets;
}
}  // namespace

TEMPLATE_TEST_CASE("NetworkTaylor on the guarded backend equals backend::Cpu bit for bit", "[taylor][backend]", float,
                   double) {
  using T = TestType;
  guarded_stats().reset_counts();
  const long live = guarded_stats().live;
  for (auto& [name, net] : networks<T>())
    for (Index batch : {1, 3}) {
      INFO(name << " batch " << batch);
      const Index D = net.in_features();
      const auto z = taynode_test::random_state<T>(batch, D, 7 + unsigned(batch));
      const auto v = taynode_test::random_state<T>(batch, D, 17 + unsigned(batch));
      const auto zg = backend::to_backend<Guarded>(z);
      const auto vg = backend::to_backend<Guarded>(v);
      NetworkTaylor<T> cpu(net, 4, batch);
      NetworkTaylor<T, Guarded> g(net, 4, batch);
      for (int K = 1; K <= 4; ++K) {
        INFO("K = " << K);
        cpu.ode_coefficients(T(0.3), z, K);
        g.ode_coefficients(T(0.3), zg, K);
        CHECK(same_series(cpu.state(), g.state(), K));
        CHECK(same_bits_as_guarded(cpu.derivative(K), g.derivative(K)));
      }
      CHECK(same_bits_as_guarded(cpu.evaluate(T(0.6), z), g.evaluate(T(0.6), zg)));
      CHECK(same_bits_as_guarded(cpu.jvp(T(0.6), z, v), g.jvp(T(0.6), zg, vg)));
      CHECK(same_series(cpu.output(), g.output(), 1));
    }
  CHECK(guarded_stats().count("gemm_nt") > 0);
  CHECK(guarded_stats().count("for_each") > 0);
  taynode_test::check_guards();
  taynode_test::check_no_leak(live);
}

TEST_CASE("NetworkTaylor on the guarded backend: shapes are checked", "[taylor][backend]") {
  auto net = nn::latent_ode_dynamics<double>(4, 6, 2);
  NetworkTaylor<double, Guarded> g(net, 2, 3);
  CHECK_THROWS_AS(g.evaluate(0.0, Guarded::Matrix<double>(2, 4)), std::invalid_argument);
  CHECK_THROWS_AS(g.ode_coefficients(0.0, Guarded::Matrix<double>(3, 4), 3), std::invalid_argument);
}

// ParameterSet / ParameterRefs and the L2 weight penalty (gradient by finite differences).
#include <catch2/catch.hpp>

#include <random>

#include "taynode/nn/parameters.hpp"

using namespace taynode::nn;

TEST_CASE("ParameterSet: names, stable order, flatten/unflatten", "[nn][parameters]") {
  ParameterSet<double> p;
  RowMatrix<double> w(2, 3);
  w << 1, 2, 3, 4, 5, 6;
  p.add("w", w);
  p.add("b", Vector<double>::LinSpaced(2, 7, 8));
  CHECK(p.size() == 2);
  CHECK(p.name(0) == "w");
  CHECK(p.name(1) == "b");
  CHECK(p["b"].rows() == 2);
  CHECK(p["b"].cols() == 1);
  CHECK_THROWS_AS(p.add("w", w), std::invalid_argument);
  CHECK_THROWS_AS(p["nope"], std::out_of_range);
  const Vector<double> f = p.flatten();
  REQUIRE(f.size() == 8);
  for (int k = 0; k < 8; ++k) CHECK(f[k] == k + 1);  // row-major, insertion order
  p.unflatten(2 * f);
  CHECK(p["w"](1, 0) == 8);
  CHECK(p["b"](1, 0) == 16);
  CHECK_THROWS_AS(p.unflatten(Vector<double>::Zero(3)), std::invalid_argument);
}

TEST_CASE("ParameterSet from a network, refs into it, and back", "[nn][parameters]") {
  auto net = ffjord_dynamics<float>(3, {4});
  std::mt19937_64 rng(1);
  init_haiku(net, rng);
  auto p = ParameterSet<float>::from_network(net);
  CHECK(p.size() == 10);
  CHECK(p.name(0) == "layers.0.weight");
  CHECK(p.name(4) == "layers.0.time_weight");
  CHECK(p.name(5) == "layers.2.weight");
  CHECK(std::size_t(p.total_size()) == net.parameter_count());
  std::size_t k = 0;
  for_each_parameter(net, [&](const auto& a) { CHECK(p.value(k++).size() == a.size()); });

  auto refs = parameter_refs(net);
  refs.value(0)(1, 2) = 42.f;
  CHECK(std::get<ConcatSquash<float>>(net.layers[0]).weight(1, 2) == 42.f);
  p.value(1).setConstant(-1.f);
  p.copy_to_network(net);
  CHECK(std::get<ConcatSquash<float>>(net.layers[0]).bias.isConstant(-1.f));
  CHECK(ParameterSet<float>::from_network(net) == p);
}

TEST_CASE("L2 penalty: value and gradient by central differences", "[nn][parameters]") {
  ParameterSet<double> p;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  RowMatrix<double> w(3, 4);
  for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = u(rng);
  p.add("w", w);
  p.add("b", Vector<double>::Constant(3, 0.5));
  const double lambda = 1e-2;
  CHECK(l2_penalty(p, lambda) == Approx(0.5 * lambda * (w.squaredNorm() + 0.75)).epsilon(1e-14));

  auto g = ParameterSet<double>::zeros_like(p);
  add_l2_gradient(g, p, lambda);
  const Vector<double> theta = p.flatten(), grad = g.flatten();
  const double h = 1e-5;
  for (Eigen::Index k = 0; k < theta.size(); ++k) {
    auto q = p;
    Vector<double> t = theta;
    t[k] += h;
    q.unflatten(t);
    const double fp = l2_penalty(q, lambda);
    t[k] -= 2 * h;
    q.unflatten(t);
    const double fm = l2_penalty(q, lambda);
    // The penalty is quadratic: central differences are exact up to rounding (~1e-16/1e-5).
    CHECK(grad[k] == Approx((fp - fm) / (2 * h)).epsilon(1e-8).margin(1e-12));
  }
}

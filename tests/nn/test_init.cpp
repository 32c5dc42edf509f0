// Initializer statistics (fixed seeds) and the unchanged random stream of init_haiku.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "taynode/nn/init.hpp"
#include "taynode/nn/layers.hpp"

using namespace taynode::nn;

namespace {
double sample_std(const Eigen::MatrixXd& a) {
  const double mean = a.mean();
  return std::sqrt((a.array() - mean).square().sum() / double(a.size() - 1));
}
}  // namespace

// Tolerances: for n = 100 000 samples the sample standard deviation has relative standard error
// √((κ − 1)/(4n)) with κ the kurtosis: 0.0022 for a normal (κ = 3), 0.0019 for the normal truncated at
// ±2 (κ ≈ 2.36). We allow 1.5 % (≥ 6.5 standard errors), and |mean| < 5 σ_mean.
TEST_CASE("truncated normal: bounds exact, std = 0.8796 sigma (Haiku) or sigma (rescaled)", "[nn][init]") {
  const Eigen::Index n = 100000;
  const double sigma = fan_in_stddev(785);
  std::mt19937_64 rng(20200101);
  Eigen::MatrixXd a(n, 1);
  truncated_normal(a, rng, sigma);
  CHECK(a.cwiseAbs().maxCoeff() <= 2.0 * sigma);
  CHECK(a.cwiseAbs().maxCoeff() > 1.99 * sigma);  // the tails are actually reached
  CHECK(sample_std(a) == Approx(truncated_normal_std_factor * sigma).epsilon(0.015));
  CHECK(std::abs(a.mean()) < 5 * sigma / std::sqrt(double(n)));

  Eigen::MatrixXd b(n, 1);
  truncated_normal(b, rng, sigma, TruncatedScale::unit_variance);
  CHECK(b.cwiseAbs().maxCoeff() <= 2.0 * sigma / truncated_normal_std_factor);
  CHECK(sample_std(b) == Approx(sigma).epsilon(0.015));

  // float: the bound still holds after rounding (|x| ≤ 2σ in double, rounded to nearest float).
  Eigen::MatrixXf f(1000, 100);
  truncated_normal(f, rng, 0.1);
  CHECK(double(f.cwiseAbs().maxCoeff()) <= double(float(0.2)));
}

TEST_CASE("normal, zeros, constant", "[nn][init]") {
  std::mt19937_64 rng(42);
  Eigen::MatrixXd a(100000, 1);
  normal(a, rng, 0.1);
  CHECK(sample_std(a) == Approx(0.1).epsilon(0.015));
  CHECK(std::abs(a.mean()) < 5 * 0.1 / std::sqrt(1e5));
  zeros(a);
  CHECK(a.isZero(0));
  constant(a, 2.5);
  CHECK((a.array() == 2.5).all());
}

TEST_CASE("init_haiku keeps the random stream of the original layers.hpp implementation", "[nn][init]") {
  auto net = ffjord_dynamics<double>(3, {5});
  std::mt19937_64 rng(123);
  init_haiku(net, rng);

  // The original code, verbatim in substance.
  auto ref = ffjord_dynamics<double>(3, {5});
  std::mt19937_64 rng2(123);
  std::normal_distribution<double> nd(0.0, 1.0);
  auto truncated = [&] {
    for (;;)
      if (const double x = nd(rng2); std::abs(x) <= 2.0) return x;
  };
  for (auto& l : ref.layers)
    if (auto* cs = std::get_if<ConcatSquash<double>>(&l)) {
      const double s = 1.0 / std::sqrt(double(cs->weight.cols()));
      for (Eigen::Index i = 0; i < cs->weight.size(); ++i) cs->weight.data()[i] = s * truncated();
      cs->bias.setZero();
      for (Eigen::Index i = 0; i < cs->gate_weight.size(); ++i) cs->gate_weight[i] = truncated();
      for (Eigen::Index i = 0; i < cs->time_weight.size(); ++i) cs->time_weight[i] = truncated();
      cs->gate_bias.setZero();
    }
  for (std::size_t k = 0; k < net.layers.size(); ++k)
    if (auto* cs = std::get_if<ConcatSquash<double>>(&net.layers[k])) {
      const auto& r = std::get<ConcatSquash<double>>(ref.layers[k]);
      CHECK(cs->weight == r.weight);
      CHECK(cs->gate_weight == r.gate_weight);
      CHECK(cs->time_weight == r.time_weight);
      CHECK(cs->bias.isZero(0));
    }

  auto mnist = mnist_dynamics<float>(20, 7);
  init_normal(mnist, rng, 0.1);
  const auto& l1 = std::get<ConcatLinear<float>>(mnist.layers[1]);
  CHECK(l1.bias.isZero(0));
  CHECK(!l1.weight.isZero(0));
}

// The optimizers' parameter updates on the guarded test backend (tests/backend/guarded_backend.hpp):
// parameters, gradients and slots as ParameterBuffers in guarded memory, against the same
// optimizer on backend::Cpu over a ParameterSet, BITWISE after several steps with changing
// gradients; the guarded memory intact and touched only through the backend.

#include <random>

#include <catch2/catch.hpp>

#include "../backend/compare.hpp"
#include "taynode/nn/optimizers.hpp"

using namespace taynode;
using taynode_test::Guarded;
using taynode_test::guarded_stats;

namespace {
nn::ParameterSet<double> random_set(unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  nn::ParameterSet<double> s;
  nn::RowMatrix<double> w(3, 4), b(3, 1);
  for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = n(rng);
  for (Eigen::Index i = 0; i < b.size(); ++i) b.data()[i] = n(rng);
  s.add("layers.0.weight", w);
  s.add("layers.0.bias", b);
  return s;
}
bool same(const nn::ParameterSet<double>& a, const nn::ParameterSet<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a.name(i) != b.name(i) || !taynode_test::same_bits(a.value(i).data(), b.value(i).data(), a.value(i).size()))
      return false;
  return true;
}
template <class CpuOpt, class GuardedOpt>
void compare(CpuOpt cpu, GuardedOpt g) {
  nn::ParameterSet<double> p = random_set(1);
  auto pg = nn::ParameterBuffers<double, Guarded>::upload(p);
  for (unsigned step = 0; step < 4; ++step) {
    const nn::ParameterSet<double> grads = random_set(100 + step);
    const auto gg = nn::ParameterBuffers<double, Guarded>::upload(grads);
    cpu.step(p, grads);
    g.step(pg, gg);
    CHECK(same(p, pg.download()));
    for (std::size_t s = 0; s < cpu.state().slots.size(); ++s) CHECK(same(cpu.state().slots[s], g.state().slots[s].download()));
  }
  CHECK(cpu.state().step == g.state().step);
  CHECK(cpu.learning_rate() == g.learning_rate());
}
}  // namespace

TEST_CASE("optimizer steps on the guarded backend equal backend::Cpu bit for bit", "[nn][optimizers][backend]") {
  guarded_stats().reset_counts();
  const long live = guarded_stats().live;
  const auto lr = nn::piecewise_constant({2}, {0.1, 0.01});
  SECTION("SGD with momentum") { compare(nn::SgdMomentum<double>(lr, 0.9), nn::SgdMomentum<double, Guarded>(lr, 0.9)); }
  SECTION("Adam") { compare(nn::Adam<double>(lr), nn::Adam<double, Guarded>(lr)); }
  SECTION("Adamax") { compare(nn::Adamax<double>(lr), nn::Adamax<double, Guarded>(lr)); }
  CHECK(guarded_stats().count("for_each") > 0);
  taynode_test::check_guards();
  taynode_test::check_no_leak(live);
}

TEST_CASE("optimizer on the guarded backend: wrong shapes raise", "[nn][optimizers][backend]") {
  nn::Adam<double, Guarded> opt(nn::constant(0.1));
  auto p = nn::ParameterBuffers<double, Guarded>::upload(random_set(1));
  nn::ParameterBuffers<double, Guarded> bad;
  bad.add("layers.0.weight", 3, 4);
  CHECK_THROWS_AS(opt.step(p, bad), std::invalid_argument);
}

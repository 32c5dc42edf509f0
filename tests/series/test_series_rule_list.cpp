// Every function of jet/rule_list.hpp as bound for batched series (series::NAME, NAME_step),
// against the Jet binding of the same list, element by element. The lists are expanded here, so a
// function added to them is tested without editing this file. Jet is tested against Cauchy
// integrals (tests/jet/); what this pins is the series binding: auxiliaries in the list's order,
// strides, the order dispatch (k ≤ 8 compile-time, 9 and 10 run-time), inputs in their order.
//
// Inputs: u_0, v_0 in [0.2, 0.8] (inside every domain: log, sqrt, asin, acos, quotient), higher
// coefficients in [−1, 1]/k. Series and Jet run the same steps in the same order, except
// coefficient 0 where the backend has a vectorized value function (exp, log, sigmoid, tanh,
// softplus): a few ulps, carried with growth ~k into the higher coefficients. Bound
// 1e-13·(1 + |ref|) in double, as tests/series/test_series_ops.cpp.

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "taynode/jet.hpp"
#include "taynode/series.hpp"

using namespace taynode;

namespace {

constexpr int K = 10;
using J = Jet<double, K>;

Series<double> random_series(Index rows, Index cols, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> c0(0.2, 0.8), ck(-1.0, 1.0);
  Series<double> s(K, rows, cols);
  for (Index i = 0; i < s.size(); ++i) s.coefficient(0)[i] = c0(rng);
  for (int k = 1; k <= K; ++k)
    for (Index i = 0; i < s.size(); ++i) s.coefficient(k)[i] = ck(rng) / k;
  return s;
}
J jet_at(const Series<double>& s, Index i) {
  J j;
  for (int k = 0; k <= K; ++k) j[k] = s.coefficient(k)[i];
  return j;
}

// Calls f(aux…) with n fresh series shaped like y.
template <int N, class F>
void with_aux(const Series<double>& like, F&& f) {
  std::vector<Series<double>> aux(N, Series<double>(K, like.rows(), like.cols()));
  [&]<std::size_t... I>(std::index_sequence<I...>) { f(aux[I]...); }(std::make_index_sequence<N>{});
}

void require_close(const Series<double>& y, const std::vector<J>& want, const std::string& what) {
  for (Index i = 0; i < y.size(); ++i)
    for (int k = 0; k <= K; ++k) {
      const double got = y.coefficient(k)[i], ref = want[std::size_t(i)][k];
      INFO(what << ": element " << i << ", coefficient " << k << ": " << got << " vs " << ref);
      REQUIRE(std::abs(got - ref) <= 1e-13 * (1.0 + std::abs(ref)));
    }
}

const Index rows = 3, cols = 7;  // 21 elements: vector bodies and a remainder

}  // namespace

TEST_CASE("series: every unary function of the rule list agrees with Jet", "[series][rule-list]") {
  const Series<double> u = random_series(rows, cols, 1);
  Series<double> y(K, rows, cols);
#define TAYNODE_TEST_UNARY(NAME, AUX, STEP)                                             \
  {                                                                                     \
    std::vector<J> want;                                                                \
    for (Index i = 0; i < u.size(); ++i) want.push_back(NAME(jet_at(u, i)));            \
    with_aux<AUX>(u, [&](auto&... aux) { series::NAME(u, y, aux...); });                \
    require_close(y, want, #NAME);                                                      \
    with_aux<AUX>(u, [&](auto&... aux) {                                                \
      for (int k = 0; k <= K; ++k) series::NAME##_step(k, u, y, aux...);                \
    });                                                                                 \
    require_close(y, want, #NAME "_step");                                              \
  }
  TAYNODE_UNARY_RULES(TAYNODE_TEST_UNARY)
#undef TAYNODE_TEST_UNARY
}

TEST_CASE("series: every binary function of the rule list agrees with Jet", "[series][rule-list]") {
  const Series<double> u = random_series(rows, cols, 2), v = random_series(rows, cols, 3);
  Series<double> y(K, rows, cols);
#define TAYNODE_TEST_BINARY(NAME, SPELLING, AUX, STEP)                                          \
  {                                                                                             \
    std::vector<J> want;                                                                        \
    for (Index i = 0; i < u.size(); ++i) want.push_back(SPELLING(jet_at(u, i), jet_at(v, i)));  \
    with_aux<AUX>(u, [&](auto&... aux) { series::NAME(u, v, y, aux...); });                     \
    require_close(y, want, #NAME);                                                              \
  }
  TAYNODE_BINARY_RULES(TAYNODE_TEST_BINARY)
#undef TAYNODE_TEST_BINARY
}

TEST_CASE("series: the parametric functions agree with Jet's u^p and p/u", "[series][rule-list]") {
  const Series<double> u = random_series(rows, cols, 4);
  Series<double> y(K, rows, cols);
  std::vector<J> want;
  for (Index i = 0; i < u.size(); ++i) want.push_back(pow(jet_at(u, i), 2.5));
  series::power(2.5, u, y);
  require_close(y, want, "power");
  want.clear();
  for (Index i = 0; i < u.size(); ++i) want.push_back(1.5 / jet_at(u, i));
  series::reciprocal(1.5, u, y);
  require_close(y, want, "reciprocal");
}

// Order conditions of every tableau, checked numerically over all rooted trees (Butcher): a method
// has order p iff b·Φ(t) = 1/γ(t) for every rooted tree t with |t| ≤ p. The same check is applied
// to the embedded solution b̂ = b − e, to DOP853's 3rd-order b̂3, and to the dense output weights
// w(θ), which must satisfy w(θ)·Φ(t) = θ^|t|/γ(t) up to the interpolant's order.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "taynode/ode.hpp"

using namespace taynode;

namespace {

using LD = long double;
using Vec = std::vector<LD>;
using Mat = std::vector<Vec>;

// All rooted trees up to order 8: each tree is the sorted list of its children's ids.
struct Trees {
  std::vector<std::vector<int>> children;
  std::vector<int> order;
  std::vector<LD> gamma;

  explicit Trees(int max_order) {
    children.push_back({});  // the single node
    order.push_back(1);
    gamma.push_back(1);
    for (int n = 2; n <= max_order; ++n) {
      const int existing = static_cast<int>(children.size());
      std::vector<int> current;
      // Multisets of trees (non-decreasing ids) whose orders sum to n − 1.
      std::function<void(int, int)> rec = [&](int first, int remaining) {
        if (remaining == 0) {
          children.push_back(current);
          int ord = 1;
          LD g = 1;
          for (int c : current) {
            ord += order[c];
            g *= gamma[c];
          }
          order.push_back(ord);
          gamma.push_back(g * ord);
          return;
        }
        for (int id = first; id < existing; ++id) {
          if (order[id] > remaining) continue;
          current.push_back(id);
          rec(id, remaining - order[id]);
          current.pop_back();
        }
      };
      rec(0, n - 1);
    }
  }
  std::size_t size() const { return children.size(); }
};

const Trees& trees() {
  static const Trees t(9);
  return t;
}

// Elementary weights Φ(t) (one vector over the stages per tree) of an extended tableau A.
std::vector<Vec> elementary_weights(const Mat& A) {
  const auto& T = trees();
  const std::size_t s = A.size();
  std::vector<Vec> phi(T.size(), Vec(s, 1));
  for (std::size_t t = 0; t < T.size(); ++t) {
    for (int child : T.children[t]) {
      for (std::size_t i = 0; i < s; ++i) {
        LD sum = 0;
        for (std::size_t j = 0; j < s; ++j) sum += A[i][j] * phi[child][j];
        phi[t][i] *= sum;
      }
    }
  }
  return phi;
}

// Largest violation of the conditions of order exactly `p` (θ scales the right-hand side).
LD max_violation(const Vec& w, const std::vector<Vec>& phi, int p, LD theta = 1) {
  const auto& T = trees();
  LD worst = 0;
  for (std::size_t t = 0; t < T.size(); ++t) {
    if (T.order[t] != p) continue;
    LD lhs = 0;
    for (std::size_t j = 0; j < w.size(); ++j) lhs += w[j] * phi[t][j];
    worst = std::max(worst, std::abs(lhs - std::pow(theta, p) / T.gamma[t]));
  }
  return worst;
}

template <class M>
Mat extended_a() {
  using L = StageLayout<M>;
  Mat A(L::total, Vec(L::total, 0));
  for (std::size_t i = 0; i < M::stages; ++i)
    for (std::size_t j = 0; j < i; ++j) A[i][j] = M::a[i][j].template as<LD>();
  if constexpr (!M::fsal)
    for (std::size_t j = 0; j < M::stages; ++j) A[L::endpoint][j] = M::b[j].template as<LD>();
  for (std::size_t m = 0; m < L::dense_extra; ++m)
    for (std::size_t j = 0; j < L::total; ++j) A[L::endpoint + 1 + m][j] = M::dense_a[m][j].template as<LD>();
  return A;
}

template <class M>
Vec padded(const std::array<Coef, M::stages>& v) {
  Vec out(StageLayout<M>::total, 0);
  for (std::size_t j = 0; j < M::stages; ++j) out[j] = v[j].template as<LD>();
  return out;
}

// Dense weights w(θ) straight from the stepper: with y0 = 0, h = 1 and k = unit vectors,
// interpolate() returns Σ w_j k_j.
template <class M>
Vec dense_weights(double theta) {
  RungeKuttaStepper<M, double> st;
  st.init(0.0);
  Vec w(StageLayout<M>::total, 0);
  for (std::size_t m = 0; m < w.size(); ++m) {
    for (std::size_t j = 0; j < w.size(); ++j) st.k[j] = (j == m) ? 1.0 : 0.0;
    double out = 0;
    st.interpolate(out, 0.0, 1.0, theta);
    w[m] = out;
  }
  return w;
}

template <class M>
void check_method(int dense_order, LD tol) {
  INFO("method " << M::name);
  const Mat A = extended_a<M>();
  // Row sums: c_i = Σ_j a_ij.
  for (std::size_t i = 0; i < M::stages; ++i) {
    LD sum = 0;
    for (std::size_t j = 0; j < i; ++j) sum += A[i][j];
    CHECK(std::abs(sum - M::c[i].template as<LD>()) <= tol);
  }
  const auto phi = elementary_weights(A);
  const Vec b = padded<M>(M::b);
  for (int p = 1; p <= M::order; ++p) {
    INFO("order condition " << p);
    CHECK(max_violation(b, phi, p) <= tol);
  }
  // Not of higher order than claimed.
  CHECK(max_violation(b, phi, M::order + 1) > 1e-6);

  if constexpr (M::error_estimate != ErrorEstimate::none) {
    Vec b_hat = b;
    for (std::size_t j = 0; j < M::stages; ++j) b_hat[j] -= M::e[j].template as<LD>();
    for (int p = 1; p <= M::embedded_order; ++p) {
      INFO("embedded order condition " << p);
      CHECK(max_violation(b_hat, phi, p) <= tol);
    }
    CHECK(max_violation(b_hat, phi, M::embedded_order + 1) > 1e-6);
  }
  if constexpr (M::error_estimate == ErrorEstimate::dop853) {
    const Vec b3 = padded<M>(M::b_hat3);
    for (int p = 1; p <= 3; ++p) CHECK(max_violation(b3, phi, p) <= tol);
  }

  // Dense output: order conditions at several θ, and the interpolant hits y1 at θ = 1.
  for (double theta : {0.25, 0.5, 0.8, 1.0}) {
    const Vec w = dense_weights<M>(theta);
    for (int p = 1; p <= dense_order; ++p) {
      INFO("dense order condition " << p << " at theta " << theta);
      CHECK(max_violation(w, phi, p, theta) <= 10 * tol);
    }
  }
  const Vec w1 = dense_weights<M>(1.0);
  for (std::size_t j = 0; j < b.size(); ++j) CHECK(std::abs(w1[j] - b[j]) <= 10 * tol);
}

constexpr LD rational_tol = 1e-15L;
constexpr LD decimal_tol = 1e-13L;  // coefficients given as 16–30 digit decimals, stored in double

}  // namespace

TEST_CASE("rooted trees are counted correctly", "[ode][tableau]") {
  // Number of rooted trees of order 1..9 (OEIS A000081).
  const int expected[] = {1, 1, 2, 4, 9, 20, 48, 115, 286};
  int count[10] = {};
  for (int o : trees().order) ++count[o];
  for (int n = 1; n <= 9; ++n) CHECK(count[n] == expected[n - 1]);
}

TEST_CASE("fixed-step tableaux satisfy their order conditions", "[ode][tableau]") {
  check_method<Euler>(1, rational_tol);
  check_method<Midpoint>(2, rational_tol);
  check_method<Heun>(2, rational_tol);
  check_method<RK4>(3, rational_tol);
}

TEST_CASE("embedded pairs satisfy their order conditions", "[ode][tableau]") {
  check_method<HeunEuler>(2, rational_tol);
  check_method<BogackiShampine>(3, rational_tol);
  check_method<Fehlberg45>(3, rational_tol);
  check_method<CashKarp45>(3, rational_tol);
  check_method<Dopri5>(4, rational_tol);  // Shampine's dense output is of order 4
  check_method<Tsit5>(4, decimal_tol);  // Tsitouras's own quartic interpolant
  check_method<Dop853>(7, decimal_tol);  // 7th-order interpolant
}

TEST_CASE("tableau properties", "[ode][tableau]") {
  STATIC_REQUIRE(Dopri5::fsal);
  STATIC_REQUIRE(BogackiShampine::fsal);
  STATIC_REQUIRE(Tsit5::fsal);
  STATIC_REQUIRE(!Dop853::fsal);
  STATIC_REQUIRE(!RK4::fsal);
  STATIC_REQUIRE(Dopri5::order == 5 && Dopri5::embedded_order == 4);
  STATIC_REQUIRE(Dop853::order == 8 && Dop853::embedded_order == 5);
  // FSAL: the last row of A is b and its node is 1.
  for (std::size_t j = 0; j < Dopri5::stages; ++j)
    CHECK(Dopri5::a[6][j].as<double>() == Dopri5::b[j].as<double>());
  for (std::size_t j = 0; j < BogackiShampine::stages; ++j)
    CHECK(BogackiShampine::a[3][j].as<double>() == BogackiShampine::b[j].as<double>());
}

// Composite functions (products, quotients, exp, sin, log, sigmoid, tanh,
// pow, ...) written once as generic lambdas and evaluated on
//   * Jet<double, K>            (the code under test),
//   * Jet<long double, K>       (same rules, 11 more bits),
//   * NestedDual<double, K>     (K nested forward passes: f^(K), K <= 4),
//   * std::complex<long double> (the Cauchy reference along x0 + t),
// plus fixed-seed random expression trees, and the Dual rules themselves
// (first derivatives against the Cauchy reference).
//
// Tolerances: Jet<double> vs the Cauchy reference and vs Jet<long double>:
// 1e-12 * max_k |ref_k| (the acceptance). Nested Dual f^(K) vs K! c_K of the
// Cauchy reference: also 1e-12 relative to max_k k!|c_k| -- the nested
// evaluation is a different sequence of double operations of comparable
// length (2^K terms), so it carries a comparable rounding error.
#include <random>

#include "jet_test_util.hpp"

namespace taynode_test {

// Complex versions of the jet-only functions for the reference (found by
// ordinary lookup inside this namespace; ADL adds taynode's for jets/duals).
inline cld sigmoid(cld z) { return cx_sigmoid(z); }
inline cld softplus(cld z) { return cx_softplus(z); }
inline cld expm1(cld z) { return cx_expm1(z); }
inline cld log1p(cld z) { return cx_log1p(z); }
inline cld cbrt(cld z) { return cx_cbrt(z); }
inline cld square(cld z) { return z * z; }
inline cld pow(const cld& z, int n) { return cx_ipow(z, n); }
using std::pow;

// The plain number type to write constants in: T for Jet<T,K>, long double for
// the complex reference, double for nested Duals.
template <class X>
struct constant_type {
  using type = double;
};
template <class T, int K>
struct constant_type<Jet<T, K>> {
  using type = T;
};
template <>
struct constant_type<cld> {
  using type = ld;
};
template <class X>
using C = typename constant_type<std::remove_cvref_t<X>>::type;

// Each composite: f(u) for u of any of the four types; rho: a lower bound on
// the distance from the test points (all in [-1, 1]) to the nearest
// singularity or branch cut of f, for the Cauchy radius.

#define TAYNODE_COMPOSITE(NAME, RHO, BODY)            \
  struct NAME##_t {                                  \
    static constexpr const char* name = #NAME;       \
    static constexpr ld rho = RHO;                   \
    template <class U>                               \
    auto operator()(const U& u) const {              \
      using S = C<U>;                                \
      (void)S(0);                                    \
      using R = std::remove_cvref_t<U>;              \
      return R(BODY);                                \
    }                                                \
  };

// products, quotients, exp, sin, cos: pole where 2 + cos u = 0 (|Im u| = 1.3)
TAYNODE_COMPOSITE(exp_sin_quotient, 1.0L, exp(sin(u)) * u + u * u * u / (S(2) + cos(u)))
// log, tanh, sigmoid: log(1 + u^2) has branch points at +-i
TAYNODE_COMPOSITE(log_tanh_sigmoid, 0.5L, log(S(1) + u * u) * tanh(u) - sigmoid(S(2) * u))
// pow(Jet, T) with 1.5 + sin(u) >= 0.5 on the real line
TAYNODE_COMPOSITE(pow_real_exponent, 0.4L, pow(S(1.5) + sin(u), S(2.5)) / (S(1) + exp(-u)))
// sqrt, atan, division
TAYNODE_COMPOSITE(sqrt_atan, 1.0L, sqrt(S(2) + u * u) * atan(u) + S(1) / (S(3) + u))
// softplus, cosh, sinh
TAYNODE_COMPOSITE(softplus_cosh, 1.5L, softplus(u) * cosh(u / S(3)) - sinh(u) * u)
// rational, expm1, log1p
TAYNODE_COMPOSITE(rational_expm1_log1p, 0.5L, (u - S(1)) / (u * u + S(3)) + expm1(u * S(0.5)) * log1p(u * u))
// tan, asin, cbrt (u in [-1, 1]: 0.3 u and 0.2 u far from the singularities)
TAYNODE_COMPOSITE(tan_asin_cbrt, 1.5L, tan(u * S(0.3)) * asin(u * S(0.2)) + cbrt(S(5) + u))
// pow(Jet, Jet)
TAYNODE_COMPOSITE(pow_jet_jet, 0.5L, pow(S(2) + u * u, S(1) + sin(u)))
// nested sigmoid / tanh / sqrt / exp: poles where 3 tanh u = +-i pi, at u = +-0.808 i
TAYNODE_COMPOSITE(sigmoid_of_tanh, 0.8L, sigmoid(tanh(u) * S(3)) / sqrt(S(1) + exp(u)))
// square, pow(Jet, int) with positive and negative exponents
TAYNODE_COMPOSITE(square_pow_int, 1.0L, square(sin(u)) + pow(u, 3) - S(2) * pow(S(1.5) + u * u, -2))
// acos, exp of a product, division by an exponential
TAYNODE_COMPOSITE(acos_exp, 0.5L, acos(u * S(0.5)) * exp(-u * u) / (S(2) + exp(u)))
#undef TAYNODE_COMPOSITE

}  // namespace taynode_test

using namespace taynode_test;

namespace {

// The Cauchy reference of f along x0 + t, K = 8.
template <class F>
std::vector<ld> reference_of(F f, ld x0) {
  const Path p{{x0, 1}};
  return cauchy_checked([&](cld t) { return f(p(t)); }, max_order, choose_radius(p, F::rho));
}

template <class F>
void check_composite(F f) {
  for (ld x0 : {-0.9L, -0.35L, 0.0L, 0.6L, 1.0L}) {
    const double xd = static_cast<double>(x0);
    const std::vector<ld> ref = reference_of(f, static_cast<ld>(xd));
    const std::string what = std::string(F::name) + " at x0 = " + std::to_string(xd);
    for_each_order([&](auto kc) {
      constexpr int K = decltype(kc)::value;
      // Jet<double> against the Cauchy reference
      const Jet<double, K> jd = f(Jet<double, K>::variable(xd));
      check_coefficients(jd, ref, 1e-12L, what + " (Jet<double> vs Cauchy)");
      // Jet<double> against Jet<long double>
      const Jet<long double, K> jl = f(Jet<long double, K>::variable(xd));
      std::vector<ld> lref(max_order + 1, 0);
      for (int k = 0; k <= K; ++k) lref[k] = jl[k];
      check_coefficients(jd, lref, 1e-12L, what + " (Jet<double> vs Jet<long double>)");
      check_coefficients(jl, ref, tolerance<long double>(), what + " (Jet<long double> vs Cauchy)");
      // the nested Dual: f^(K) = K! c_K
      if constexpr (K <= 4) {
        const double dk = taynode::nested_derivative<K>(f, xd);
        ld scale = 0;
        for (int k = 0; k <= K; ++k) scale = std::max(scale, factorial(k) * std::fabs(ref[k]));
        const ld expected = factorial(K) * ref[K];
        INFO(what << ", K = " << K << ": nested Dual " << dk << ", Jet derivative(K) " << jd.derivative(K)
                  << ", reference " << static_cast<double>(expected));
        CHECK(std::fabs(dk - expected) <= 1e-12L * scale);
        CHECK(std::fabs(static_cast<ld>(jd.derivative(K)) - expected) <= 1e-12L * scale);
      }
    });
  }
}

}  // namespace

TEST_CASE("composite functions: Jet<double> vs Cauchy / vs Jet<long double> / vs nested Dual", "[jet][dual][composite]") {
  check_composite(exp_sin_quotient_t{});
  check_composite(log_tanh_sigmoid_t{});
  check_composite(pow_real_exponent_t{});
  check_composite(sqrt_atan_t{});
  check_composite(softplus_cosh_t{});
  check_composite(rational_expm1_log1p_t{});
  check_composite(tan_asin_cbrt_t{});
  check_composite(pow_jet_jet_t{});
  check_composite(sigmoid_of_tanh_t{});
  check_composite(square_pow_int_t{});
  check_composite(acos_exp_t{});
}

namespace {

// Random expression trees over a fixed set of well-conditioned unary and
// binary operations, generated with a fixed seed, evaluated by the same
// recursive interpreter on Jet<double,4>, Jet<long double,4>,
// NestedDual<double,4> and complex<long double> (Cauchy). The leaves are u or
// a constant in [0.5, 1.5]. Unary operations that need a domain are applied to
// a safe argument (exp(-u^2) ranges, 1 + u^2 > 0, ...).
struct Node {
  int op;  // 0: u, 1: constant, 2..: operations
  double c = 0;
  int a = -1, b = -1;
};

struct Tree {
  std::vector<Node> nodes;
  int root = -1;

  template <class X>
  X eval(int i, const X& u) const {
    using S = C<X>;
    const Node& n = nodes[static_cast<std::size_t>(i)];
    switch (n.op) {
      case 0: return u;
      case 1: return X(S(n.c));
      case 2: return X(eval(n.a, u) + eval(n.b, u));
      case 3: return X(eval(n.a, u) - eval(n.b, u));
      case 4: return X(eval(n.a, u) * eval(n.b, u));
      case 5: {  // a / (1 + b^2)
        const X b = eval(n.b, u);
        return X(eval(n.a, u) / (S(1) + b * b));
      }
      case 6: return X(sin(eval(n.a, u)));
      case 7: return X(exp(tanh(eval(n.a, u))));  // bounded exponent
      case 8: {                                    // log(2 + sin a)
        return X(log(S(2) + sin(eval(n.a, u))));
      }
      case 9: return X(sigmoid(eval(n.a, u)));
      case 10: return X(tanh(eval(n.a, u)));
      case 11: return X(pow(S(1.5) + cos(eval(n.a, u)), S(1.5)));
      default: return X(S(n.c) * eval(n.a, u));
    }
  }
  template <class X>
  X operator()(const X& u) const {
    return eval(root, u);
  }
};

Tree random_tree(std::mt19937& rng, int depth_budget) {
  Tree t;
  std::uniform_int_distribution<int> op(2, 12), leaf(0, 1);
  std::uniform_real_distribution<double> c(0.5, 1.5);
  // builds bottom-up: returns the index of the new node
  auto build = [&](auto& self, int depth) -> int {
    Node n;
    if (depth == 0) {
      n.op = leaf(rng);
      n.c = c(rng);
      if (n.op == 1) n.c = std::ldexp(std::round(std::ldexp(n.c, 10)), -10);  // exactly representable
    } else {
      n.op = op(rng);
      n.c = std::ldexp(std::round(std::ldexp(c(rng), 10)), -10);
      n.a = self(self, depth - 1);
      if (n.op <= 5) n.b = self(self, depth - 1);
    }
    t.nodes.push_back(n);
    return static_cast<int>(t.nodes.size()) - 1;
  };
  t.root = build(build, depth_budget);
  return t;
}

}  // namespace

TEST_CASE("random expression trees (fixed seed): Jet vs Cauchy / Jet<long double> / nested Dual", "[jet][dual][composite]") {
  std::mt19937 rng(20240601u);
  constexpr int K = 4;
  for (int trial = 0; trial < 40; ++trial) {
    const Tree tree = random_tree(rng, 2 + trial % 3);
    for (double x0 : {-0.7, 0.3}) {
      // The operations are entire or have singularities at distance >= 0.5
      // from the real axis for these bounded arguments; r from rho = 0.4.
      const Path p{{x0, 1}};
      const std::vector<ld> ref =
          cauchy_checked([&](cld t) { return tree(p(t)); }, K, choose_radius(p, 0.4L));
      INFO("tree " << trial << " at x0 = " << x0);
      const Jet<double, K> jd = tree(Jet<double, K>::variable(x0));
      check_coefficients(jd, ref, 1e-12L, "random tree " + std::to_string(trial) + " (Jet<double> vs Cauchy)");
      const Jet<long double, K> jl = tree(Jet<long double, K>::variable(x0));
      check_coefficients(jl, ref, tolerance<long double>(), "random tree " + std::to_string(trial) + " (Jet<long double>)");
      ld scale = 0;
      for (int k = 0; k <= K; ++k) scale = std::max(scale, factorial(k) * std::fabs(ref[k]));
      const double d1 = taynode::nested_derivative<1>(tree, x0);
      const double d2 = taynode::nested_derivative<2>(tree, x0);
      const double d4 = taynode::nested_derivative<4>(tree, x0);
      CHECK(std::fabs(d1 - ref[1]) <= 1e-12L * scale);
      CHECK(std::fabs(d2 - 2 * ref[2]) <= 1e-12L * scale);
      CHECK(std::fabs(d4 - 24 * ref[4]) <= 1e-12L * scale);
    }
  }
}

TEST_CASE("Dual rules: first derivatives against the Cauchy reference", "[dual][rules]") {
  // f'(x0) = c_1 of f(x0 + t); tolerance 1e-13 relative to max(|c_0|, |c_1|)
  // (one chain-rule step: a few roundings).
  auto check = [](const char* name, auto f_dual, auto f_cx, ld x0, ld rho) {
    const Path p{{x0, 1}};
    const auto ref = cauchy_checked([&](cld t) { return f_cx(p(t)); }, 1, choose_radius(p, rho));
    const Dual<double> y = f_dual(Dual<double>(static_cast<double>(x0), 1.0));
    const ld scale = std::max(std::fabs(ref[0]), std::fabs(ref[1]));
    INFO(name << " at " << static_cast<double>(x0) << ": got " << y.primal << ", " << y.tangent << "; ref "
              << static_cast<double>(ref[0]) << ", " << static_cast<double>(ref[1]));
    CHECK(std::fabs(y.primal - ref[0]) <= 1e-13L * scale);
    CHECK(std::fabs(y.tangent - ref[1]) <= 1e-13L * scale);
  };
  const ld inf = std::numeric_limits<ld>::infinity();
  for (ld x : {-0.6L, 0.3L, 0.8L}) {
    check("exp", [](auto u) { return exp(u); }, [](cld z) { return std::exp(z); }, x, inf);
    check("expm1", [](auto u) { return expm1(u); }, [](cld z) { return cx_expm1(z); }, x, inf);
    check("log1p", [](auto u) { return log1p(u); }, [](cld z) { return cx_log1p(z); }, x, 1 + x);
    check("sin", [](auto u) { return sin(u); }, [](cld z) { return std::sin(z); }, x, inf);
    check("cos", [](auto u) { return cos(u); }, [](cld z) { return std::cos(z); }, x, inf);
    check("tan", [](auto u) { return tan(u); }, [](cld z) { return std::tan(z); }, x, 0.5L);
    check("sinh", [](auto u) { return sinh(u); }, [](cld z) { return std::sinh(z); }, x, inf);
    check("cosh", [](auto u) { return cosh(u); }, [](cld z) { return std::cosh(z); }, x, inf);
    check("tanh", [](auto u) { return tanh(u); }, [](cld z) { return std::tanh(z); }, x, 1.5L);
    check("asin", [](auto u) { return asin(u); }, [](cld z) { return std::asin(z); }, x, 1 - std::fabs(x));
    check("acos", [](auto u) { return acos(u); }, [](cld z) { return std::acos(z); }, x, 1 - std::fabs(x));
    check("atan", [](auto u) { return atan(u); }, [](cld z) { return std::atan(z); }, x, 1);
    check("sigmoid", [](auto u) { return sigmoid(u); }, [](cld z) { return cx_sigmoid(z); }, x, 3);
    check("softplus", [](auto u) { return softplus(u); }, [](cld z) { return cx_softplus(z); }, x, 1.5L);
    check("cbrt", [](auto u) { return cbrt(u); }, [](cld z) { return cx_cbrt(z); }, x, std::fabs(x));
    check("square", [](auto u) { return square(u); }, [](cld z) { return z * z; }, x, inf);
    check("pow int", [](auto u) { return pow(u, -3); }, [](cld z) { return cx_ipow(z, -3); }, x, std::fabs(x));
    check("pow(2, u)", [](auto u) { return pow(2.0, u); }, [](cld z) { return std::exp(z * std::log(2.0L)); }, x, inf);
    check("1 - 2u / 3", [](auto u) { return 1 - 2 * u / 3; }, [](cld z) { return ld(1) - ld(2) * z / ld(3); }, x, inf);
    check("3 / u", [](auto u) { return 3 / u; }, [](cld z) { return ld(3) / z; }, x, std::fabs(x));
    check("abs", [](auto u) { return abs(u); }, [x](cld z) { return x < 0 ? -z : z; }, x, inf);
  }
  for (ld x : {0.3L, 2.5L}) {
    check("log", [](auto u) { return log(u); }, [](cld z) { return std::log(z); }, x, x);
    check("sqrt", [](auto u) { return sqrt(u); }, [](cld z) { return std::sqrt(z); }, x, x);
    check("pow real", [](auto u) { return pow(u, 0.75); }, [](cld z) { return std::pow(z, 0.75L); }, x, x);
  }
  // erf: d/dx erf = 2/sqrt(pi) exp(-x^2)
  for (double x : {-1.0, 0.5}) {
    const Dual<double> y = erf(Dual<double>(x, 1.0));
    CHECK(std::fabs(y.primal - std::erf(x)) <= 1e-16);
    CHECK(std::fabs(y.tangent - 2 / std::sqrt(pi_ld) * std::exp(-static_cast<ld>(x) * x)) <= 1e-15L);
  }
  // atan2: gradient (x, -y) / (x^2 + y^2) along (y, x) = (y0 + t, x0 + 2t)
  for (auto [y0, x0] : std::vector<std::pair<double, double>>{{0.5, -2.0}, {-1.0, 0.25}}) {
    const Dual<double> th = atan2(Dual<double>(y0, 1.0), Dual<double>(x0, 2.0));
    CHECK(std::fabs(th.primal - std::atan2(y0, x0)) <= 1e-16);
    CHECK(std::fabs(th.tangent - (x0 * 1.0 - y0 * 2.0) / (x0 * x0 + y0 * y0)) <= 1e-15);
  }
  // min/max/comparisons on the innermost value
  const Dual<Dual<double>> a(Dual<double>(1.0, 2.0), Dual<double>(3.0, 4.0)), b(Dual<double>(2.0, 0.0));
  CHECK(a < b);
  CHECK(a < 1.5);
  CHECK(min(a, b).primal.primal == 1.0);
  CHECK(max(a, b).primal.primal == 2.0);
  CHECK(isfinite(a));
  CHECK_FALSE(isnan(a));
}

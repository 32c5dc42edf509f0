// + - * / between jets and with scalars (T, int and double literals on either
// side), unary minus, compound assignment, comparisons, square, accessors, and
// the expression-template cases (aliasing, long chains, auto on rvalues).
#include "jet_test_util.hpp"

using namespace taynode_test;

namespace {

const Path pu{{0.75L, 1, -0.5L, 0.25L}};
const Path pv{{-1.5L, 0.5L, 0.125L, 0, -0.0625L}};
const Path pw{{2.0L, -0.75L, 0.375L}};
}  // namespace

TEST_CASE("jet-jet add sub mul div against the Cauchy reference", "[jet][arithmetic]") {
  for (const Path& p : paths_through(0.75L))
    for (const Path& q : {pv, pw, Path{{-0.5L, 1}}}) {
      check_binary_all("u + v", [](const auto& u, const auto& v) { return u + v; },
                       cauchy_of2([](cld u, cld v) { return u + v; }, inf_ld, inf_ld), p, q);
      check_binary_all("u - v", [](const auto& u, const auto& v) { return u - v; },
                       cauchy_of2([](cld u, cld v) { return u - v; }, inf_ld, inf_ld), p, q);
      check_binary_all("u * v", [](const auto& u, const auto& v) { return u * v; },
                       cauchy_of2([](cld u, cld v) { return u * v; }, inf_ld, inf_ld), p, q);
      check_binary_all("u / v", [](const auto& u, const auto& v) { return u / v; },
                       cauchy_of2([](cld u, cld v) { return u / v; }, inf_ld, std::fabs(q.value())), p, q);
      check_binary_all("v / u", [](const auto& u, const auto& v) { return v / u; },
                       cauchy_of2([](cld u, cld v) { return v / u; }, std::fabs(p.value()), inf_ld), p, q);
    }
}

TEST_CASE("jet-scalar and scalar-jet operations / with T / int and double literals", "[jet][arithmetic]") {
  for (const Path& p : paths_through(-0.375L)) {
    const ld rho = std::fabs(p.value());
    check_unary_all("1 - u", [](const auto& u) { return 1 - u; }, cauchy_of([](cld z) { return ld(1) - z; }, inf_ld), p);
    check_unary_all("u - 1", [](const auto& u) { return u - 1; }, cauchy_of([](cld z) { return z - ld(1); }, inf_ld), p);
    check_unary_all("2 * u", [](const auto& u) { return 2 * u; }, cauchy_of([](cld z) { return ld(2) * z; }, inf_ld), p);
    check_unary_all("u * 3", [](const auto& u) { return u * 3; }, cauchy_of([](cld z) { return z * ld(3); }, inf_ld), p);
    check_unary_all("u / 4", [](const auto& u) { return u / 4; }, cauchy_of([](cld z) { return z / ld(4); }, inf_ld), p);
    check_unary_all("3 / u", [](const auto& u) { return 3 / u; }, cauchy_of([](cld z) { return ld(3) / z; }, rho), p);
    check_unary_all("1 + u", [](const auto& u) { return 1 + u; }, cauchy_of([](cld z) { return ld(1) + z; }, inf_ld), p);
    check_unary_all("u + 2.5", [](const auto& u) { return u + 2.5; }, cauchy_of([](cld z) { return z + ld(2.5); }, inf_ld), p);
    check_unary_all("2.5 - u", [](const auto& u) { return 2.5 - u; }, cauchy_of([](cld z) { return ld(2.5) - z; }, inf_ld), p);
    check_unary_all("0.5 * u", [](const auto& u) { return 0.5 * u; }, cauchy_of([](cld z) { return ld(0.5) * z; }, inf_ld), p);
    check_unary_all("u / 0.25", [](const auto& u) { return u / 0.25; }, cauchy_of([](cld z) { return z / ld(0.25); }, inf_ld), p);
    check_unary_all("-1.5 / u", [](const auto& u) { return -1.5 / u; }, cauchy_of([](cld z) { return ld(-1.5) / z; }, rho), p);
    check_unary_all("T(1.25) * u - T(0.5)",
                    [](const auto& u) {
                      using T = typename std::remove_cvref_t<decltype(u)>::scalar_type;
                      return T(1.25) * u - T(0.5);
                    },
                    cauchy_of([](cld z) { return ld(1.25) * z - ld(0.5); }, inf_ld), p);
    check_unary_all("-u", [](const auto& u) { return -u; }, cauchy_of([](cld z) { return -z; }, inf_ld), p);
    check_unary_all("-(2 * u) + 1", [](const auto& u) { return -(2 * u) + 1; },
                    cauchy_of([](cld z) { return -(ld(2) * z) + ld(1); }, inf_ld), p);
    check_unary_all("1 / (1 - u)", [](const auto& u) { return 1 / (1 - u); },
                    cauchy_of([](cld z) { return ld(1) / (ld(1) - z); }, std::fabs(1 - p.value())), p);
    check_unary_all("square", [](const auto& u) { return square(u); }, cauchy_of([](cld z) { return z * z; }, inf_ld), p);
    check_unary_all("u * u", [](const auto& u) { return u * u; }, cauchy_of([](cld z) { return z * z; }, inf_ld), p);
  }
}

TEST_CASE("square against the Cauchy reference at several points", "[jet][arithmetic]") {
  for (ld u0 : {-2.0L, 0.0L, 0.5L, 3.0L})
    for (const Path& p : paths_through(u0))
      check_unary_all("square", [](const auto& u) { return square(u); }, cauchy_of([](cld z) { return z * z; }, inf_ld), p);
}

TEST_CASE("classic closed form: 1/(1-x) along x0 + t has c_k = 1/(1-x0)^(k+1)", "[jet][arithmetic][closed-form]") {
  for_each_order([](auto kc) {
    constexpr int K = decltype(kc)::value;
    using J = Jet<double, K>;
    for (double x0 : {-3.0, -0.5, 0.0, 0.25, 0.75, 2.0}) {
      std::vector<ld> ref(K + 1);
      for (int k = 0; k <= K; ++k) ref[k] = 1 / std::pow(1 - static_cast<ld>(x0), static_cast<ld>(k + 1));
      const J x = J::variable(x0);
      check_coefficients(J(1 / (1 - x)), ref, 1e-12L, "1/(1-x) at " + std::to_string(x0));
      check_coefficients(J(1.0 / (1.0 - x)), ref, 1e-12L, "1.0/(1.0-x) at " + std::to_string(x0));
      check_coefficients(J(J(1) / (J(1) - x)), ref, 1e-12L, "J(1)/(J(1)-x) at " + std::to_string(x0));
      check_coefficients(J(pow(1 - x, -1)), ref, 1e-12L, "pow(1-x, -1) at " + std::to_string(x0));
    }
  });
}

TEST_CASE("compound assignment with jets / expressions and scalars", "[jet][arithmetic]") {
  // y = ((u + v) - 2w) * v / u, then += 3, -= 0.5, *= 2, /= 4, all in place
  auto ref = [](const Path& p) {
    return cauchy_checked(
        [&](cld t) {
          const cld u = p(t), v = pv(t), w = pw(t);
          cld y = u;
          y += v;
          y -= ld(2) * w;
          y *= v;
          y /= u;
          return ((y + ld(3) - ld(0.5)) * ld(2)) / ld(4);
        },
        max_order, choose_radius({{&p, std::fabs(p.value())}, {&pv, inf_ld}, {&pw, inf_ld}}));
  };
  for (const Path& p : paths_through(1.25L))
    check_unary_all("compound assignment",
                    [](const auto& u) {
                      using J = std::remove_cvref_t<decltype(u)>;
                      using T = typename J::scalar_type;
                      const J v = make_jet<T, J::order>(pv.rounded<T>()), w = make_jet<T, J::order>(pw.rounded<T>());
                      J y = u;
                      y += v;
                      y -= 2 * w;  // an expression on the right
                      y *= v;
                      y /= u;
                      y += 3;
                      y -= 0.5;
                      y *= 2;
                      y /= 4;
                      return y;
                    },
                    ref, p);
}

TEST_CASE("comparisons look at the value only", "[jet][arithmetic]") {
  using J = Jet<double, 3>;
  const J a(std::array<double, 4>{1.0, 5.0, -2.0, 7.0});
  const J b(std::array<double, 4>{1.0, -3.0, 0.0, 0.0});
  const J c = J::variable(2.0);
  CHECK(a == b);
  CHECK_FALSE(a != b);
  CHECK(a < c);
  CHECK(a <= b);
  CHECK(c > b);
  CHECK(c >= a);
  CHECK(a == 1);
  CHECK(a == 1.0);
  CHECK(1 < c);
  CHECK(c < 2.5);
  CHECK(2.5 >= c);
  CHECK_FALSE(c < 2);
  CHECK(a * c == 2.0);  // on an expression too
  CHECK(a + c > b);
}

TEST_CASE("construction and accessors", "[jet][arithmetic]") {
  using J = Jet<double, 4>;
  const J z;
  for (int k = 0; k <= 4; ++k) CHECK(z[k] == 0);
  const J c(2.5);
  CHECK(c[0] == 2.5);
  CHECK(c[1] == 0);
  const J ci = 3;  // implicit from int
  CHECK(ci.value() == 3);
  const J x = J::variable(0.5);
  CHECK(x.coefficients() == std::array<double, 5>{0.5, 1, 0, 0, 0});
  const J d = J::from_derivatives({1.0, 2.0, 6.0, 24.0, 240.0});
  CHECK(d.coefficients() == std::array<double, 5>{1, 2, 3, 4, 10});
  CHECK(d.derivative(0) == 1);
  CHECK(d.derivative(3) == 24);
  CHECK(d.derivative(4) == 240);
  STATIC_REQUIRE(J::order == 4);
  J m = x;
  m[2] = 7;
  CHECK(m[2] == 7);
  CHECK(Jet<float, 2>::variable(1.f)[1] == 1.f);
}

TEST_CASE("expression templates: aliasing / long chains / auto on rvalue operands", "[jet][expression]") {
  // The truth for polynomial paths is the exact Cauchy product, computed
  // here by the oracle as well (no library code).
  using J = Jet<double, 6>;
  constexpr int K = 6;
  const Path pa{{0.5L, 1, 0.25L}}, pb{{-1, 0.5L, 0, 0.75L}}, pc{{2, -1}}, pd{{0.25L, 0.125L, 1}},
      pe{{1.5L, 0, -0.5L, 0, 0.25L}};
  auto cauchy = [](auto g, ld rho = inf_ld) {
    const Path any{{0, 1}};
    return cauchy_checked(g, K, choose_radius(any, rho));
  };
  const J a = make_jet<double, K>(pa), b = make_jet<double, K>(pb), c = make_jet<double, K>(pc),
          d = make_jet<double, K>(pd), e = make_jet<double, K>(pe);

  SECTION("x = x*x, then x = x*x + x (the target inside the expression)") {
    J x = a;
    x = x * x;
    check_coefficients(x, cauchy([&](cld t) { return pa(t) * pa(t); }), 1e-12L, "x = x*x");
    x = x * x + x;
    check_coefficients(x, cauchy([&](cld t) {
                         const cld s = pa(t) * pa(t);
                         return s * s + s;
                       }),
                       1e-12L, "x = x*x + x");
    J y = b;
    y = y * y * y;
    check_coefficients(y, cauchy([&](cld t) { return pb(t) * pb(t) * pb(t); }), 1e-12L, "y = y*y*y");
    J w = c;
    w = 2 * w - w * w;
    check_coefficients(w, cauchy([&](cld t) { return ld(2) * pc(t) - pc(t) * pc(t); }), 1e-12L, "w = 2w - w*w");
    J v = d;
    v = (v + a) * (v - a);
    check_coefficients(v, cauchy([&](cld t) { return (pd(t) + pa(t)) * (pd(t) - pa(t)); }), 1e-12L, "v = (v+a)(v-a)");
    J s = a;
    s += s * s;
    check_coefficients(s, cauchy([&](cld t) { return pa(t) + pa(t) * pa(t); }), 1e-12L, "s += s*s");
    J m = b;
    m *= m;
    check_coefficients(m, cauchy([&](cld t) { return pb(t) * pb(t); }), 1e-12L, "m *= m");
    J q = c;
    q /= q + a;
    check_coefficients(q, cauchy([&](cld t) { return pc(t) / (pc(t) + pa(t)); }, 0.75L), 1e-12L, "q /= q + a");
    J r = c;
    r -= r * a - r;
    check_coefficients(r, cauchy([&](cld t) { return pc(t) - (pc(t) * pa(t) - pc(t)); }), 1e-12L, "r -= r*a - r");
  }
  SECTION("long chains") {
    const J y = a * b + c * d - e;
    check_coefficients(y, cauchy([&](cld t) { return pa(t) * pb(t) + pc(t) * pd(t) - pe(t); }), 1e-12L, "a*b + c*d - e");
    const J z = a * b * c * d * e - (a + b) * (c - d) + 3 * a * e - e / 2 + 1;
    check_coefficients(z, cauchy([&](cld t) {
                         return pa(t) * pb(t) * pc(t) * pd(t) * pe(t) - (pa(t) + pb(t)) * (pc(t) - pd(t)) +
                                ld(3) * pa(t) * pe(t) - pe(t) / ld(2) + ld(1);
                       }),
                       1e-12L, "long chain");
    const J m = 2 * a - 1 + 0.5 * b * 4 - c / 4 + 1.5 - 3 * (d + 2) * e;
    check_coefficients(m, cauchy([&](cld t) {
                         return ld(2) * pa(t) - ld(1) + ld(0.5) * pb(t) * ld(4) - pc(t) / ld(4) + ld(1.5) -
                                ld(3) * (pd(t) + ld(2)) * pe(t);
                       }),
                       1e-12L, "mixed int/double literals");
    const J n = -(a * b) * (-c) + -(-d);
    check_coefficients(n, cauchy([&](cld t) { return -(pa(t) * pb(t)) * (-pc(t)) + pd(t); }), 1e-12L, "negations");
  }
  SECTION("auto on expressions of rvalue jets stays valid") {
    auto ex = exp(a) * exp(b);  // both factors are temporaries
    auto sum = sin(c) + J(d) * 2;
    // scribble over the stack where the temporaries lived
    volatile double scratch[64];
    for (int i = 0; i < 64; ++i) scratch[i] = 1e300;
    (void)scratch[0];
    const J z = ex;
    check_coefficients(z, cauchy([&](cld t) { return std::exp(pa(t)) * std::exp(pb(t)); }), 1e-12L,
                       "auto e = exp(a)*exp(b)");
    const J s = sum;
    check_coefficients(s, cauchy([&](cld t) { return std::sin(pc(t)) + pd(t) * ld(2); }), 1e-12L, "auto sin(c) + J(d)*2");
    auto chain = exp(a) * b + J(c) * J(d) - log(e);
    const J ch = chain;
    check_coefficients(ch, cauchy([&](cld t) { return std::exp(pa(t)) * pb(t) + pc(t) * pd(t) - std::log(pe(t)); }, 1.5L),
                       1e-12L, "auto chain of rvalues");
  }
  SECTION("functions of expressions") {
    const J y = exp(a * b + c);
    check_coefficients(y, cauchy([&](cld t) { return std::exp(pa(t) * pb(t) + pc(t)); }), 1e-12L, "exp(a*b + c)");
    const J q = (a * b) / (c + 3);
    check_coefficients(q, cauchy([&](cld t) { return pa(t) * pb(t) / (pc(t) + ld(3)); }, 5), 1e-12L, "(a*b)/(c+3)");
  }
}

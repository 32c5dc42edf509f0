// What the expression templates buy: the same arithmetic expressions of Jet<double,K>, evaluated
// (a) fused, as written (`r = a*b + c*d - e`), and (b) eagerly, one materialized temporary per
// operation (what operators returning Jet would do). Same rules, same results; prints JSON lines.

#include <cstdio>
#include <utility>

#include "taynode/jet.hpp"
#include "timing.hpp"

using namespace taynode;

template <int K>
void compare() {
  using J = Jet<double, K>;
  J a = J::variable(0.3), b = exp(a), c = sin(a), d = a * a + 1.0, e = cos(a);
  // (1) a*b + c*d - e
  auto [fused1, eager1] = bench::median_ns_pair(
      [&] {
        bench::opaque(a);
        const J r = a * b + c * d - e;
        bench::keep(r);
      },
      [&] {
        bench::opaque(a);
        const J t1 = a * b, t2 = c * d, t3 = t1 + t2, r = t3 - e;
        bench::keep(r);
      });
  // (2) a polynomial step in Horner form, 2*x*x*x - 3*x*x + x - 1 with x = a + b
  auto [fused2, eager2] = bench::median_ns_pair(
      [&] {
        bench::opaque(a);
        const J x = a + b;
        const J r = ((2.0 * x - 3.0) * x + 1.0) * x - 1.0;
        bench::keep(r);
      },
      [&] {
        bench::opaque(a);
        const J x = a + b, t1 = 2.0 * x, t2 = t1 - 3.0, t3 = t2 * x, t4 = t3 + 1.0, t5 = t4 * x, r = t5 - 1.0;
        bench::keep(r);
      });
  // (3) a linear combination of five jets (an RK stage): a + 0.2*b + 0.3*c - 0.1*d + 0.05*e
  auto [fused3, eager3] = bench::median_ns_pair(
      [&] {
        bench::opaque(a);
        const J r = a + 0.2 * b + 0.3 * c - 0.1 * d + 0.05 * e;
        bench::keep(r);
      },
      [&] {
        bench::opaque(a);
        const J t1 = 0.2 * b, t2 = a + t1, t3 = 0.3 * c, t4 = t2 + t3, t5 = 0.1 * d, t6 = t4 - t5, t7 = 0.05 * e,
                r = t6 + t7;
        bench::keep(r);
      });
  const char* names[] = {"a*b+c*d-e", "horner_cubic", "linear_combination_5"};
  const double fused[] = {fused1, fused2, fused3}, eager[] = {eager1, eager2, eager3};
  for (int i = 0; i < 3; ++i)
    std::printf("{\"case\":\"%s\",\"K\":%d,\"fused_ns\":%.2f,\"eager_ns\":%.2f,\"eager_over_fused\":%.2f}\n", names[i],
                K, fused[i], eager[i], eager[i] / fused[i]);
}

int main() {
  [&]<int... K>(std::integer_sequence<int, K...>) { (compare<K>(), ...); }(std::integer_sequence<int, 1, 2, 3, 4, 6, 8>{});
}

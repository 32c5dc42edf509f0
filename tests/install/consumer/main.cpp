// A user program: taynode from an installed package or from add_subdirectory.
// Third derivatives by Taylor mode (a polynomial, exp, and the solution of z' = z^2), checked
// against the closed forms.
#include <taynode/backend/cpu_threads.hpp>
#include <taynode/jet.hpp>
#include <taynode/taylor.hpp>

#include <cmath>
#include <cstdio>

int main() {
  using J = taynode::Jet<double, 3>;
  const double x0 = 1.5;
  const J x = J::variable(x0);  // the path x0 + t

  const J p = x * x * x + 2.0 * x;  // p(x) = x^3 + 2x
  const double p_exact[4] = {x0 * x0 * x0 + 2 * x0, 3 * x0 * x0 + 2, 6 * x0, 6};

  const J e = exp(x);  // every derivative of exp is exp(x0)

  int failures = 0;
  for (int k = 0; k <= 3; ++k) {
    const double dp = p.derivative(k);
    const double de = e.derivative(k);
    std::printf("k=%d  p^(k)=%-10g (exact %-10g)  exp^(k)=%.15g\n", k, dp, p_exact[k], de);
    if (std::abs(dp - p_exact[k]) > 1e-12 * (1 + std::abs(p_exact[k]))) ++failures;
    if (std::abs(de - std::exp(x0)) > 1e-12 * std::exp(x0)) ++failures;
  }

  // z' = z^2, z(0) = 0.5: z^(k)(0) = k! 0.5^(k+1) = 0.5, 0.25, 0.25, 0.375.
  const auto z = taynode::ode_taylor_coefficients<3>([](auto, const auto& y) { return y * y; }, 0.5, 0.0);
  const double z_exact[4] = {0.5, 0.25, 0.25, 0.375};
  for (int k = 0; k <= 3; ++k) {
    std::printf("k=%d  z^(k)(0)=%g (exact %g)\n", k, z[k], z_exact[k]);
    if (std::abs(z[k] - z_exact[k]) > 1e-14) ++failures;
  }

#ifdef TAYNODE_CONSUMER_THREADS
  // Linked to taynode::threads: backend::Cpu may run on two threads.
  taynode::set_cpu_threads(2);
  std::printf("taynode::threads: %d threads\n", taynode::cpu_threads());
  if (!taynode::cpu_threads_available || taynode::cpu_threads() != 2) ++failures;
#endif

  std::puts(failures == 0 ? "taynode consumer: OK" : "taynode consumer: WRONG");
  return failures == 0 ? 0 : 1;
}

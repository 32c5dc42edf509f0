// Taylor mode on the ODE z' = z², z(0) = z0.
//
// The solution z(t) = z0 / (1 − z0·t) has derivatives z^(k)(0) = k!·z0^(k+1).
// 1. taynode::ode_taylor_coefficients<K> (incremental Taylor mode, O(K²)) for K = 1..8,
//    next to the closed form.
// 2. Time of Taylor mode vs the nested forward-mode recursion g_{k+1} = J_{g_k}·f
//    (taynode::ode_taylor_coefficients_nested<K>) for K = 2..8.
#include <taynode/jet.hpp>
#include <taynode/taylor.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

namespace {

constexpr double z0 = 0.5;
constexpr double t0 = 0.0;
constexpr int max_order = 8;

// The dynamics, generic over the scalar type (double, Jet, Dual, ...).
const auto f = [](const auto& /*t*/, const auto& z) { return z * z; };

// z^(k)(0) = k!·z0^(k+1)
double closed_form(int k) {
  double factorial = 1;
  for (int j = 2; j <= k; ++j) factorial *= j;
  return factorial * std::pow(z0, k + 1);
}

double relative_error(double got, double exact) { return std::abs(got - exact) / std::abs(exact); }

// Keeps the compiler from removing the timed work, and from hoisting it out of the loop.
volatile double sink = 0;
volatile double z0_runtime = z0;

// Median over `samples` of the time per call of job(z0), in nanoseconds. Each sample runs enough
// calls to last about 2 ms, so clock resolution does not matter.
template <class Job>
double median_ns_per_call(Job&& job) {
  using clock = std::chrono::steady_clock;
  auto run = [&](long calls) {
    const auto start = clock::now();
    double acc = 0;
    for (long i = 0; i < calls; ++i) acc += job(z0_runtime);
    sink = sink + acc;
    return std::chrono::duration<double, std::nano>(clock::now() - start).count();
  };
  long calls = 1;
  while (run(calls) < 2e6 && calls < (1L << 30)) calls *= 2;  // also warms up
  constexpr int samples = 15;
  std::vector<double> ns(samples);
  for (double& s : ns) s = run(calls) / double(calls);
  std::nth_element(ns.begin(), ns.begin() + samples / 2, ns.end());
  return ns[samples / 2];
}

template <int K>
void print_coefficient_row(double& worst) {
  const std::array<double, K + 1> taylor = taynode::ode_taylor_coefficients<K>(f, z0, t0);
  double worst_in_call = 0;  // over all returned orders 0..K, not just the last
  for (int k = 0; k <= K; ++k) worst_in_call = std::max(worst_in_call, relative_error(taylor[k], closed_form(k)));
  worst = std::max(worst, worst_in_call);
  std::printf("  %d  %22.15g  %22.15g  %9.2e  %9.2e\n", K, taylor[K], closed_form(K),
              relative_error(taylor[K], closed_form(K)), worst_in_call);
}

template <int K>
void print_timing_row() {
  const double taylor_ns = median_ns_per_call([](double z) {
    return taynode::ode_taylor_coefficients<K>(f, z, t0)[K];
  });
  const double nested_ns = median_ns_per_call([](double z) {
    return taynode::ode_taylor_coefficients_nested<K>(f, z, t0)[K];
  });
  std::printf("  %d  %14.1f  %14.1f  %9.2f\n", K, taylor_ns, nested_ns, nested_ns / taylor_ns);
}

}  // namespace

int main() {
  std::printf("taynode: Taylor mode on z' = z^2, z(%g) = %g\n", t0, z0);
  std::printf("closed form z(t) = z0/(1 - z0 t), so z^(k)(0) = k! z0^(k+1)\n\n");

  std::printf("z^(K)(0) from ode_taylor_coefficients<K> (max rel. err: over orders 0..K of that call)\n");
  std::printf("  K  %22s  %22s  %9s  %9s\n", "Taylor mode", "closed form", "rel. err", "max err");
  double worst = 0;
  [&]<int... K>(std::integer_sequence<int, K...>) {
    (print_coefficient_row<K + 1>(worst), ...);
  }(std::make_integer_sequence<int, max_order>{});

  // The nested recursion must agree too: it is the baseline, not a different quantity.
  const auto nested = taynode::ode_taylor_coefficients_nested<max_order>(f, z0, t0);
  double worst_nested = 0;
  for (int k = 0; k <= max_order; ++k)
    worst_nested = std::max(worst_nested, relative_error(nested[k], closed_form(k)));
  std::printf("max rel. err: Taylor mode %.2e, nested forward mode %.2e\n\n", worst, worst_nested);

  std::printf("time per call for all orders 0..K (median of 15 samples, ns); ratio = nested / Taylor\n");
  std::printf("  K  %14s  %14s  %9s\n", "Taylor mode", "nested Dual", "ratio");
  [&]<int... K>(std::integer_sequence<int, K...>) {
    (print_timing_row<K + 2>(), ...);
  }(std::make_integer_sequence<int, max_order - 1>{});

  const bool ok = worst < 1e-13 && worst_nested < 1e-13;
  std::printf("\n%s\n", ok ? "coefficients match the closed form" : "ERROR: coefficients do not match");
  return ok ? 0 : 1;
}

#pragma once
// Median-of-repeats timing for the benchmark programs (plain chrono, no framework).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <utility>
#include <vector>

namespace taynode::bench {

// Keeps the optimizer from discarding a value.
template <class T>
inline void keep(T const& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

// Hides a value from the optimizer, so work on it cannot be hoisted out of the timing loop.
template <class T>
inline void opaque(T& value) {
  asm volatile("" : "+m"(value) : : "memory");
}

// Median nanoseconds per call of fn(), over `repeats` timed batches; the batch size is grown until
// one batch takes at least `min_batch_ns`.
template <class Fn>
double median_ns(Fn&& fn, int repeats = 15, double min_batch_ns = 2e6) {
  using clock = std::chrono::steady_clock;
  std::size_t n = 1;
  for (;;) {
    const auto t0 = clock::now();
    for (std::size_t i = 0; i < n; ++i) fn();
    const double ns = std::chrono::duration<double, std::nano>(clock::now() - t0).count();
    if (ns >= min_batch_ns || n >= (std::size_t(1) << 30)) break;
    n *= 2;
  }
  std::vector<double> per_call;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = clock::now();
    for (std::size_t i = 0; i < n; ++i) fn();
    per_call.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count() / double(n));
  }
  std::nth_element(per_call.begin(), per_call.begin() + repeats / 2, per_call.end());
  return per_call[repeats / 2];
}

// Median nanoseconds per call of a() and of b(), timed in alternating batches so that both see the
// same machine state (the other core's load, frequency changes).
template <class A, class B>
std::pair<double, double> median_ns_pair(A&& a, B&& b, int repeats = 15, double min_batch_ns = 2e6) {
  using clock = std::chrono::steady_clock;
  auto batch_size = [&](auto& fn) {
    std::size_t n = 1;
    for (;;) {
      const auto t0 = clock::now();
      for (std::size_t i = 0; i < n; ++i) fn();
      const double ns = std::chrono::duration<double, std::nano>(clock::now() - t0).count();
      if (ns >= min_batch_ns || n >= (std::size_t(1) << 30)) return n;
      n *= 2;
    }
  };
  const std::size_t na = batch_size(a), nb = batch_size(b);
  std::vector<double> ta, tb;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = clock::now();
    for (std::size_t i = 0; i < na; ++i) a();
    ta.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count() / double(na));
    t0 = clock::now();
    for (std::size_t i = 0; i < nb; ++i) b();
    tb.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count() / double(nb));
  }
  std::nth_element(ta.begin(), ta.begin() + repeats / 2, ta.end());
  std::nth_element(tb.begin(), tb.begin() + repeats / 2, tb.end());
  return {ta[repeats / 2], tb[repeats / 2]};
}

}  // namespace taynode::bench

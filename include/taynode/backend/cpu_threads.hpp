#pragma once
// Threads of backend::Cpu: how many, and the one way work is split over them.
//
//   taynode::set_cpu_threads(n)    threads for every later backend::Cpu kernel of this process
//                                  (default 1; n > 1 needs an OpenMP build, else invalid_argument)
//   taynode::cpu_threads()         the number set
//
// Results are bit-identical for any thread count, by construction: work is split only where the
// pieces are computed exactly as the whole would be —
//   - GEMMs: ranges of the rows of the output C, every range run with the blocking
//     (kc, mc, nc) Eigen chose for the WHOLE product and starting where the whole product starts
//     one of its blocks or register panels (Cpu::gemm_kernel), so that every element is the same
//     sequence of operations as in the whole product (tests/backend/test_cpu_threads.cpp checks
//     this bit for bit on the paper's shapes and 40 random ones, float and double).
//   - elementwise kernels and per-row reductions: contiguous index ranges (elements independent).
// Whole-array reductions (sum, column_sums, sum_of_products) stay on one thread: their order is
// Eigen's, which a split would change. Eigen's own OpenMP parallelization, which changes its
// blocking with the thread count, is switched off in the taynode CMake target
// (EIGEN_DONT_PARALLELIZE).
//
// A region runs on one thread when the work is small (splitting costs a few µs), when it is
// already inside an OpenMP region (no nesting), and always without OpenMP.

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>

#include "taynode/backend/backend.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace taynode {

namespace backend::cpu_detail {
inline std::atomic<int> thread_count{1};
}  // namespace backend::cpu_detail

// Whether this build can run backend::Cpu on more than one thread.
inline constexpr bool cpu_threads_available =
#ifdef _OPENMP
    true;
#else
    false;
#endif

inline void set_cpu_threads(int n) {
  if (n < 1) throw std::invalid_argument("taynode::set_cpu_threads: thread count " + std::to_string(n) + " < 1");
  if (n > 1 && !cpu_threads_available)
    throw std::invalid_argument("taynode::set_cpu_threads: " + std::to_string(n) +
                                " threads asked, but this program was compiled without OpenMP (-fopenmp; the "
                                "taynode CMake target adds it when TAYNODE_ENABLE_OPENMP is ON)");
  backend::cpu_detail::thread_count.store(n, std::memory_order_relaxed);
}
inline int cpu_threads() { return backend::cpu_detail::thread_count.load(std::memory_order_relaxed); }

namespace backend::cpu_detail {

// f(begin, end) over [0, n) split into at most cpu_threads() contiguous ranges whose interior
// boundaries are multiples of `quantum`; `cost` is the work per index (say, flops) and a range
// gets at least `min_cost` of it. The split depends only on (n, quantum, threads); f must make
// each index's result independent of the range it is in.
template <class F>
void parallel_ranges(Index n, Index quantum, double cost, double min_cost, F&& f) {
  const Index units = (n + quantum - 1) / quantum;
  Index t = std::min<Index>(cpu_threads(), units);
  if (cost > 0) t = std::min<Index>(t, std::max<Index>(1, static_cast<Index>(double(n) * cost / min_cost)));
#ifdef _OPENMP
  if (t > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(static_cast<int>(t))
    {
      const Index parts = omp_get_num_threads(), i = omp_get_thread_num();
      const Index b = std::min(n, units * i / parts * quantum), e = std::min(n, units * (i + 1) / parts * quantum);
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  if (n > 0) f(Index(0), n);
}

}  // namespace backend::cpu_detail
}  // namespace taynode

// bench_cuda_cpu: the figures of bench_cuda_gpu (figures.hpp) on backend::Cpu, one thread, compiled
// by g++ at -O3 -march=x86-64-v3: the reference of each ratio in benchmarks/RESULTS.md. Forward
// figures at B = 100 (K = 1..6) and 1000 (K ≤ 3), the Dopri5 and RK4-grid solves and the training steps at B = 100.
// Usage: bench_cuda_cpu [--quick]   (--quick: B = 100 only)
#include "figures.hpp"

using namespace taynode_bench;

namespace {
template <class T>
void for_type(bool quick) {
  forward_figures<backend::Cpu, T>(100, 6);
  if (!quick) forward_figures<backend::Cpu, T>(1000, 3);
  solve_figure<backend::Cpu, T>(100);
  grid_solve_figure<backend::Cpu, T>(100);
  training_figures<backend::Cpu, T>(100);
}
}  // namespace

int main(int argc, char** argv) {
  const bool quick = parse_quick(argc, argv, "bench_cuda_cpu");
  std::printf("{\"device\":\"cpu, one thread\",\"rounds\":%d}\n", cpu_rounds);
  try {
    for_type<float>(quick);
    for_type<double>(quick);
  } catch (const std::exception& e) {
    std::printf("bench_cuda_cpu: FAILED: %s\n", e.what());
    return 1;
  }
  return 0;
}

// The MNIST dynamics (σ → [t,·] → Linear(785→100) → σ → [t,·] → Linear(101→784), 157k parameters)
// on backend::Cuda; bench_cuda_cpu (cpu_half.cpp) runs the same figures (figures.hpp, written once)
// on backend::Cpu, one thread, for the ratios, in the same scripts/gpu-check run:
//   f_eval         one evaluation f(t, z)                      B = 100, 1000, 10000; float, double
//   coefficients   all Taylor coefficients of z up to K = 1..6  (NetworkTaylor::ode_coefficients)
//   (detail "graph (N nodes)": the same two replayed from a captured backend::Cuda::Graph of N nodes)
//   dopri5_solve   z(1) from z(0) with Dopri5 at rtol = atol = 1.4e-8 (NFE reported); detail
//                  "resident R rows/block": the same solve as one cooperative kernel
//                  (taylor/resident_solve.hpp), R = 1, 2, 4, 8
//   training_step  ad::solve_gradient + an Adam step on the host + the device parameters refreshed:
//                  RK4 × 4 and Dopri5 1e-5; none, R_2, R_3; backprop and adjoint (B = 100)
//                  (detail "device": RK4 × 4 backprop with θ̄ and an SGD step on the device, no
//                  host transfer; "graph (N nodes)": that step captured once and replayed)
// Initial states: uniform [0,1] pixels (seeded; the baselines in baselines/ draw theirs the same
// way), parameters by nn::init_haiku. Timing: each figure runs `calls` times between two
// synchronizations (calls chosen so one round lasts ≥ 20 ms), seven rounds (CPU: three), median per call.
// Output: one JSON line per figure (benchmarks/cuda/table.py puts them side by side with the CPU
// half's and the baselines'). Exit code 77 without a device.
//
// Usage: bench_cuda_gpu [--quick]   (--quick: B = 100 only, three rounds)
#include <cstdio>
#include <vector>

#include "figures.hpp"
#include "taynode/cuda.hpp"
#include "taynode/taylor/resident_solve.hpp"

using namespace taynode_bench;
using taynode::backend::Cuda;

namespace {

// The Dopri5 solve of solve_figure as one resident kernel, for each rows_per_block.
template <class T>
void resident_solve_figures(Index batch) {
  const char* t = type_name<T>();
  Setup<Cuda, T> s(batch);
  SolveOptions<T> o;
  o.rtol = o.atol = T(1.4e-8);
  Cuda::Matrix<T> z1;
  for (int rows : {1, 2, 4, 8}) {
    const std::string detail = "rtol=atol=1.4e-8, resident " + std::to_string(rows) + " rows/block";
    try {
      long nfe = 0;
      const double sec = median_seconds<Cuda>([&] {
        nfe = long(resident_dopri5(s.ws, s.z0, T(0), T(1), z1, o, ResidentOptions{rows, 128}).nfe);
      });
      report({"dopri5_solve", "cuda", t, detail, batch, 1e6 * sec, nfe});
    } catch (const std::exception& e) {
      report_failure("dopri5_solve", "cuda", t, batch, detail, e.what());
    }
  }
}

template <class T>
void device_figures(bool quick) {
  const std::vector<Index> batches = quick ? std::vector<Index>{100} : std::vector<Index>{100, 1000, 10000};
  for (Index batch : batches) {
    forward_figures<Cuda, T>(batch, 6);
    graph_figures<Cuda, T>(batch, 6);
    solve_figure<Cuda, T>(batch);
    resident_solve_figures<T>(batch);
    grid_solve_figure<Cuda, T>(batch);
    step_graph_figure<Cuda, T>(batch);
  }
  training_figures<Cuda, T>(100);
  device_training_figures<Cuda, T>(100);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = parse_quick(argc, argv, "bench_cuda_gpu");
  if (quick) rounds = 3;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("bench_cuda_gpu: no CUDA device, skipped\n");
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::printf("{\"device\":\"%s\",\"sms\":%d,\"driver\":%d,\"runtime\":%d,\"rounds\":%d}\n", prop.name,
              prop.multiProcessorCount, driver, runtime, rounds);
  try {
    device_figures<float>(quick);
    device_figures<double>(quick);
  } catch (const std::exception& e) {
    std::printf("bench_cuda_gpu: FAILED: %s\n", e.what());
    return 1;
  }
  return 0;
}

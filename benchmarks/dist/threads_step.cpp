// One MNIST training step (mnist_step.hpp: batch 100, backprop through RK4 on 4 steps,
// unregularized or R_K, SGD with momentum) on one thread and on N threads of backend::Cpu
// (taynode::set_cpu_threads), interleaved in one run (benchmarks/RESULTS.md, "Data-parallel"):
//
//   build/benchmarks/dist/bench_dist_threads_step [rounds=9] [K=0] [threads=2]
//
// Per round the two trainers (same initial parameters) take one step each, single-threaded
// first; medians over the rounds. The two gradients must be bit-identical every round
// (backend/cpu_threads.hpp), else the benchmark fails.
#include <taynode/backend/cpu_threads.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mnist_step.hpp"

using namespace taynode_bench;

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 9;
  const int K = argc > 2 ? std::atoi(argv[2]) : 0;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  const Index global = 100;
  const RandomBatch batch{global};

  Trainer one(global, K), many(global, K);
  std::vector<double> single, parallel;
  for (int r = -1; r < rounds; ++r) {  // round −1 warms up
    taynode::set_cpu_threads(1);
    auto t0 = std::chrono::steady_clock::now();
    auto g1 = one.gradient(batch.x, batch.y, batch.y.size());
    one.opt.step(one.refs, g1);
    if (r >= 0) single.push_back(seconds_since(t0));

    taynode::set_cpu_threads(threads);
    t0 = std::chrono::steady_clock::now();
    auto gn = many.gradient(batch.x, batch.y, batch.y.size());
    many.opt.step(many.refs, gn);
    if (r >= 0) parallel.push_back(seconds_since(t0));

    for (std::size_t i = 0; i < g1.size(); ++i)
      if (std::memcmp(g1.value(i).data(), gn.value(i).data(), sizeof(double) * std::size_t(g1.value(i).size())) != 0) {
        std::fprintf(stderr, "bench_dist_threads_step: gradient %s differs between 1 and %d threads\n", g1.name(i).c_str(),
                     threads);
        return 1;
      }
  }
  const double s = median(single), p = median(parallel);
  std::printf("MNIST training step, batch %ld, RK4 x 4, %s, %d rounds (medians):\n", long(global),
              K > 0 ? "R_K" : "unregularized", rounds);
  std::printf("  1 thread    %8.2f ms\n", 1e3 * s);
  std::printf("  %d threads   %8.2f ms   ratio %.3f   (gradients bit-identical)\n", threads, 1e3 * p, p / s);
  return 0;
}

// One MNIST training step (the paper's dynamics 784 → 100 → 784 with its classifier head, batch
// 100, backprop through RK4 on 4 steps, unregularized or R_3, SGD with momentum) on one rank and
// data-parallel over all ranks, interleaved in one run (benchmarks/RESULTS.md, "Data-parallel"):
//
//   mpirun -np 2 build/benchmarks/dist/bench_dist_mpi_step [rounds=9] [K=0]
//
// Per round: (a) rank 0 alone computes the whole batch's gradient and steps (the other ranks wait
// at a barrier, idle) — the single-process time; (b) every rank its shard, one MPI_Allreduce of
// the 165 418 gradient scalars, the step — the data-parallel time (the slowest rank's); (c) the
// allreduce alone on that buffer. Medians over the rounds; rank 0 prints one line per figure.
#include <taynode/dist/mpi.hpp>

#include <cstdio>
#include <cstdlib>

#include "mnist_step.hpp"

using namespace taynode_bench;

int main(int argc, char** argv) {
  dist::MpiSession session(argc, argv);
  dist::DataParallel dp;
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 9;
  const int K = argc > 2 ? std::atoi(argv[2]) : 0;
  const std::size_t global = 100;
  const auto [first, count] = dp.shard(global);

  const RandomBatch batch{Index(global)};
  const Mat& x = batch.x;
  const std::vector<int>& y = batch.y;
  const Mat rows = x.middleRows(Eigen::Index(first), Eigen::Index(count));

  Trainer whole(Index(global), K), part(Index(count), K);
  std::vector<double> single, parallel, allreduce;
  for (int r = -1; r < rounds; ++r) {  // round −1 warms up
    dp.barrier();
    if (dp.rank() == 0) {
      const auto t0 = std::chrono::steady_clock::now();
      auto g = whole.gradient(x, y, global);
      whole.opt.step(whole.refs, g);
      if (r >= 0) single.push_back(seconds_since(t0));
    }
    dp.barrier();
    const auto t1 = std::chrono::steady_clock::now();
    auto g = part.gradient(rows, std::span<const int>(y).subspan(first, count), global);
    dp.sum(g);
    part.opt.step(part.refs, g);
    const double mine = seconds_since(t1);
    const double slowest = dp.maximum(mine);
    if (r >= 0) parallel.push_back(slowest);
    dp.barrier();
    const auto t2 = std::chrono::steady_clock::now();
    dp.sum(g);
    const double reduce = dp.maximum(seconds_since(t2));
    if (r >= 0) allreduce.push_back(reduce);
  }
  if (dp.rank() == 0) {
    const double s = median(single), p = median(parallel), a = median(allreduce);
    std::printf("MNIST training step, batch %zu, RK4 x 4, %s, %d rounds (medians):\n", global, K > 0 ? "R_K" : "unregularized",
                rounds);
    std::printf("  one process          %8.2f ms\n", 1e3 * s);
    std::printf("  %d ranks (%zu rows)    %8.2f ms   ratio %.3f\n", dp.size(), count, 1e3 * p, p / s);
    std::printf("  allreduce of %ld doubles %6.3f ms\n", long(part.refs.total_size()), 1e3 * a);
  }
  return 0;
}

#pragma once
// cuda::Graph<Runtime> (backend::Cuda::Graph): the backend calls a piece of host code issues on
// this thread's stream, captured once and replayed with one launch. On a GPU each kernel or GEMM
// launch costs the host several microseconds (about 10 µs each on the H200 machine here, measured
// 2026-11-30), more than the MNIST dynamics' kernels take to run at batch 100, so a replay of a
// captured f-evaluation or Taylor-coefficient pass runs at the speed of the device, not of the
// launches.
//
// What replays is what was captured: the kernels, GEMMs and device copies with their arguments
// frozen — pointers, sizes and by-value scalars such as the time t of an evaluation (a workspace on
// a Clock, series/clock.hpp, reads t from device memory instead, so a replay runs at the clock's
// time). The host code does not run again. So the captured code
//   * must not synchronize or copy to or from the host (download, sum, an upload from host memory,
//     synchronize): the capture fails with a cuda::Error naming the call, and nothing is kept;
//   * reads its inputs from, and writes its results to, the same buffers at every replay: refill
//     an input buffer in place (upload into it) between replays, and keep the buffers alive.
// Blocks the captured code gives back to the pool stay reserved for the graph until it is
// destroyed (another user of the pool could otherwise be handed a block the replays still write).
// The pool is process-wide: capture on one thread while no other thread allocates.
// Runtimes: cuda::DeviceRuntime (cudaStreamBeginCapture / cudaGraphInstantiate / cudaGraphLaunch)
// and cuda::EmulatedRuntime (records the launches, GEMMs and copies as closures and replays them),
// so the host test suite checks the semantics above.

#include <cstddef>
#include <utility>
#include <vector>

#include "taynode/backend/cuda/pool.hpp"

namespace taynode::cuda {

template <class Runtime>
class Graph {
 public:
  // Captures the backend calls work() makes on this thread (without running them).
  template <class Work>
  explicit Graph(Work&& work) {
    Pool<Runtime>& pool = Pool<Runtime>::instance();
    pool.hold(&held_);
    Runtime::begin_capture("Graph");
    try {
      work();
      captured_ = Runtime::end_capture("Graph");
    } catch (...) {
      Runtime::abort_capture();
      pool.hold(nullptr);
      release_held();
      throw;
    }
    pool.hold(nullptr);
  }
  Graph(Graph&& o) noexcept : captured_(std::exchange(o.captured_, {})), held_(std::move(o.held_)) { o.held_.clear(); }
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph& operator=(Graph&&) = delete;
  ~Graph() {
    Runtime::destroy(captured_);
    release_held();
  }

  // Runs the captured work once more, on this thread's stream (asynchronously on a device).
  void replay() const { Runtime::replay(captured_, "Graph::replay"); }
  // Number of operations captured (kernels, GEMM kernels, copies).
  std::size_t operations() const { return Runtime::operations(captured_); }

 private:
  void release_held() noexcept {
    for (auto [p, bytes] : held_) Pool<Runtime>::instance().give_back(p, bytes);
    held_.clear();
  }
  typename Runtime::CapturedGraph captured_{};
  std::vector<std::pair<void*, std::size_t>> held_;
};

}  // namespace taynode::cuda

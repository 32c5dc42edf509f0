#pragma once
// cuda::EmulatedRuntime: the CUDA runtime + cuBLAS calls the backend makes, emulated on the host
// in plain C++ (backend::CudaEmulated), so the ordinary g++ test suite runs the backend's own code
// path: its pool, launch geometry, index guards, reductions and the row-major → column-major GEMM
// mapping.
//  * memory: host allocations, poisoned with all-ones bytes (NaN in float and double) whenever
//    the pool hands a block out, as uninitialised device memory would hold garbage;
//  * launch(grid, block, body): a loop over every block and thread calling the same body with the
//    emulated coordinates, after the device's geometry checks;
//  * gemm: a straightforward column-major GEMM with cuBLAS's signature and argument checks
//    (cublasDgemm/cublasSgemm: transa, transb, m, n, k, α, A, lda, B, ldb, β, C, ldc; β = 0: C is
//    not read);
//  * graph capture (cuda::Graph): launches, GEMMs and device copies are recorded as closures with
//    their arguments frozen instead of run, and a replay runs them in order; a host transfer or a
//    synchronize while capturing fails as on a device;
//  * launch_resident(blocks, threads, shared bytes, body): a cooperative launch, every thread of
//    every block a std::thread, with std::barriers for the block and grid synchronizations and a
//    poisoned shared-memory block per block (cuda::EmulatedTeam), so a body's synchronization is
//    exercised, not just its arithmetic.

#include <barrier>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "taynode/backend/cuda/error.hpp"
#include "taynode/backend/cuda/launch.hpp"

namespace taynode::cuda {

// What one thread of a resident launch sees (the device's is DeviceTeam, device_runtime.hpp).
class EmulatedTeam {
 public:
  EmulatedTeam(Index block, Index blocks, Index thread, Index threads, std::barrier<>& block_barrier,
               std::barrier<>& grid_barrier, unsigned char* shared)
      : block_(block), blocks_(blocks), thread_(thread), threads_(threads), block_barrier_(&block_barrier),
        grid_barrier_(&grid_barrier), shared_(shared) {}
  Index block() const { return block_; }
  Index blocks() const { return blocks_; }
  Index thread() const { return thread_; }
  Index threads() const { return threads_; }
  void sync_block() const { block_barrier_->arrive_and_wait(); }
  void sync_grid() const { grid_barrier_->arrive_and_wait(); }
  template <class T>
  T* shared() const {
    return reinterpret_cast<T*>(shared_);
  }

 private:
  Index block_, blocks_, thread_, threads_;
  std::barrier<>* block_barrier_;
  std::barrier<>* grid_barrier_;
  unsigned char* shared_;
};

struct EmulatedRuntime {
  static constexpr const char* name = "emulated";

  static void* allocate(std::size_t bytes, const char* op) {
    void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!p) throw Error("cudaMalloc", "out of memory", op);
    return p;
  }
  static void release(void* p) noexcept { std::free(p); }
  static void on_acquire(void* p, std::size_t bytes) { std::memset(p, 0xFF, bytes); }

  static void to_device(void* dst, const void* src, std::size_t bytes, const char* op) {
    not_while_capturing("cudaMemcpyAsync", op);
    copy(dst, src, bytes);
  }
  static void to_host(void* dst, const void* src, std::size_t bytes, const char* op) {
    not_while_capturing("cudaMemcpyAsync", op);
    copy(dst, src, bytes);
  }
  // Pinned staging (cuda::Staging): host memory; the asynchronous copies complete at once, so an
  // event is done when recorded (counted, for the tests of the staging ring).
  static void* allocate_pinned(std::size_t bytes, const char* op) { return allocate(bytes, op); }
  static void release_pinned(void* p) noexcept { std::free(p); }
  struct Event {
    bool recorded = false;
  };
  static void record_event(Event& e, const char* op) {
    not_while_capturing("cudaEventRecord", op);
    e.recorded = true;
  }
  static void wait_event(Event& e, const char* op) {
    not_while_capturing("cudaEventSynchronize", op);
    e.recorded = false;
  }
  static void destroy_event(Event&) noexcept {}
  static void to_device_async(void* dst, const void* src, std::size_t bytes, const char* op) {
    to_device(dst, src, bytes, op);
  }
  static void to_host_async(void* dst, const void* src, std::size_t bytes, const char* op) {
    to_host(dst, src, bytes, op);
  }
  static void device_to_device(void* dst, const void* src, std::size_t bytes, const char*) {
    run_or_record([=] { copy(dst, src, bytes); });
  }
  static void synchronize(const char* op) { not_while_capturing("cudaStreamSynchronize", op); }

  // Graph capture: the recorded operations, in stream order.
  struct CapturedGraph {
    std::vector<std::function<void()>> operations;
  };
  static void begin_capture(const char* op) {
    not_while_capturing("cudaStreamBeginCapture", op);
    recording() = new CapturedGraph;
  }
  static CapturedGraph end_capture(const char*) {
    CapturedGraph g = std::move(*recording());
    abort_capture();
    return g;
  }
  static void abort_capture() noexcept {
    delete recording();
    recording() = nullptr;
  }
  static void replay(const CapturedGraph& g, const char* op) {
    not_while_capturing("cudaGraphLaunch", op);
    for (const auto& f : g.operations) f();
  }
  static void destroy(CapturedGraph&) noexcept {}
  static std::size_t operations(const CapturedGraph& g) { return g.operations.size(); }

  template <class Body>
  static void launch(Dim grid, Dim block, const Body& body, const char* op) {
    static_assert(std::is_trivially_copyable_v<Body>, "a kernel body is passed to the device by value");
    if (grid.x == 0 || grid.y == 0 || block.x == 0 || block.y == 0 || block.x * block.y > max_threads_per_block ||
        grid.x > max_grid_x || grid.y > max_grid_y)
      throw Error("cudaLaunchKernel", "invalid configuration argument", op);
    run_or_record([grid, block, copy = body] {  // the device receives its own copy
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx)
          for (unsigned ty = 0; ty < block.y; ++ty)
            for (unsigned tx = 0; tx < block.x; ++tx)
              copy(ThreadIndex{bx, by, tx, ty, block.x, block.y, grid.x, grid.y});
    });
  }

  // A cooperative launch: all `blocks` resident at once (resident_blocks bounds them), body(team)
  // on every thread, team.sync_grid() a barrier of the whole grid.
  static constexpr std::size_t max_shared_per_block = std::size_t(227) << 10;  // sm_90's opt-in limit
  template <class Body>
  static unsigned resident_blocks(unsigned /*threads*/, std::size_t /*shared_bytes*/, const char* /*op*/) {
    return 132;  // an H100/H200's SM count, one block each
  }
  template <class Body>
  static void launch_resident(unsigned blocks, unsigned threads, std::size_t shared_bytes, const Body& body,
                              const char* op) {
    static_assert(std::is_trivially_copyable_v<Body>, "a kernel body is passed to the device by value");
    if (blocks == 0 || threads == 0 || threads > max_threads_per_block)
      throw Error("cudaLaunchCooperativeKernel", "invalid configuration argument", op);
    if (shared_bytes > max_shared_per_block)
      throw Error("cudaLaunchCooperativeKernel", "too many resources requested for launch", op);
    run_or_record([blocks, threads, shared_bytes, copy = body] {
      std::barrier<> grid(std::ptrdiff_t(blocks) * threads);
      std::vector<std::unique_ptr<std::barrier<>>> block_barriers;
      // Aligned like the device's dynamic shared memory, poisoned like the pool's blocks.
      std::vector<std::vector<std::max_align_t>> shared(blocks);
      for (unsigned b = 0; b < blocks; ++b) {
        block_barriers.push_back(std::make_unique<std::barrier<>>(std::ptrdiff_t(threads)));
        shared[b].resize(shared_bytes / sizeof(std::max_align_t) + 1);
        std::memset(shared[b].data(), 0xFF, shared[b].size() * sizeof(std::max_align_t));
      }
      std::vector<std::thread> team;
      team.reserve(std::size_t(blocks) * threads);
      for (unsigned b = 0; b < blocks; ++b)
        for (unsigned t = 0; t < threads; ++t)
          team.emplace_back([&, b, t] {
            const EmulatedTeam member(b, blocks, t, threads, *block_barriers[b], grid,
                                      reinterpret_cast<unsigned char*>(shared[b].data()));
            copy(member);
          });
      for (auto& th : team) th.join();
    });
  }

  // Column-major C(m×n) = α·op(A)·op(B) + β·C, cuBLAS's checks and conventions.
  template <class T>
  static void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b,
                   Index ldb, T beta, T* c, Index ldc, const char* op) {
    const char* api = std::is_same_v<T, double> ? "cublasDgemm" : "cublasSgemm";
    auto at_least = [](Index v) { return v > 1 ? v : Index(1); };
    if (m < 0 || n < 0 || k < 0 || lda < at_least(trans_a ? k : m) || ldb < at_least(trans_b ? n : k) ||
        ldc < at_least(m))
      throw Error(api, "CUBLAS_STATUS_INVALID_VALUE", op);
    run_or_record([=] {
      for (Index j = 0; j < n; ++j)
        for (Index i = 0; i < m; ++i) {
          T s = T(0);
          for (Index l = 0; l < k; ++l)
            s += (trans_a ? a[l + i * lda] : a[i + l * lda]) * (trans_b ? b[j + l * ldb] : b[l + j * ldb]);
          T& out = c[i + j * ldc];
          out = beta == T(0) ? alpha * s : alpha * s + beta * out;
        }
    });
  }

 private:
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  // The graph this thread is capturing into (null: none).
  static CapturedGraph*& recording() {
    thread_local CapturedGraph* g = nullptr;
    return g;
  }
  template <class F>
  static void run_or_record(F&& f) {
    if (recording())
      recording()->operations.emplace_back(std::forward<F>(f));
    else
      f();
  }
  static void not_while_capturing(const char* api, const char* op) {
    if (recording()) throw Error(api, "operation not permitted when stream is capturing", op);
  }
};

}  // namespace taynode::cuda

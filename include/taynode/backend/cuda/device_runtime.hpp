#pragma once
// cuda::DeviceRuntime: the runtime layer of backend::Cuda on a GPU (nvcc only): device memory
// from cudaMalloc (called by cuda::Pool on a pool miss only), copies and kernels on a per-thread
// stream, cuBLAS on that stream with TF32 off unless asked for (its 10-bit mantissa breaks error
// control at tight tolerances), and every status checked into a cuda::Error naming the API call,
// the error string and the backend operation. Kernel faults surface at the next synchronizing
// call (download, sum, synchronize) and name that operation.

#if !defined(__CUDACC__)
#error "taynode/backend/cuda/device_runtime.hpp needs nvcc (use backend::CudaEmulated on the host)"
#endif

#include <cooperative_groups.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>
#include <type_traits>
#include <typeinfo>

#include "taynode/backend/cuda/error.hpp"
#include "taynode/backend/cuda/launch.hpp"

namespace taynode::cuda {

inline void check(cudaError_t status, const char* api, const char* op) {
  if (status != cudaSuccess) throw Error(api, cudaGetErrorString(status), op);
}
inline void check(cublasStatus_t status, const char* api, const char* op) {
  if (status != CUBLAS_STATUS_SUCCESS) throw Error(api, cublasGetStatusString(status), op);
}

namespace detail {
template <class Body>
__global__ void run_body(Body body) {
  body(ThreadIndex{Index(blockIdx.x), Index(blockIdx.y), Index(threadIdx.x), Index(threadIdx.y), Index(blockDim.x),
                   Index(blockDim.y), Index(gridDim.x), Index(gridDim.y)});
}
}  // namespace detail

// What one thread of a resident (cooperative) launch sees: its block and thread, the block and
// grid barriers, the block's dynamic shared memory (EmulatedTeam is the host's).
class DeviceTeam {
 public:
  __device__ Index block() const { return Index(blockIdx.x); }
  __device__ Index blocks() const { return Index(gridDim.x); }
  __device__ Index thread() const { return Index(threadIdx.x); }
  __device__ Index threads() const { return Index(blockDim.x); }
  __device__ void sync_block() const { __syncthreads(); }
  __device__ void sync_grid() const { cooperative_groups::this_grid().sync(); }
  template <class T>
  __device__ T* shared() const {
    extern __shared__ float4 taynode_team_shared[];  // 16-byte aligned
    return reinterpret_cast<T*>(taynode_team_shared);
  }
};

namespace detail {
template <class Body>
__global__ void run_team(Body body) {
  const DeviceTeam team;
  body(team);
}
}  // namespace detail

// The calling thread's stream and cuBLAS handle (created on first use, destroyed with the thread).
class Context {
 public:
  static Context& current() {
    thread_local Context context;
    return context;
  }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  // TF32 tensor-core GEMMs for float (off by default).
  void set_tf32(bool on) {
    check(cublasSetMathMode(cublas_, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), "cublasSetMathMode",
          "set_tf32");
  }
  ~Context() {
    if (cublas_) cublasDestroy(cublas_);
    if (workspace_) cudaFree(workspace_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

 private:
  Context() {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", "context");
    check(cublasCreate(&cublas_), "cublasCreate", "context");
    check(cublasSetStream(cublas_, stream_), "cublasSetStream", "context");
    check(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode", "context");
    // cuBLAS's workspace given up front (32 MiB, NVIDIA's advice for Hopper), so no GEMM allocates
    // one, also not while a graph is captured (cuda::Graph).
    check(cudaMalloc(&workspace_, workspace_bytes), "cudaMalloc", "context (cuBLAS workspace)");
    check(cublasSetWorkspace(cublas_, workspace_, workspace_bytes), "cublasSetWorkspace", "context");
  }
  static constexpr std::size_t workspace_bytes = std::size_t(32) << 20;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* workspace_ = nullptr;
};

struct DeviceRuntime {
  static constexpr const char* name = "device";

  static void* allocate(std::size_t bytes, const char* op) {
    void* p = nullptr;
    check(cudaMalloc(&p, bytes), "cudaMalloc", op);
    return p;
  }
  static void release(void* p) noexcept { cudaFree(p); }  // at exit the context may be gone: ignored
  static void on_acquire(void*, std::size_t) {}

  // Host → device from pageable memory: the copy has left the host buffer on return.
  static void to_device(void* dst, const void* src, std::size_t bytes, const char* op) {
    if (!bytes) return;
    const cudaStream_t s = Context::current().stream();
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync", op);
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize", op);
  }
  static void to_host(void* dst, const void* src, std::size_t bytes, const char* op) {
    if (!bytes) return;
    const cudaStream_t s = Context::current().stream();
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync", op);
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize", op);
  }
  // Pinned staging (cuda::Staging): page-locked host slots, asynchronous copies from and to them
  // on the stream, an event per slot. A host copy must not enter a graph capture (a replay would
  // read the slot as it is then), so the asynchronous copies refuse to run while capturing, as the
  // synchronous ones fail by synchronizing.
  static void* allocate_pinned(std::size_t bytes, const char* op) {
    void* p = nullptr;
    check(cudaMallocHost(&p, bytes), "cudaMallocHost", op);
    return p;
  }
  static void release_pinned(void* p) noexcept { cudaFreeHost(p); }
  struct Event {
    cudaEvent_t event = nullptr;
    bool recorded = false;
  };
  static void record_event(Event& e, const char* op) {
    if (!e.event) check(cudaEventCreateWithFlags(&e.event, cudaEventDisableTiming), "cudaEventCreateWithFlags", op);
    check(cudaEventRecord(e.event, Context::current().stream()), "cudaEventRecord", op);
    e.recorded = true;
  }
  static void wait_event(Event& e, const char* op) {
    if (!e.recorded) return;
    check(cudaEventSynchronize(e.event), "cudaEventSynchronize", op);
    e.recorded = false;
  }
  static void destroy_event(Event& e) noexcept {
    if (e.event) cudaEventDestroy(e.event);
    e = {};
  }
  static void to_device_async(void* dst, const void* src, std::size_t bytes, const char* op) {
    const cudaStream_t s = Context::current().stream();
    not_while_capturing(s, op);
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync", op);
  }
  static void to_host_async(void* dst, const void* src, std::size_t bytes, const char* op) {
    const cudaStream_t s = Context::current().stream();
    not_while_capturing(s, op);
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync", op);
  }
  static void device_to_device(void* dst, const void* src, std::size_t bytes, const char* op) {
    if (!bytes) return;
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, Context::current().stream()), "cudaMemcpyAsync",
          op);
  }
  static void synchronize(const char* op) {
    check(cudaStreamSynchronize(Context::current().stream()), "cudaStreamSynchronize", op);
  }

  static void not_while_capturing(cudaStream_t s, const char* op) {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    check(cudaStreamIsCapturing(s, &status), "cudaStreamIsCapturing", op);
    if (status != cudaStreamCaptureStatusNone)
      throw Error("cudaMemcpyAsync", "operation not permitted when stream is capturing (a host copy)", op);
  }

  // A cooperative launch (cudaLaunchCooperativeKernel): all `blocks` resident at once, which
  // resident_blocks bounds (the occupancy of run_team<Body> times the SMs); body(team) on every
  // thread, team.sync_grid() a barrier of the whole grid.
  template <class Body>
  static unsigned resident_blocks(unsigned threads, std::size_t shared_bytes, const char* op) {
    int device = 0, cooperative = 0, sms = 0, per_sm = 0;
    check(cudaGetDevice(&device), "cudaGetDevice", op);
    check(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device), "cudaDeviceGetAttribute", op);
    if (!cooperative) throw Error("cudaDeviceGetAttribute", "the device has no cooperative launches", op);
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute", op);
    allow_shared<Body>(shared_bytes, op);
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, detail::run_team<Body>, int(threads), shared_bytes),
          "cudaOccupancyMaxActiveBlocksPerMultiprocessor", op);
    return unsigned(per_sm) * unsigned(sms);
  }
  template <class Body>
  static void launch_resident(unsigned blocks, unsigned threads, std::size_t shared_bytes, const Body& body,
                              const char* op) {
    static_assert(std::is_trivially_copyable_v<Body>, "a kernel body is passed to the device by value");
    allow_shared<Body>(shared_bytes, op);
    Body copy = body;
    void* args[] = {&copy};
    (void)cudaGetLastError();
    check(cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(&detail::run_team<Body>), dim3(blocks),
                                      dim3(threads), args, shared_bytes, Context::current().stream()),
          "cudaLaunchCooperativeKernel", op);
  }

  template <class Body>
  static void launch(Dim grid, Dim block, const Body& body, const char* op) {
    static_assert(std::is_trivially_copyable_v<Body>, "a kernel body is passed to the device by value");
    // Clear an error a call outside the backend may have left pending, so the check below reports
    // this launch's own. Our own calls are checked where made, and a kernel fault is sticky (it
    // shows again at the next synchronizing call), so nothing of ours is lost.
    (void)cudaGetLastError();
    detail::run_body<<<dim3(grid.x, grid.y), dim3(block.x, block.y), 0, Context::current().stream()>>>(body);
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess)
      throw Error("cudaLaunchKernel", std::string(cudaGetErrorString(status)) + ", kernel " + typeid(Body).name(), op);
  }

  // Graph capture (cuda::Graph) on this thread's stream. Relaxed mode: cuBLAS may still query
  // the device while capturing; a synchronize or host copy on the stream still fails the capture.
  struct CapturedGraph {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
  };
  static void begin_capture(const char* op) {
    check(cudaStreamBeginCapture(Context::current().stream(), cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture",
          op);
  }
  static CapturedGraph end_capture(const char* op) {
    CapturedGraph g;
    check(cudaStreamEndCapture(Context::current().stream(), &g.graph), "cudaStreamEndCapture", op);
    const cudaError_t status = cudaGraphInstantiate(&g.exec, g.graph, 0);
    if (status != cudaSuccess) {
      cudaGraphDestroy(g.graph);
      check(status, "cudaGraphInstantiate", op);
    }
    return g;
  }
  static void abort_capture() noexcept {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(Context::current().stream(), &g);
    if (g) cudaGraphDestroy(g);
    (void)cudaGetLastError();  // the capture's failure was reported by the call that caused it
  }
  static void replay(const CapturedGraph& g, const char* op) {
    check(cudaGraphLaunch(g.exec, Context::current().stream()), "cudaGraphLaunch", op);
  }
  static void destroy(CapturedGraph& g) noexcept {
    if (g.exec) cudaGraphExecDestroy(g.exec);
    if (g.graph) cudaGraphDestroy(g.graph);
    g = {};
  }
  static std::size_t operations(const CapturedGraph& g) {
    std::size_t n = 0;
    check(cudaGraphGetNodes(g.graph, nullptr, &n), "cudaGraphGetNodes", "Graph::operations");
    return n;
  }

  // Column-major C(m×n) = α·op(A)·op(B) + β·C.
  template <class T>
  static void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b,
                   Index ldb, T beta, T* c, Index ldc, const char* op) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cuBLAS GEMMs take float or double");
    if (m == 0 || n == 0) return;
    const cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasHandle_t h = Context::current().cublas();
    if constexpr (std::is_same_v<T, double>)
      check(cublasDgemm(h, ta, tb, int(m), int(n), int(k), &alpha, a, int(lda), b, int(ldb), &beta, c, int(ldc)),
            "cublasDgemm", op);
    else
      check(cublasSgemm(h, ta, tb, int(m), int(n), int(k), &alpha, a, int(lda), b, int(ldb), &beta, c, int(ldc)),
            "cublasSgemm", op);
  }

 private:
  // Dynamic shared memory beyond 48 KiB must be allowed per kernel (sm_90: up to 227 KiB).
  template <class Body>
  static void allow_shared(std::size_t shared_bytes, const char* op) {
    if (shared_bytes > (std::size_t(48) << 10))
      check(cudaFuncSetAttribute(detail::run_team<Body>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared_bytes)),
            "cudaFuncSetAttribute", op);
  }
};

}  // namespace taynode::cuda

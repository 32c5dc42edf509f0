#pragma once
// NCCL for GPU ranks: the gradient sum of data-parallel training on device memory, one GPU per
// rank (docs/dist.md). NCCL does the communication; taynode only builds the communicator and
// calls ncclAllReduce.
//
//   dist::DataParallel dp;                            // MPI (dist/mpi.hpp) ...
//   dist::NcclCommunicator nccl(dp, device);          // ... hands rank 0's ncclUniqueId to all
//   dist::NcclCommunicator nccl(dist::IdFile{path, rank, size}, device);   // or a shared file
//   nccl.sum(grad, n, stream);                        // in place: Σ over ranks (ncclAllReduce)
//   nccl.sum({{w, nw}, {b, nb}}, stream);             // several buffers: one NCCL group
//
// The id exchange is any object with rank(), size() and broadcast_bytes(data, bytes, root)
// (dist::DataParallel, dist::IdFile). `sum` enqueues on `stream` and returns (stream-ordered, like
// every device operation); a failure throws NcclError naming the call, NCCL's message and the
// operation. Needs nccl.h and cudart (the CMake target taynode::nccl); plain C++, no nvcc.

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

namespace taynode::dist {

struct NcclError : std::runtime_error {
  NcclError(const std::string& call, const std::string& what, const std::string& operation)
      : std::runtime_error("taynode::dist: " + call + " failed (" + what + ") in " + operation) {}
};

namespace nccl_detail {
inline void check(ncclResult_t r, const char* call, const char* operation) {
  if (r != ncclSuccess) throw NcclError(call, ncclGetErrorString(r), operation);
}
inline void check(cudaError_t r, const char* call, const char* operation) {
  if (r != cudaSuccess) throw NcclError(call, cudaGetErrorString(r), operation);
}
template <class T>
constexpr ncclDataType_t datatype() {
  if constexpr (std::is_same_v<T, double>) return ncclFloat64;
  else if constexpr (std::is_same_v<T, float>) return ncclFloat32;
  else if constexpr (std::is_same_v<T, int>) return ncclInt32;
  else if constexpr (std::is_same_v<T, long long>) return ncclInt64;
  else static_assert(sizeof(T) == 0, "taynode::dist::NcclCommunicator: float, double, int or long long");
}
}  // namespace nccl_detail

// Rank 0 writes the bytes to `path` (a temporary file renamed into place, so a reader never sees
// a partial id); the other ranks wait for the file up to `timeout`. For jobs without MPI: every
// rank is started with the same path, its rank and the rank count.
struct IdFile {
  std::filesystem::path path;
  int rank_ = 0, size_ = 1;
  std::chrono::milliseconds timeout{60000};

  IdFile(std::filesystem::path p, int rank, int size, std::chrono::milliseconds wait = std::chrono::milliseconds(60000))
      : path(std::move(p)), rank_(rank), size_(size), timeout(wait) {
    if (size < 1 || rank < 0 || rank >= size)
      throw std::invalid_argument("taynode::dist::IdFile: rank " + std::to_string(rank) + " of " + std::to_string(size));
  }
  int rank() const { return rank_; }
  int size() const { return size_; }
  void broadcast_bytes(void* data, std::size_t bytes, int root) const {
    if (rank_ == root) {
      const auto tmp = std::filesystem::path(path.string() + ".tmp" + std::to_string(rank_));
      {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f.write(static_cast<const char*>(data), std::streamsize(bytes));
        if (!f) throw std::runtime_error("taynode::dist::IdFile: cannot write '" + tmp.string() + "'");
      }
      std::filesystem::rename(tmp, path);
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!std::filesystem::exists(path) || std::filesystem::file_size(path) != bytes) {
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("taynode::dist::IdFile: no NCCL id in '" + path.string() + "' after " +
                                 std::to_string(timeout.count()) + " ms (rank " + std::to_string(root) +
                                 " writes it)");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::ifstream f(path, std::ios::binary);
    f.read(static_cast<char*>(data), std::streamsize(bytes));
    if (!f) throw std::runtime_error("taynode::dist::IdFile: cannot read '" + path.string() + "'");
  }
};

// A device buffer of n elements (for sum over several buffers).
template <class T>
struct DeviceSpan {
  T* data;
  std::size_t size;
};

class NcclCommunicator {
 public:
  // Joins the communicator of all ranks of `exchange`, on `device` (this process's GPU).
  template <class Exchange>
  NcclCommunicator(const Exchange& exchange, int device) : rank_(exchange.rank()), size_(exchange.size()) {
    nccl_detail::check(cudaSetDevice(device), "cudaSetDevice", "NcclCommunicator");
    ncclUniqueId id{};
    if (rank_ == 0) nccl_detail::check(ncclGetUniqueId(&id), "ncclGetUniqueId", "NcclCommunicator");
    exchange.broadcast_bytes(&id, sizeof id, 0);
    nccl_detail::check(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank", "NcclCommunicator");
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  ~NcclCommunicator() {
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  ncclComm_t get() const { return comm_; }

  // x[0..n) ← Σ over ranks, in place, enqueued on `stream`.
  template <class T>
  void sum(T* x, std::size_t n, cudaStream_t stream) const {
    if (n == 0) return;
    nccl_detail::check(ncclAllReduce(x, x, n, nccl_detail::datatype<T>(), ncclSum, comm_, stream), "ncclAllReduce",
                       "NcclCommunicator::sum");
  }
  // Every buffer summed over ranks; the allreduces form one NCCL group (launched together).
  template <class T>
  void sum(std::initializer_list<DeviceSpan<T>> buffers, cudaStream_t stream) const {
    nccl_detail::check(ncclGroupStart(), "ncclGroupStart", "NcclCommunicator::sum");
    try {
      for (const auto& b : buffers) sum(b.data, b.size, stream);
    } catch (...) {
      ncclGroupEnd();
      throw;
    }
    nccl_detail::check(ncclGroupEnd(), "ncclGroupEnd", "NcclCommunicator::sum");
  }

 private:
  ncclComm_t comm_ = nullptr;
  int rank_, size_;
};

}  // namespace taynode::dist

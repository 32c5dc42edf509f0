#pragma once
// Data-parallel training over MPI processes (optional: needs an MPI implementation, e.g. Debian's
// libopenmpi-dev; CMake target taynode::mpi). Each rank trains on its shard of the global batch
// with the same parameters; the parameter gradients are summed with ONE MPI_Allreduce on one flat
// contiguous buffer per step, so every rank takes the same optimizer step (docs/dist.md).
//
//   dist::MpiSession mpi(argc, argv);            // MPI_Init_thread … MPI_Finalize
//   dist::DataParallel dp;                       // MPI_COMM_WORLD
//   dp.broadcast(params);                        // rank 0's initial parameters everywhere
//   auto [first, count] = dp.shard(global_batch);   // this rank's rows of each global batch
//   … loss head: cotangents scaled by 1/global_batch, not 1/count …
//   dp.sum(grads);                               // Σ over ranks, in place
//   opt.step(params, grads);                     // identical on every rank
//
// Errors: the communicator's error handler is MPI_ERRORS_RETURN, and a failed call throws
// dist::MpiError naming the call and MPI's message (a rank that throws and exits makes mpirun
// end the job; docs/dist.md). A rank that hangs without dying: set_timeout.

// The C API only: MPI's deprecated C++ bindings are skipped (they also warn under -Wextra).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "taynode/dist/watchdog.hpp"
#include "taynode/nn/parameters.hpp"

namespace taynode::dist {

struct MpiError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace mpi_detail {
inline void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw MpiError(std::string("taynode::dist: ") + call + " failed: " + std::string(text, std::size_t(len)));
}
template <class T>
MPI_Datatype datatype() {
  if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, long long>) return MPI_LONG_LONG;
  else if constexpr (std::is_same_v<T, int>) return MPI_INT;
  else static_assert(sizeof(T) == 0, "taynode::dist: double, float, long long or int");
}
}  // namespace mpi_detail

// MPI_Init_thread (funneled: only the thread that called it makes MPI calls) in the constructor,
// MPI_Finalize in the destructor. One per process.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int provided = 0;
    mpi_detail::check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  }
  ~MpiSession() { MPI_Finalize(); }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

class DataParallel {
 public:
  explicit DataParallel(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    mpi_detail::check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    mpi_detail::check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    mpi_detail::check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm communicator() const { return comm_; }

  // This rank's rows [first, first + count) of a global batch of n rows: contiguous, the first
  // n mod size ranks one row more. Rank order = row order, so concatenating the shards in rank
  // order gives the global batch whatever the rank count.
  std::pair<std::size_t, std::size_t> shard(std::size_t n) const {
    const std::size_t p = std::size_t(size_), r = std::size_t(rank_);
    const std::size_t base = n / p, extra = n % p;
    const std::size_t count = base + (r < extra ? 1 : 0);
    const std::size_t first = r * base + std::min(r, extra);
    return {first, count};
  }

  // x[0..n) ← Σ over ranks, in place (one MPI_Allreduce).
  template <class T>
  void sum(T* x, std::size_t n) const {
    if (n == 0) return;
    collective("MPI_Allreduce", [&] { return MPI_Allreduce(MPI_IN_PLACE, x, int(n), mpi_detail::datatype<T>(), MPI_SUM, comm_); });
  }
  // One number summed (maximized) over ranks: a loss part, an NFE, a failure count.
  template <class T>
  T total(T x) const {
    sum(&x, 1);
    return x;
  }
  template <class T>
  T maximum(T x) const {
    collective("MPI_Allreduce", [&] { return MPI_Allreduce(MPI_IN_PLACE, &x, 1, mpi_detail::datatype<T>(), MPI_MAX, comm_); });
    return x;
  }

  // Every tensor of a parameter collection (nn::ParameterSet, nn::ParameterRefs) summed over
  // ranks: packed into one flat buffer, one MPI_Allreduce, unpacked. The collections must have
  // the same tensors and shapes on every rank (checked by their total size).
  template <class Params>
  void sum(Params& p) {
    pack(p);
    check_same_size(buffer_of<typename Params::Scalar>().size(), "sum");
    sum(buffer_of<typename Params::Scalar>().data(), buffer_of<typename Params::Scalar>().size());
    unpack(p);
  }

  // Rank `root`'s values of every tensor to all ranks (one MPI_Bcast of the flat buffer).
  template <class Params>
  void broadcast(Params& p, int root = 0) {
    pack(p);
    check_same_size(buffer_of<typename Params::Scalar>().size(), "broadcast");
    auto& buf = buffer_of<typename Params::Scalar>();
    collective("MPI_Bcast", [&] {
      return MPI_Bcast(buf.data(), int(buf.size()), mpi_detail::datatype<typename Params::Scalar>(), root, comm_);
    });
    unpack(p);
  }

  // Rank `root`'s bytes to all ranks (one MPI_Bcast): e.g. an ncclUniqueId (dist/nccl.hpp).
  void broadcast_bytes(void* data, std::size_t bytes, int root = 0) const {
    collective("MPI_Bcast", [&] { return MPI_Bcast(data, int(bytes), MPI_BYTE, root, comm_); });
  }

  void barrier() const {
    collective("MPI_Barrier", [&] { return MPI_Barrier(comm_); });
  }

  // A time limit on every collective of this object (0: none, the default): a rank whose
  // collective has not returned after `limit` — another rank hangs without dying — prints the
  // call and exits with status 124, and mpirun ends the job (dist/watchdog.hpp). Choose it well
  // above the longest time ranks can legitimately drift apart between two collectives (e.g. a
  // slow evaluation on rank 0 only).
  void set_timeout(std::chrono::milliseconds limit) {
    watchdog_ = limit.count() > 0 ? std::make_shared<CollectiveWatchdog>(limit, rank_) : nullptr;
  }

 private:
  // One collective: under the watchdog's time limit if one is set, then its error code checked.
  template <class Call>
  void collective(const char* name, Call&& call) const {
    if (watchdog_) watchdog_->arm(name);
    const int code = call();
    if (watchdog_) watchdog_->disarm();
    mpi_detail::check(code, name);
  }
  template <class T>
  std::vector<T>& buffer_of() {
    if constexpr (std::is_same_v<T, double>) return buffer_d_;
    else return buffer_f_;
  }
  template <class Params>
  void pack(const Params& p) {
    auto& buf = buffer_of<typename Params::Scalar>();
    buf.resize(std::size_t(p.total_size()));
    nn::pack_into(p, buf.data());
  }
  template <class Params>
  void unpack(Params& p) {
    nn::unpack_from(p, buffer_of<typename Params::Scalar>().data());
  }
  // A rank with another parameter count would make the collective read past a buffer: compare
  // (one small allreduce of min and max) whenever the count differs from the last one checked,
  // so a training loop pays one allreduce per step, not two.
  void check_same_size(std::size_t n, const char* what) {
    if (n == checked_size_) return;
    long long mm[2] = {-static_cast<long long>(n), static_cast<long long>(n)};
    collective("MPI_Allreduce", [&] { return MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_LONG_LONG, MPI_MAX, comm_); });
    if (-mm[0] != mm[1])
      throw MpiError(std::string("taynode::dist::DataParallel::") + what + ": the ranks hold different parameter counts (" +
                     std::to_string(-mm[0]) + " to " + std::to_string(mm[1]) + ")");
    checked_size_ = n;
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::size_t checked_size_ = std::size_t(-1);
  std::vector<double> buffer_d_;
  std::vector<float> buffer_f_;
  std::shared_ptr<CollectiveWatchdog> watchdog_;  // shared: DataParallel stays copyable
};

}  // namespace taynode::dist

#pragma once
// taynode_test::Guarded: a test backend whose memory is NOT std::vector and not mappable by Eigen
// (no `eigen_host`, so every Eigen accessor of Series and every Eigen-argument overload is a
// compile error for it), so code that compiles and runs on it goes through the backend seam:
//  * buffers come from aligned_alloc with 64-byte guard regions before and after, filled with a
//    canary checked when the buffer is freed (an out-of-bounds write is counted as a corruption);
//  * data is poisoned with signalling NaNs on allocation and on free, so reading memory nobody
//    wrote (or freed memory) turns results into NaN;
//  * every backend call is counted by name, and every pointer a call receives (except kernels'
//    own) is checked to lie in a live guarded buffer (upload/download: the host side must NOT),
//    so a host pointer handed to the backend (a weight not mirrored, a host gradient) is caught;
//  * the arithmetic is backend::Cpu's (the same GEMMs, loops and kernel bodies), so results
//    must equal the Cpu backend's bit for bit.
// Counters are global (guarded_stats()); tests reset them and check corruptions == 0,
// foreign_pointers == 0 and live == 0 at the end.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <type_traits>

#include "taynode/backend/cpu.hpp"
#include "taynode/backend/matrix.hpp"

namespace taynode_test {

using taynode::backend::Index;

struct GuardedStats {
  std::map<std::string, long> calls;
  long corruptions = 0;       // guard bytes found overwritten on free
  long foreign_pointers = 0;  // a pointer outside every live guarded buffer (or a host pointer inside one)
  long live = 0;              // buffers allocated and not yet freed
  std::map<const unsigned char*, const unsigned char*> blocks;  // live data ranges [begin, end]
  void reset_counts() {
    calls.clear();
    corruptions = 0;
    foreign_pointers = 0;
  }
  long count(const std::string& name) const {
    const auto it = calls.find(name);
    return it == calls.end() ? 0 : it->second;
  }
  bool inside(const void* p) const {
    const auto* q = static_cast<const unsigned char*>(p);
    auto it = blocks.upper_bound(q);
    if (it == blocks.begin()) return false;
    --it;
    return q >= it->first && q <= it->second;
  }
};
inline GuardedStats& guarded_stats() {
  static GuardedStats s;
  return s;
}

template <class T>
class GuardedBuffer {
 public:
  static constexpr std::size_t guard = 64;
  static constexpr unsigned char canary = 0xC5;

  explicit GuardedBuffer(std::size_t n = 0) { allocate(n); }
  ~GuardedBuffer() { release(); }
  GuardedBuffer(GuardedBuffer&& o) noexcept : block_(o.block_), n_(o.n_) {
    o.block_ = nullptr;
    o.n_ = 0;
  }
  GuardedBuffer& operator=(GuardedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      block_ = o.block_;
      n_ = o.n_;
      o.block_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  T* data() { return block_ ? reinterpret_cast<T*>(block_ + guard) : nullptr; }
  const T* data() const { return block_ ? reinterpret_cast<const T*>(block_ + guard) : nullptr; }
  std::size_t size() const { return n_; }
  // A new poisoned allocation: values are NOT kept (the Buffer contract promises nothing).
  void resize(std::size_t n) {
    ++guarded_stats().calls["Buffer::resize"];
    release();
    allocate(n);
  }

 private:
  static std::size_t payload(std::size_t n) { return (n * sizeof(T) + guard - 1) / guard * guard; }
  static void poison(T* p, std::size_t n) {
    if constexpr (std::is_floating_point_v<T>) {
      for (std::size_t i = 0; i < n; ++i) p[i] = std::numeric_limits<T>::signaling_NaN();
    } else {
      std::memset(static_cast<void*>(p), 0xA5, n * sizeof(T));
    }
  }
  void allocate(std::size_t n) {
    n_ = n;
    const std::size_t bytes = payload(n);
    block_ = static_cast<unsigned char*>(std::aligned_alloc(guard, 2 * guard + bytes));
    if (!block_) throw std::bad_alloc();
    std::memset(block_, canary, guard);
    std::memset(block_ + guard + n * sizeof(T), canary, bytes - n * sizeof(T) + guard);
    poison(data(), n);
    auto& s = guarded_stats();
    ++s.live;
    s.blocks[block_ + guard] = block_ + guard + n * sizeof(T);
  }
  void release() {
    if (!block_) return;
    auto& s = guarded_stats();
    const std::size_t bytes = payload(n_);
    bool intact = true;
    for (std::size_t i = 0; i < guard; ++i) intact &= block_[i] == canary;
    for (std::size_t i = guard + n_ * sizeof(T); i < 2 * guard + bytes; ++i) intact &= block_[i] == canary;
    if (!intact) {
      ++s.corruptions;
      std::fprintf(stderr, "guarded backend: guard region of a %zu-element buffer overwritten\n", n_);
    }
    poison(data(), n_);
    s.blocks.erase(block_ + guard);
    --s.live;
    std::free(block_);
    block_ = nullptr;
    n_ = 0;
  }

  unsigned char* block_ = nullptr;
  std::size_t n_ = 0;
};

struct Guarded {
  using Cpu = taynode::backend::Cpu;

  template <class T>
  using Buffer = GuardedBuffer<T>;
  // Parameters are copied into guarded memory (an upload), as a device backend must.
  template <class T>
  class Mirror {
   public:
    Mirror(const T* host, Index n) : b_(std::size_t(n)) {
      count("Mirror");
      host_side(host);
      std::copy(host, host + n, b_.data());
    }
    void update(const T* host, Index n) {
      count("Mirror::update");
      host_side(host);
      std::copy(host, host + n, b_.data());
    }
    const T* data() const { return b_.data(); }
    T* data() { return b_.data(); }

   private:
    GuardedBuffer<T> b_;
  };
  template <class T>
  using Matrix = taynode::backend::Matrix<T, Guarded>;
  template <class T>
  using Vector = taynode::backend::Matrix<T, Guarded>;
  template <class T>
  using View = taynode::backend::MatrixView<T>;
  template <class T>
  using ConstView = taynode::backend::MatrixView<const T>;

  template <class T>
  static void gemm_nt(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc, T alpha,
                      T beta) {
    count("gemm_nt");
    ours(a, b, c);
    Cpu::gemm_nt(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta);
  }
  template <class T>
  static void gemm_nn(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc, T alpha,
                      T beta) {
    count("gemm_nn");
    ours(a, b, c);
    Cpu::gemm_nn(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta);
  }
  template <class T>
  static void gemm_tn(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc, T alpha,
                      T beta) {
    count("gemm_tn");
    ours(a, b, c);
    Cpu::gemm_tn(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta);
  }
  template <class T>
  static void add_row(Index m, Index n, T alpha, const T* v, Index incv, T* c, Index ldc) {
    count("add_row");
    ours(v, c);
    Cpu::add_row(m, n, alpha, v, incv, c, ldc);
  }
  template <class T>
  static void axpy(Index n, T alpha, const T* x, T* y) {
    count("axpy");
    ours(x, y);
    Cpu::axpy(n, alpha, x, y);
  }
  template <class T>
  static void scale(Index n, T alpha, T* x) {
    count("scale");
    ours(x);
    Cpu::scale(n, alpha, x);
  }
  template <class T>
  static void fill(Index n, T value, T* x) {
    count("fill");
    ours(x);
    Cpu::fill(n, value, x);
  }
  template <class T>
  static void copy(Index n, const T* x, T* y) {
    count("copy");
    ours(x, y);
    Cpu::copy(n, x, y);
  }
  template <class T>
  static void upload(Index n, const T* host, T* x) {
    count("upload");
    host_side(host);
    ours(x);
    Cpu::upload(n, host, x);
  }
  template <class T>
  static void download(Index n, const T* x, T* host) {
    count("download");
    ours(x);
    host_side(host);
    Cpu::download(n, x, host);
  }
  template <class T>
  static void column_sums(Index m, Index n, T alpha, const T* x, Index ldx, T* y, Index incy) {
    count("column_sums");
    ours(x, y);
    Cpu::column_sums(m, n, alpha, x, ldx, y, incy);
  }
  template <class T>
  static T sum_of_products(Index m, Index n, const T* x, Index ldx, const T* v, Index incv) {
    count("sum_of_products");
    ours(x, v);
    return Cpu::sum_of_products(m, n, x, ldx, v, incv);
  }
  template <class T>
  static T sum(Index n, const T* x) {
    count("sum");
    ours(x);
    return Cpu::sum(n, x);
  }
  template <class T>
  static void row_squared_norms(Index m, Index n, const T* x, Index ldx, T* out) {
    count("row_squared_norms");
    ours(x, out);
    Cpu::row_squared_norms(m, n, x, ldx, out);
  }
  template <class Kernel>
  static void for_each(Index n, Kernel kernel) {
    count("for_each");
    Cpu::for_each(n, kernel);
  }
  template <class Kernel>
  static void for_each_2d(Index rows, Index cols, Kernel kernel) {
    count("for_each_2d");
    Cpu::for_each_2d(rows, cols, kernel);
  }
  template <class T>
  static void sigmoid_values(Index n, const T* u, T* s, T* e) {
    count("sigmoid_values");
    ours(u, s, e);
    Cpu::sigmoid_values(n, u, s, e);
  }
  template <class T>
  static void tanh_values(Index n, const T* u, T* y, T* w) {
    count("tanh_values");
    ours(u, y, w);
    Cpu::tanh_values(n, u, y, w);
  }
  template <class T>
  static void softplus_values(Index n, const T* u, T* y, T* s, T* e) {
    count("softplus_values");
    ours(u, y, s, e);
    Cpu::softplus_values(n, u, y, s, e);
  }
  template <class T>
  static void exp_values(Index n, const T* u, T* y) {
    count("exp_values");
    ours(u, y);
    Cpu::exp_values(n, u, y);
  }
  template <class T>
  static void log_values(Index n, const T* u, T* y) {
    count("log_values");
    ours(u, y);
    Cpu::log_values(n, u, y);
  }

 private:
  static void count(const char* name) { ++guarded_stats().calls[name]; }
  // Every pointer must be in a live guarded buffer.
  template <class... P>
  static void ours(const P*... p) {
    auto& s = guarded_stats();
    ((s.foreign_pointers += s.inside(p) ? 0 : 1), ...);
  }
  // A host pointer must not be guarded memory (transfers go between the two worlds).
  template <class P>
  static void host_side(const P* p) {
    auto& s = guarded_stats();
    if (s.inside(p)) ++s.foreign_pointers;
  }
};

static_assert(taynode::backend::SeriesBackend<Guarded>);
static_assert(!taynode::backend::eigen_host<Guarded>);

}  // namespace taynode_test

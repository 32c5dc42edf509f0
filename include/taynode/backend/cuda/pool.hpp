#pragma once
// cuda::Pool<Runtime>: a size-bucketed caching pool of device blocks, so a step loop that frees
// and reallocates its temporaries never reaches cudaMalloc after its first iteration. Requests
// are rounded up to a power of two (≥ 256 bytes); a freed block goes to its bucket's free list
// and is handed out again for the next request of that bucket. Blocks are returned to the runtime
// only when the pool is destroyed (program exit) or trim() is called.
// Device work is ordered on each thread's stream (cuda::DeviceRuntime), so reusing a block freed
// on the same thread is stream-ordered; a buffer must not be freed on one thread while another
// thread's stream still uses it.

#include <cstddef>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace taynode::cuda {

template <class Runtime>
class Pool {
 public:
  static Pool& instance() {
    static Pool pool;
    return pool;
  }
  ~Pool() { trim(); }

  static std::size_t bucket(std::size_t bytes) {
    std::size_t b = 256;
    while (b < bytes) b *= 2;
    return b;
  }
  // A block of at least `bytes` (0 bytes: nullptr).
  void* acquire(std::size_t bytes, const char* op) {
    if (bytes == 0) return nullptr;
    const std::size_t size = bucket(bytes);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& list = free_[size];
      if (!list.empty()) {
        p = list.back();
        list.pop_back();
      }
    }
    if (!p) {
      p = Runtime::allocate(size, op);
      std::lock_guard<std::mutex> lock(mutex_);
      ++runtime_allocations_;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    ++live_;
    Runtime::on_acquire(p, size);
    return p;
  }
  void give_back(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    --live_;
    if (hold_) {
      try {
        hold_->emplace_back(p, bytes);
        ++live_;  // still in use: by the graph being captured
        return;
      } catch (...) {  // no memory for the list: the block is leaked rather than reused unsafely
        return;
      }
    }
    free_[bucket(bytes)].push_back(p);
  }
  // While a graph is captured (cuda::Graph), blocks given back go to `list` instead of the free
  // lists: the graph's replays still use them. nullptr ends it.
  void hold(std::vector<std::pair<void*, std::size_t>>* list) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    hold_ = list;
  }
  // Return every cached block to the runtime.
  void trim() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, list] : free_)
      for (void* p : list) Runtime::release(p);
    free_.clear();
  }

  long runtime_allocations() const { return runtime_allocations_; }  // cudaMalloc calls so far
  long live() const { return live_; }                                 // blocks handed out, not given back

 private:
  Pool() = default;
  std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;
  std::vector<std::pair<void*, std::size_t>>* hold_ = nullptr;
  long runtime_allocations_ = 0, live_ = 0;
};

}  // namespace taynode::cuda

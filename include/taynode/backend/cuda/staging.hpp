#pragma once
// cuda::Staging<Runtime>: host ↔ device transfers through pinned (page-locked) host memory, per
// host thread. A copy from pageable memory makes the driver stage it itself and returns only when
// the host buffer has been read, so every upload waited for the work queued before it; through a
// pinned slot an upload returns at once (the caller's buffer is copied into the slot, the slot's
// DMA runs in stream order behind the queued kernels) and a download runs at the pinned rate.
//
//   upload    host → slot (memcpy), then slot → device on the stream; the slot's event is recorded
//             and waited for before the slot is written again (a ring of `slots` slots)
//   download  device → slot on the stream, synchronize, slot → host
// Copies larger than a slot go directly (the runtime's pageable path, synchronous). Neither may be
// captured in a graph (a replay would read the slot as it is then): inside a capture both fail as
// the direct copies do. The slots are allocated on a thread's first staged copy.

#include <array>
#include <cstddef>
#include <cstring>

namespace taynode::cuda {

template <class Runtime>
class Staging {
 public:
  static constexpr std::size_t slots = 4;
  static constexpr std::size_t slot_bytes = std::size_t(1) << 20;  // 1 MiB: a batch of 100 MNIST states is 0.3 MB in float

  static Staging& current() {
    thread_local Staging staging;
    return staging;
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() {
    for (Slot& s : slot_) {
      if (s.host) Runtime::release_pinned(s.host);
      Runtime::destroy_event(s.event);
    }
  }

  void upload(void* dst, const void* src, std::size_t bytes, const char* op) {
    if (bytes == 0) return;
    if (bytes > slot_bytes) return Runtime::to_device(dst, src, bytes, op);
    Slot& s = next(op);
    std::memcpy(s.host, src, bytes);
    Runtime::to_device_async(dst, s.host, bytes, op);
    Runtime::record_event(s.event, op);
    ++staged_;
  }
  void download(void* dst, const void* src, std::size_t bytes, const char* op) {
    if (bytes == 0) return;
    if (bytes > slot_bytes) return Runtime::to_host(dst, src, bytes, op);
    Slot& s = next(op);
    Runtime::to_host_async(s.host, src, bytes, op);
    Runtime::synchronize(op);
    std::memcpy(dst, s.host, bytes);
    ++staged_;
  }
  // Copies that went through a slot (the others went directly).
  std::size_t staged() const { return staged_; }

 private:
  struct Slot {
    void* host = nullptr;
    typename Runtime::Event event{};
  };
  Staging() = default;
  // The next slot of the ring, once its previous copy has left it.
  Slot& next(const char* op) {
    Slot& s = slot_[next_];
    next_ = (next_ + 1) % slots;
    if (!s.host) s.host = Runtime::allocate_pinned(slot_bytes, op);
    Runtime::wait_event(s.event, op);
    return s;
  }
  std::array<Slot, slots> slot_{};
  std::size_t next_ = 0;
  std::size_t staged_ = 0;
};

}  // namespace taynode::cuda

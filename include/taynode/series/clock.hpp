#pragma once
// The time of a solve kept in the backend's memory, for CUDA graphs (docs/cuda.md, "Graphs").
//
// A NetworkTaylor (and its NetworkAdjoint) that uses a Clock passes every time t to its kernels as
// the offset t − host_time() from the clock's address (TimeSeries::t0_from), and the kernels add
// the clock's value when they run. A graph captured at one time therefore replays at the clock's
// time of each replay: one captured RK step, with `advance(h)` at its end, replays step after step
// of a fixed grid; a captured Taylor pass replays at whatever time set() wrote.
//
//   set(t)      the clock's value and host_time() become t (an upload: not inside a capture)
//   advance(h)  both move by h (a one-thread kernel: capturable; a replay advances only the value)
//
// Rounding: a stage time t + c·h becomes the offset (t + c·h) − t, which a replay adds to the
// clock's new value; that differs from computing t' + c·h directly by at most one rounding of t'.
// Offsets are exact where t = host_time() (every evaluation at a step's start).

#include "taynode/backend/backend.hpp"
#include "taynode/backend/cpu.hpp"
#include "taynode/series/series.hpp"

namespace taynode {

namespace clock_detail {
template <class T>
struct AdvanceKernel {
  T* now;
  T h;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index) const { *now = *now + h; }
};
}  // namespace clock_detail

template <class T, class B = backend::Cpu>
class Clock {
 public:
  explicit Clock(T t = T(0)) : now_(1) { set(t); }
  // Kernels hold its address: a clock does not move.
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;

  void set(T t) {
    B::upload(1, &t, now_.data());
    host_ = t;
  }
  void advance(T h) {
    B::for_each(1, clock_detail::AdvanceKernel<T>{now_.data(), h});
    host_ = host_ + h;
  }
  // The time host code last set or advanced to (a replay does not move it).
  T host_time() const { return host_; }
  // The value, in the backend's memory.
  const T* data() const { return now_.data(); }
  // The series of the time t (with t1 its coefficient 1) read from this clock.
  TimeSeries<T> series(T t, T t1) const { return TimeSeries<T>{t - host_, t1, now_.data()}; }

 private:
  typename B::template Buffer<T> now_;
  T host_{};
};

}  // namespace taynode

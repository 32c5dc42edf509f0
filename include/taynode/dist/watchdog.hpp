#pragma once
// A time limit on collectives (dist::DataParallel::set_timeout): a rank whose collective has not
// returned after the limit — because another rank hangs without dying, which MPI's error handler
// never reports — prints which call on which rank timed out and ends its process with status 124.
// The launcher (mpirun) then sees a rank exit and ends the whole job, so nobody waits forever.
//
// One background thread per watchdog sleeps until a collective is armed and then until its
// deadline; it calls no MPI function (the session is MPI_THREAD_FUNNELED) and ends the process
// with std::_Exit (no destructors: the other threads are blocked inside MPI).

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace taynode::dist {

class CollectiveWatchdog {
 public:
  CollectiveWatchdog(std::chrono::milliseconds limit, int rank) : limit_(limit), rank_(rank), thread_([this] { run(); }) {}
  ~CollectiveWatchdog() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  CollectiveWatchdog(const CollectiveWatchdog&) = delete;
  CollectiveWatchdog& operator=(const CollectiveWatchdog&) = delete;

  // A collective `call` starts now / has returned.
  void arm(const char* call) {
    {
      std::lock_guard<std::mutex> lock(m_);
      call_ = call;
      deadline_ = std::chrono::steady_clock::now() + limit_;
      armed_ = true;
    }
    cv_.notify_all();
  }
  void disarm() {
    std::lock_guard<std::mutex> lock(m_);
    armed_ = false;
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(m_);
    while (!stop_) {
      if (!armed_) {
        cv_.wait(lock);
        continue;
      }
      const auto deadline = deadline_;
      cv_.wait_until(lock, deadline);
      if (!stop_ && armed_ && deadline_ == deadline && std::chrono::steady_clock::now() >= deadline) {
        std::fprintf(stderr,
                     "taynode::dist: rank %d: %s did not complete within %.1f s (another rank hangs or has "
                     "died); ending this rank (status 124) so that the launcher ends the job\n",
                     rank_, call_, std::chrono::duration<double>(limit_).count());
        std::fflush(stderr);
        std::_Exit(124);
      }
    }
  }

  std::chrono::milliseconds limit_;
  int rank_;
  std::mutex m_;
  std::condition_variable cv_;
  const char* call_ = "";
  std::chrono::steady_clock::time_point deadline_{};
  bool armed_ = false, stop_ = false;
  std::thread thread_;  // last: starts after every other member is initialized
};

}  // namespace taynode::dist

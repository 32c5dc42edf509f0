// A rank that hangs without dying (here: rank 1 sleeps 30 s before a collective) must not hang
// the job: with dp.set_timeout(1 s), rank 0's allreduce gives up after 1 s, prints which call on
// which rank timed out and exits with status 124; mpirun then ends the job. The ctest entry
// passes on that message (PASS_REGULAR_EXPRESSION) and has a 20 s limit, so a hang fails it.
// Before that, collectives that complete within the limit are unaffected (the watchdog is armed
// and disarmed around each one).
#include <taynode/dist/mpi.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

int main(int argc, char** argv) {
  taynode::dist::MpiSession session(argc, argv);
  taynode::dist::DataParallel dp;
  dp.set_timeout(std::chrono::milliseconds(1000));
  for (int i = 0; i < 50; ++i)
    if (dp.total(1) != dp.size()) return 1;  // fast collectives pass under the limit
  if (dp.rank() == 0) std::printf("50 collectives within the limit: ok\n");
  std::fflush(stdout);
  if (dp.rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(30));  // "hangs"
  dp.total(1);
  std::printf("rank %d: the collective returned: the watchdog did not fire\n", dp.rank());
  return 1;
}

#pragma once
// The MPI ranks of an example run (docs/dist.md). Under mpirun, in a build with MPI
// (TAYNODE_EXAMPLE_MPI: the example links taynode::mpi), each rank trains on its shard of every
// global batch — the same global batch sequence as one process — with the gradients summed by one
// allreduce, and evaluates its shard of every evaluation batch with the adaptive solve's step
// sizes shared across ranks (SolveOptions::shards, dist/sharded.hpp: the joint solve's NFE). One rank (no MPI, or mpirun
// -np 1) runs the single-process code unchanged.
//
//   int main(int argc, char** argv) {
//     example_ranks::Session session(argc, argv);   // MPI_Init … MPI_Finalize; rank 0 prints
//     … parse …  session.set_timeout(seconds);
//     try { … ranks().shard(n) … ranks().sum(grads) … } catch (…) { …; session.abort(); }
//   }

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <taynode/ode/integrate.hpp>
#include <taynode/ode/solve.hpp>
#if TAYNODE_EXAMPLE_MPI
#include <taynode/dist/mpi.hpp>
#include <taynode/dist/sharded.hpp>
#endif

namespace example_ranks {

#if TAYNODE_EXAMPLE_MPI
class Ranks {
 public:
  int rank() const { return dp ? dp->rank() : 0; }
  int size() const { return dp ? dp->size() : 1; }
  // This rank's rows [first, first + count) of n.
  std::pair<std::size_t, std::size_t> shard(std::size_t n) const { return dp ? dp->shard(n) : std::pair{std::size_t(0), n}; }
  // In place: Σ over ranks of a parameter collection / of n numbers; max over ranks of one.
  template <class Params>
  void sum(Params& p) const {
    if (several()) dp->sum(p);
  }
  void sum(double* x, std::size_t n) const {
    if (several()) dp->sum(x, n);
  }
  std::size_t maximum(std::size_t x) const {
    return several() ? std::size_t(dp->maximum(static_cast<long long>(x))) : x;
  }
  template <class Params>
  void broadcast(Params& p) const {
    if (several()) dp->broadcast(p);
  }
  void barrier() const {
    if (several()) dp->barrier();
  }
  // Dopri5 (or `method`) over `times` from y0 (this rank's rows) with f(t, y, dy) on them: one
  // step-size sequence for the rows of all ranks.
  // across = false: a solve of rows every rank holds whole (Part::split false), no collective.
  template <class T, class S, class F, class Method>
  auto solve(F&& f, const S& y0, const std::vector<T>& times, Method method, const taynode::SolveOptions<T>& o,
             bool across = true) const {
    if (!several() || !across) return taynode::solve(f, y0, times, method, o);
    taynode::SolveOptions<T> shared = o;
    shared.shards = &shards_;
    return taynode::solve(f, y0, times, method, shared);
  }
  // SolveOptions::shards of these ranks (nullptr with one rank): the solves of training steps
  // (ad::solve_gradient) then take one step-size sequence across the ranks too.
  const taynode::ShardReduction* shards() const { return several() ? &shards_ : nullptr; }
  void attach(taynode::dist::DataParallel* d) {
    dp = d;
    shards_ = d ? taynode::dist::across_ranks(*d) : taynode::ShardReduction{};
  }

 private:
  bool several() const { return dp && dp->size() > 1; }
  taynode::dist::DataParallel* dp = nullptr;  // set by Session (attach)
  taynode::ShardReduction shards_;
};
#else
// One process: every member is the identity of the MPI one.
class Ranks {
 public:
  int rank() const { return 0; }
  int size() const { return 1; }
  std::pair<std::size_t, std::size_t> shard(std::size_t n) const { return {0, n}; }
  template <class Params>
  void sum(Params&) const {}
  void sum(double*, std::size_t) const {}
  std::size_t maximum(std::size_t x) const { return x; }
  template <class Params>
  void broadcast(Params&) const {}
  void barrier() const {}
  template <class T, class S, class F, class Method>
  auto solve(F&& f, const S& y0, const std::vector<T>& times, Method method, const taynode::SolveOptions<T>& o,
             bool = true) const {
    return taynode::solve(f, y0, times, method, o);
  }
  const taynode::ShardReduction* shards() const { return nullptr; }
};
#endif

inline Ranks& ranks() {
  static Ranks r;
  return r;
}
inline bool leader() { return ranks().rank() == 0; }

// This rank's part of an evaluation batch of n rows: rows [first, first + count), solved across
// the ranks (split). A batch of fewer rows than ranks (the last of a split, say) is not split:
// every rank solves it whole — no rank holds an empty shard — and only rank 0 adds it to the
// sums that are then reduced (counted).
struct Part {
  std::size_t first = 0, count = 0;
  bool split = false, counted = true;
};
inline Part part_of(std::size_t n) {
  if (n < std::size_t(ranks().size())) return {0, n, false, leader()};
  const auto [first, count] = ranks().shard(n);
  return {first, count, ranks().size() > 1, true};
}

// main()'s MPI session: MPI_Init … MPI_Finalize, ranks() pointed at MPI_COMM_WORLD, and every
// rank but 0 silenced (rank 0 prints). Without MPI, nothing.
class Session {
 public:
#if TAYNODE_EXAMPLE_MPI
  Session(int& argc, char**& argv) : mpi_(argc, argv) {
    ranks().attach(&dp_);
    if (!leader() && !std::freopen("/dev/null", "w", stdout))
      std::cerr << "rank " << ranks().rank() << " could not silence its stdout\n";
  }
  ~Session() { ranks().attach(nullptr); }
  // The time limit of every collective (seconds; 0: none): a rank that hangs in one ends the job.
  void set_timeout(double seconds) {
    if (dp_.size() > 1 && seconds > 0) dp_.set_timeout(std::chrono::milliseconds(static_cast<long long>(seconds * 1000)));
  }
  // After an error on this rank: the others may be inside a collective, end the whole job now.
  void abort() {
    if (dp_.size() > 1) MPI_Abort(MPI_COMM_WORLD, 1);
  }

 private:
  taynode::dist::MpiSession mpi_;
  taynode::dist::DataParallel dp_;
#else
  Session(int&, char**&) {}
  void set_timeout(double) {}
  void abort() {}
#endif
 public:
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

// The options every example has for its ranks (fields of its Settings, saved in settings.json).
// `App` is CLI::App (a template so that this header does not need CLI11).
template <class App>
void add_rank_options(App& app, std::string& rank_steps, double& collective_timeout) {
  app.add_option("--rank-steps", rank_steps,
                 "under mpirun, an adaptive training solver: joint (one step-size sequence across the ranks: the "
                 "single-process steps) or own (each rank its own steps, fewer collectives)");
  app.add_option("--collective-timeout", collective_timeout,
                 "under mpirun: seconds a rank waits in one collective before it ends the job (a rank hangs); 0: no "
                 "limit");
}
inline void check_rank_options(const std::string& rank_steps, double collective_timeout) {
  if (!(collective_timeout >= 0)) throw std::invalid_argument("--collective-timeout must be >= 0 (0: no limit)");
  if (rank_steps != "joint" && rank_steps != "own")
    throw std::invalid_argument("--rank-steps must be joint or own (got '" + rank_steps + "')");
}
// SolveOptions::shards of a training solve: the ranks' one step-size sequence for an adaptive
// solver with --rank-steps joint; nullptr otherwise (a fixed grid has no steps to agree on, and
// one rank nothing to share).
inline const taynode::ShardReduction* training_shards(bool adaptive, const std::string& rank_steps) {
  return adaptive && rank_steps == "joint" ? ranks().shards() : nullptr;
}

// " on rank r" when there are several ranks: for error messages.
inline std::string where() { return ranks().size() > 1 ? " on rank " + std::to_string(ranks().rank()) : ""; }

}  // namespace example_ranks

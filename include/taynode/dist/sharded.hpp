#pragma once
// Adaptive solves of a batch split over MPI ranks, with ONE step-size sequence for all of them.
//
// The paper solves the whole batch as one system: one error norm over every example, one step
// size. dist::across_ranks(dp) keeps that across ranks: given as SolveOptions::shards, each rank
// solves its rows (any solver state), the stage combinations act on them alone, and every
// reduction the solvers make — the error norm's sum and its component count, the initial step's
// norms, the finiteness checks of the initial state and the result — is summed over the ranks
// (one small MPI_Allreduce each: one per step attempt for the error norm). So every rank accepts
// and rejects the same steps as the joint single-process solve, with the same NFE; the only
// difference is the order in which the error norm's partial sums are added (per rank, then
// across ranks), i.e. rounding. The same options serve ad::solve_gradient: its forward solve
// takes the joint system's steps (backprop then replays them), and the continuous adjoint's
// backward solve one step sequence across the ranks — not the single process's, because each
// rank's θ̄ in its error norm is its own part of the sum (docs/dist.md).
//
// The alternative is no shards: each rank picks its own steps from its own rows — no collective
// inside the solve, but the NFE (and the result, within the tolerance) depend on the rank count.
//
//   const auto shards = dist::across_ranks(dp);    // must outlive the solves
//   SolveOptions<double> o;
//   o.shards = &shards;
//   auto sol = solve(f_on_my_rows, x_local, {0.0, 1.0}, Dopri5{}, o);
//
// Tolerances are scalar or per LOCAL component (a vector of size(local) entries on each rank).
// Every rank must make the same solves in the same order (each step attempt is a collective).

#include <cstddef>

#include "taynode/dist/mpi.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode::dist {

// SolveOptions::shards for the ranks of dp (which must outlive it): sums by MPI_Allreduce.
inline ShardReduction across_ranks(const DataParallel& dp) {
  return {[&dp](double* x, std::size_t n) { dp.sum(x, n); }};
}

}  // namespace taynode::dist

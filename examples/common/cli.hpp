#pragma once
// What the command lines of the training examples (mnist, miniboone, physionet) share: the options
// of the same name and meaning, the parse policy, and the error path of a run. Each example's
// Settings has the fields named here.
//
//   CLI::App app{…};
//   example_cli::add_regularizer_options(app, s, "none, r2..r6 (R_K)");
//   … the example's own options …
//   example_cli::finish_options(app, {"--batch", "--seed"});
//   CLI11_PARSE(app, argc, argv);
//   return example_cli::run_reporting_errors("mnist", session, s, [](const Settings& s) { … });
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <string>
#include <system_error>

#include "common/ranks.hpp"

namespace example_cli {

// --reg (its values listed by `regularizers`, then rnode), --lam, --lam-kin, --lam-fro.
template <class S>
void add_regularizer_options(CLI::App& app, S& s, const std::string& regularizers) {
  app.add_option("--reg", s.reg, "regularizer: " + regularizers + ", rnode (with --lam-kin, --lam-fro)");
  app.add_option("--lam", s.lambda, "weight lambda of R_K");
  app.add_option("--lam-kin", s.lambda_kin, "RNODE kinetic weight (rnode)");
  app.add_option("--lam-fro", s.lambda_fro, "RNODE Jacobian-Frobenius weight (rnode)");
}

// --solver and --steps (described by the example), --rtol, --atol, --gradient.
template <class S>
void add_solver_options(CLI::App& app, S& s, const std::string& solvers, const std::string& steps) {
  app.add_option("--solver", s.solver, "training solver: " + solvers);
  app.add_option("--steps", s.steps, steps);
  app.add_option("--rtol", s.rtol, "relative tolerance of an adaptive training solver");
  app.add_option("--atol", s.atol, "absolute tolerance of an adaptive training solver");
  app.add_option("--gradient", s.gradient, "backprop (discretize-then-optimize) or adjoint (continuous adjoint)");
}

// How long and how a run goes: --epochs, --max-iterations, --threads, the rank options, --label,
// --log-every, --no-progress, --checkpoint, --checkpoint-every, --resume (`resume`: what must match).
template <class S>
void add_run_options(CLI::App& app, S& s, const std::string& resume) {
  app.add_option("--epochs", s.epochs, "epochs (0: only evaluate, e.g. with --resume)");
  app.add_option("--max-iterations", s.max_iterations, "stop after this many iterations in total (0: no limit)");
  app.add_option("--threads", s.threads,
                 "threads of the CPU backend's GEMMs and kernels (bit-identical results for any count)");
  example_ranks::add_rank_options(app, s.rank_steps, s.collective_timeout);
  app.add_option("--label", s.label, "name of the run in tables and plots (default: reg and lambda)");
  app.add_option("--log-every", s.log_every, "log line and train_log.csv row every N iterations");
  app.add_flag("!--no-progress", s.progress, "no progress line");
  app.add_option("--checkpoint", s.checkpoint, "checkpoint file (default <out>/checkpoint.bin; none: no checkpoints)");
  app.add_option("--checkpoint-every", s.checkpoint_every, "save every N iterations (0: every epoch)");
  app.add_option("--resume", s.resume, "resume from this checkpoint (" + resume + ")");
}

// After the last option: a repeated single-value option takes its last value (so scripts can append
// overrides), and the named unsigned options reject negative values (CLI11 would wrap "-1" to 2^64 − 1).
inline void finish_options(CLI::App& app, std::initializer_list<const char*> non_negative) {
  for (CLI::Option* o : app.get_options())
    if (o->get_type_size_max() == 1 && o->get_expected_max() == 1) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  for (const char* name : non_negative) app.get_option(name)->check(CLI::NonNegativeNumber);
}

// Validates the settings and runs; an error is printed as "<program>: error: …" (exit code 1),
// leaves no empty output folder behind, and ends every rank of an MPI job.
template <class S, class Run>
int run_reporting_errors(const char* program, example_ranks::Session& session, S& s, Run&& run) {
  namespace fs = std::filesystem;
  const bool out_existed = fs::exists(s.out_dir);
  try {
    s.validate();
    session.set_timeout(s.collective_timeout);
    return run(s);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "\n" << program << ": error" << example_ranks::where() << ": " << e.what() << "\n";
    std::error_code ec;
    if (example_ranks::leader() && !out_existed && fs::is_directory(s.out_dir, ec) && fs::is_empty(s.out_dir, ec))
      fs::remove(s.out_dir, ec);
    session.abort();  // the other ranks may be inside a collective: end the whole job now
    return 1;
  }
}

}  // namespace example_cli

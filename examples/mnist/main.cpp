// MNIST classification with a speed-regularized neural ODE (Kelly et al. 2020, §6.1, Table 3,
// Figures 3 and 5). See README.md in this folder for the protocols and the results.
//
//   mnist --reg r3 --lam 6e-5 --subset 6000 --epochs 6 ...   train, evaluate, write <out>/
//   mnist --help                                              every option
//
// Output in --out (default out/mnist): settings.json, train_log.csv (every --log-every
// iterations), monitor.csv (Dopri5 NFE on a fixed training batch and the training error, for
// Figure 3), eval.csv and results.json (Table 3 rows with the run's settings), checkpoint.bin, and
// the PNG plots of scripts/plot when gnuplot is installed.
//
// Under MPI (a build with taynode::mpi): `mpirun -np N mnist …` trains data-parallel — each rank
// its shard of every global batch, one allreduce of the gradients per iteration — and evaluates
// with the adaptive solves shared across ranks; rank 0 prints and writes every file
// (docs/dist.md).
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iostream>
#include <sstream>

#include "mnist_run.hpp"

namespace {
using namespace mnist_example;

int run_on_device(const Settings& s) {
  // mnist_cuda.cu, or mnist_without_cuda.cpp's "built without CUDA" error.
  if (s.device == "cuda") return run_on_cuda(s);
  return s.precision == "float" ? run<float>(s) : run<double>(s);
}
}  // namespace

int main(int argc, char** argv) {
  example_ranks::Session session(argc, argv);
  Settings s;
  CLI::App app{"MNIST classification with a speed-regularized neural ODE (Kelly et al. 2020). Defaults: the paper's "
               "protocol (160 epochs, SGD momentum 0.9, lr 0.1/0.01/1e-3/1e-4 at epochs 60/100/140, batch 100)."};
  app.option_defaults()->always_capture_default();
  app.add_option("--data", s.data_dir, "folder with the four MNIST IDX files (scripts/fetch-data mnist)");
  app.add_option("--out", s.out_dir, "output folder");
  app.add_option("--subset", s.subset, "train on the first N training images (0: all 60000)");
  app.add_option("--test-subset", s.test_subset, "evaluate on the first N test images (0: all 10000)");
  // The unsigned options: CLI11 would wrap "-1" to 2^64 - 1.
  const auto non_negative = CLI::NonNegativeNumber;
  app.add_option("--reg", s.reg, "regularizer: none, r2..r6 (R_K, K = 2..6), rnode (with --lam-kin, --lam-fro)");
  app.add_option("--lam", s.lambda, "weight lambda of R_K");
  app.add_option("--lam-kin", s.lambda_kin, "RNODE kinetic weight (rnode)");
  app.add_option("--lam-fro", s.lambda_fro, "RNODE Jacobian-Frobenius weight (rnode)");
  app.add_option("--solver", s.solver, "training solver: euler, midpoint, rk4 (fixed grid), bosh3, dopri5, tsit5");
  app.add_option("--steps", s.steps, "fixed grid with N steps on [0, 1]; 0: adaptive (bosh3, dopri5, tsit5)");
  app.add_option("--rtol", s.rtol, "relative tolerance of an adaptive training solver");
  app.add_option("--atol", s.atol, "absolute tolerance of an adaptive training solver");
  app.add_option("--gradient", s.gradient, "backprop (discretize-then-optimize) or adjoint (continuous adjoint)");
  app.add_option("--forward", s.forward,
                 "plain: forward solves z only, R_K only in the gradient (the reference's aux trick); augmented: "
                 "forward solves [z, R_K] and reports R_K");
  app.add_option("--epochs", s.epochs, "epochs (0: only evaluate, e.g. with --resume)");
  app.add_option("--batch", s.batch, "batch size (an incomplete last batch of an epoch is dropped)");
  CLI::Option* lr_values =
      app.add_option("--lr-values", s.lr_values, "learning rates of the step schedule (one value: constant)")
          ->delimiter(',');
  CLI::Option* lr_epochs =
      app.add_option("--lr-epochs", s.lr_epochs, "epochs at which the next learning rate starts")->delimiter(',');
  app.add_option("--momentum", s.momentum, "heavy-ball momentum mass");
  app.add_option("--max-iterations", s.max_iterations, "stop after this many iterations in total (0: no limit)");
  CLI::Option* precision = app.add_option("--precision", s.precision, "float or double (default: double on the cpu, float on cuda)");
  app.add_option("--device", s.device,
                 "cpu, or cuda: the dynamics' solves, Taylor passes and VJPs on the GPU (backend::Cuda), the head "
                 "and SGD on the host");
  app.add_flag("--graph", s.graph,
               "with --device cuda, a fixed grid and backprop: the whole iteration on the GPU (head and SGD too), "
               "captured once as a CUDA graph and replayed");
  app.add_option("--seed", s.seed, "seed of the initialization, the shuffles and the Hutchinson noise");
  app.add_option("--threads", s.threads, "threads of the CPU backend's GEMMs and kernels (bit-identical results for any count)");
  example_ranks::add_rank_options(app, s.rank_steps, s.collective_timeout);
  app.add_option("--label", s.label, "name of the run in the plots (default: reg and lambda)");
  app.add_option("--log-every", s.log_every, "log line and train_log.csv row every N iterations");
  app.add_option("--monitor-every", s.monitor_every,
                 "Dopri5 NFE on a fixed training batch every N iterations (0: every epoch)");
  app.add_option("--monitor-batch", s.monitor_batch, "size of that batch");
  app.add_flag("!--no-progress", s.progress, "no progress bar");
  app.add_option("--checkpoint", s.checkpoint, "checkpoint file (default <out>/checkpoint.bin; none: no checkpoints)");
  app.add_option("--checkpoint-every", s.checkpoint_every, "save every N iterations (0: every epoch)");
  app.add_option("--resume", s.resume, "resume from this checkpoint (same --subset, --batch and --seed)");
  app.add_option("--eval", s.eval, "evaluate on: test, train, both, none");
  app.add_option("--eval-batch", s.eval_batch, "evaluation batch, solved as one ODE system");
  app.add_option("--eval-tol", s.eval_tol, "rtol = atol of the evaluation's Dopri5");
  app.add_option("--eval-control", s.eval_control, "jax (the reference's dopri5 step rule) or hairer");
  app.add_flag("!--no-reg-metrics", s.eval_reg_metrics, "skip R_2, B, K (the augmented evaluation solve)");
  app.add_flag("!--no-plot", s.plot, "do not run scripts/plot at the end");
  // A repeated single-value option takes its last value (so scripts can append overrides).
  for (CLI::Option* o : app.get_options())
    if (o->get_type_size_max() == 1 && o->get_expected_max() == 1) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  for (const char* name :
       {"--subset", "--test-subset", "--steps", "--batch", "--seed", "--monitor-batch", "--eval-batch"})
    app.get_option(name)->check(non_negative);
  CLI11_PARSE(app, argc, argv);
  // One learning rate without boundaries: a constant rate (not the default schedule's boundaries).
  if (lr_values->count() > 0 && lr_epochs->count() == 0 && s.lr_values.size() == 1) s.lr_epochs.clear();
  if (s.device == "cuda" && precision->count() == 0) s.precision = "float";
  const bool out_existed = fs::exists(s.out_dir);
  try {
    s.validate();
    session.set_timeout(s.collective_timeout);
    return run_on_device(s);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "\nmnist: error" << example_ranks::where() << ": "
              << e.what() << "\n";
    // Leave no empty output folder behind.
    std::error_code ec;
    if (example_ranks::leader() && !out_existed && fs::is_directory(s.out_dir, ec) && fs::is_empty(s.out_dir, ec))
      fs::remove(s.out_dir, ec);
    session.abort();  // the other ranks may be inside a collective: end the whole job now
    return 1;
  }
}

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
#include "common/cli.hpp"
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
  example_cli::add_regularizer_options(app, s, "none, r2..r6 (R_K, K = 2..6)");
  example_cli::add_solver_options(app, s, "euler, midpoint, rk4 (fixed grid), bosh3, dopri5, tsit5",
                                  "fixed grid with N steps on [0, 1]; 0: adaptive (bosh3, dopri5, tsit5)");
  app.add_option("--forward", s.forward,
                 "plain: forward solves z only, R_K only in the gradient (the reference's aux trick); augmented: "
                 "forward solves [z, R_K] and reports R_K");
  app.add_option("--batch", s.batch, "batch size (an incomplete last batch of an epoch is dropped)");
  CLI::Option* lr_values =
      app.add_option("--lr-values", s.lr_values, "learning rates of the step schedule (one value: constant)")
          ->delimiter(',');
  CLI::Option* lr_epochs =
      app.add_option("--lr-epochs", s.lr_epochs, "epochs at which the next learning rate starts")->delimiter(',');
  app.add_option("--momentum", s.momentum, "heavy-ball momentum mass");
  CLI::Option* precision = app.add_option("--precision", s.precision, "float or double (default: double on the cpu, float on cuda)");
  app.add_option("--device", s.device,
                 "cpu, or cuda: the dynamics' solves, Taylor passes and VJPs on the GPU (backend::Cuda), the head "
                 "and SGD on the host");
  app.add_flag("--graph", s.graph,
               "with --device cuda, a fixed grid and backprop: the whole iteration on the GPU (head and SGD too), "
               "captured once as a CUDA graph and replayed");
  app.add_option("--seed", s.seed, "seed of the initialization, the shuffles and the Hutchinson noise");
  example_cli::add_run_options(app, s, "same --subset, --batch and --seed");
  app.add_option("--monitor-every", s.monitor_every,
                 "Dopri5 NFE on a fixed training batch every N iterations (0: every epoch)");
  app.add_option("--monitor-batch", s.monitor_batch, "size of that batch");
  app.add_option("--eval", s.eval, "evaluate on: test, train, both, none");
  app.add_option("--eval-batch", s.eval_batch, "evaluation batch, solved as one ODE system");
  app.add_option("--eval-tol", s.eval_tol, "rtol = atol of the evaluation's Dopri5");
  app.add_option("--eval-control", s.eval_control, "jax (the reference's dopri5 step rule) or hairer");
  app.add_flag("!--no-reg-metrics", s.eval_reg_metrics, "skip R_2, B, K (the augmented evaluation solve)");
  app.add_flag("!--no-plot", s.plot, "do not run scripts/plot at the end");
  example_cli::finish_options(app, {"--subset", "--test-subset", "--steps", "--batch", "--seed", "--monitor-batch",
                                    "--eval-batch"});
  CLI11_PARSE(app, argc, argv);
  // One learning rate without boundaries: a constant rate (not the default schedule's boundaries).
  if (lr_values->count() > 0 && lr_epochs->count() == 0 && s.lr_values.size() == 1) s.lr_epochs.clear();
  if (s.device == "cuda" && precision->count() == 0) s.precision = "float";
  return example_cli::run_reporting_errors("mnist", session, s, run_on_device);
}

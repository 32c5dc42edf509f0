// FFJORD density estimation on MINIBOONE with a speed regularizer (Kelly et al. 2020, §6.3, Table 4).
// See README.md in this folder for the protocols, the data split and the results.
//
//   miniboone --reg r2 --lam 0.01 --hidden 64,64 --max-iterations 300 ...   train, evaluate, write <out>/
//   miniboone --help                                                         every option
//
// Output in --out (default out/miniboone): settings.json, train_log.csv (every --log-every
// iterations), val_log.csv (validation NLL and NFE every --validate-every iterations), eval.csv and
// eval.json (Table 4's row with the run's settings), checkpoint.bin.
//
// Under MPI (a build with taynode::mpi): `mpirun -np N miniboone …` trains data-parallel — each rank
// its shard of every global batch, one allreduce of the gradients per iteration — and evaluates
// with the adaptive solves shared across ranks; rank 0 prints and writes every file (docs/dist.md).
#include "common/cli.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/run_report.hpp"
#include "miniboone_example.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using namespace miniboone_example;
using namespace run_report;

struct Window {  // accumulators between two log lines
  double loss = 0, nats = 0, penalty = 0, seconds = 0, nfe_f = 0, nfe_b = 0;
  std::size_t its = 0;
  void add(const IterationResult& r) {
    loss += r.loss;
    nats += r.nats;
    penalty += r.penalty;
    seconds += r.seconds;
    nfe_f += double(r.nfe_forward);
    nfe_b += double(r.nfe_backward);
    ++its;
  }
  double mean(double v) const { return its ? v / double(its) : NAN; }
};

std::string eval_json(const EvalResult& e) {
  std::ostringstream f;
  f << "{\"split\": \"" << e.split << "\", \"examples\": " << e.examples << ", \"nll_exact\": " << num(e.nll_exact)
    << ", \"nll_hutchinson\": " << num(e.nll_hutchinson) << ", \"nll_hutchinson_se\": " << num(e.hutchinson_se)
    << ", \"hutchinson_minus_exact_se\": " << num(e.difference_se) << ", \"nfe\": " << num(e.nfe)
    << ", \"r2\": " << num(e.r2) << ", \"B\": " << num(e.frobenius) << ", \"K\": " << num(e.kinetic)
    << ", \"seconds\": " << num(e.seconds) << "}";
  return f.str();
}

template <class T>
int run(const Settings& s) {
  const auto wall_start = std::chrono::steady_clock::now();
  run_report::set_threads(s.threads);
  const fs::path out(s.out_dir);
  std::vector<std::string> written;

  const Data<T> data = load_data<T>(s.data_dir);
  const Index D = data.train.cols();
  const std::int64_t its_per_epoch = std::int64_t(std::size_t(data.train.rows()) / s.batch);
  if (its_per_epoch == 0)
    throw std::invalid_argument("--batch " + std::to_string(s.batch) + " exceeds the " +
                                std::to_string(data.train.rows()) + " training rows");
  std::int64_t total_its = std::int64_t(s.epochs) * its_per_epoch;
  if (s.max_iterations > 0) total_its = std::min(total_its, s.max_iterations);

  Model<T> model(D, s.hidden, s.seed);
  Trainer<T> trainer(model, s, D);
  bool resumed = false;
  if (!s.resume.empty()) {
    taynode::nn::load_checkpoint(s.resume, trainer.parameters(), &trainer.optimizer().state());
    resumed = true;
    std::cout << "resumed from " << s.resume << " at iteration " << trainer.iteration() << "\n";
  }
  ranks().broadcast(trainer.parameters());  // rank 0's parameters on every rank
  const bool leader = example_ranks::leader();  // rank 0 writes every file
  // Sampling only (--samples with nothing to train and --eval none, e.g. --resume CKPT --epochs 0):
  // writes samples.csv and test_rows.csv only, so the run folder's other files stay as they were.
  const bool sample_only = s.samples > 0 && s.eval == "none" && trainer.iteration() >= total_its;
  if (leader) fs::create_directories(out);
  if (!sample_only) {
    if (leader) write_file(out / "settings.json", settings_json(s) + "\n");
    written.push_back("settings.json");
  }
  std::cout << "MINIBOONE FFJORD: " << model.parameter_count() << " parameters (hidden " << s.hidden_text() << "), "
            << s.precision << ", reg " << s.run_label() << ", solver " << s.solver
            << (s.adaptive() ? " adaptive rtol " + num(s.rtol) + " atol " + num(s.atol)
                             : " fixed grid " + std::to_string(s.steps) + " steps")
            << ", gradient " << s.gradient << " (forward " << s.forward << ")\n"
            << "data: " << data.description << "\n"
            << "training: " << data.train.rows() << " rows, " << its_per_epoch << " iterations/epoch of " << s.batch
            << " (an incomplete last batch is dropped), " << total_its << " iterations in total\n";
  if (ranks().size() > 1)
    std::cout << "data-parallel over " << ranks().size() << " MPI ranks: " << ranks().shard(s.batch).second
              << " rows of each batch of " << s.batch << " on rank 0\n";

  const std::string ckpt = sample_only ? std::string() : s.checkpoint_path();
  std::vector<double> times;
  Window all, win;
  const bool bar = leader && s.progress && ::isatty(STDERR_FILENO);
  std::int64_t it = trainer.iteration();
  const std::int64_t first_it = it;
  if (it < total_its) {
    const fs::path sink = "/dev/null";  // the other ranks' copies of the logs
    auto log_csv = open_csv(leader ? out / "train_log.csv" : sink, resumed,
                            "iteration,epoch,lr,loss,nats,penalty,nfe_forward,nfe_backward,ms_per_iteration");
    auto val_csv = open_csv(leader ? out / "val_log.csv" : sink, resumed,
                            "iteration,epoch,val_nll_hutchinson,val_nfe,seconds");
    written.insert(written.end(), {"train_log.csv", "val_log.csv"});
    Settings vs = s;  // validation: Hutchinson NLL and NFE only
    vs.exact = false;
    vs.reg_metrics = false;
    vs.eval_subset = 0;
    Mat<T> x;
    std::vector<std::size_t> perm;
    std::int64_t perm_epoch = -1;
    while (it < total_its) {
      const std::int64_t epoch = it / its_per_epoch, pos = it % its_per_epoch;
      if (perm_epoch != epoch) {
        perm = epoch_permutation(std::size_t(data.train.rows()), s.seed, epoch);
        perm_epoch = epoch;
      }
      gather_rows(data.train, perm, std::size_t(pos) * s.batch, s.batch, x);
      const double lr = trainer.learning_rate();
      const IterationResult r = trainer.step(x);
      ++it;
      if (!std::isfinite(r.loss)) throw std::runtime_error("the loss is not finite at iteration " + std::to_string(it));
      times.push_back(r.seconds);
      all.add(r);
      win.add(r);
      if (bar)
        std::fprintf(stderr, "\r[it %lld/%lld] loss %.4f nats %.4f R %.4g nfe %.0f/%.0f %.0f ms/it   ",
                     static_cast<long long>(it), static_cast<long long>(total_its), win.mean(win.loss),
                     win.mean(win.nats), win.mean(win.penalty), win.mean(win.nfe_f), win.mean(win.nfe_b),
                     1e3 * win.mean(win.seconds));
      const double ep = double(it) / double(its_per_epoch);
      if (it % s.log_every == 0 || it == total_its) {
        log_csv << it << "," << num(ep) << "," << num(lr) << "," << num(win.mean(win.loss)) << ","
                << num(win.mean(win.nats)) << "," << num(win.mean(win.penalty)) << "," << num(win.mean(win.nfe_f))
                << "," << num(win.mean(win.nfe_b)) << "," << num(1e3 * win.mean(win.seconds)) << "\n"
                << std::flush;
        if (bar) std::fputc('\n', stderr);
        std::printf("it %6lld  epoch %7.2f  lr %.0e  loss %.4f  nats %.4f  R %.4g  nfe %.0f/%.0f  %.1f ms/it\n",
                    static_cast<long long>(it), ep, lr, win.mean(win.loss), win.mean(win.nats),
                    win.mean(win.penalty), win.mean(win.nfe_f), win.mean(win.nfe_b), 1e3 * win.mean(win.seconds));
        std::fflush(stdout);
        win = Window{};
      }
      if (s.validate_every > 0 && (it % s.validate_every == 0 || it == total_its)) {
        const auto v = evaluate(model, data.val, vs, "val");
        val_csv << it << "," << num(ep) << "," << num(v.nll_hutchinson) << "," << num(v.nfe) << ","
                << num(v.seconds) << "\n"
                << std::flush;
        std::printf("validation at it %lld: NLL %.4f ± %.4f nats (Hutchinson), NFE %.0f, %.1f s\n",
                    static_cast<long long>(it), v.nll_hutchinson, v.hutchinson_se, v.nfe, v.seconds);
      }
      const bool save = s.checkpoint_every > 0 ? it % s.checkpoint_every == 0 : it % its_per_epoch == 0;
      if (leader && !ckpt.empty() && (save || it == total_its))
        taynode::nn::save_checkpoint(ckpt, trainer.parameters(), &trainer.optimizer().state());
    }
  }
  const double train_seconds = std::accumulate(times.begin(), times.end(), 0.0);
  const double med_ms = 1e3 * median(times);
  print_training_summary(it - first_it, first_it, med_ms, all.mean(all.nfe_f), all.mean(all.nfe_b), train_seconds);
  if (ranks().size() > 1 && med_ms > 0)
    std::printf("%d ranks: %.1f rows/s per rank, %.1f in total (median iteration)\n", ranks().size(),
                1e3 * double(ranks().shard(s.batch).second) / med_ms, 1e3 * double(s.batch) / med_ms);

  std::vector<EvalResult> evals;
  if (s.eval != "none") evals.push_back(evaluate(model, s.eval == "test" ? data.test : data.val, s, s.eval));
  for (const auto& e : evals) {
    std::printf("\n%-5s %8s %11s %20s %8s %10s %10s %10s %9s\n", "split", "examples", "NLL exact", "NLL Hutchinson",
                "NFE", "R2", "B (fro)", "K (kin)", "seconds");
    std::printf("%-5s %8zu %11.4f %12.4f ± %-6.4f %8.1f %10.4g %10.4g %10.4g %9.1f\n", e.split.c_str(), e.examples,
                e.nll_exact, e.nll_hutchinson, e.hutchinson_se, e.nfe, e.r2, e.frobenius, e.kinetic, e.seconds);
    std::printf("(nats; Hutchinson − exact = %.4f ± %.4f (s.e. of the paired difference); NFE: the unregularized "
                "[z, dlogp] system, Dopri5 rtol = atol = %g, batches of %zu solved jointly)\n",
                e.nll_hutchinson - e.nll_exact, e.difference_se, s.eval_tol, s.eval_batch);
  }
  if (s.samples > 0 && leader) {
    // z1 ~ N(0, I), integrated backward from t = 1 to t = 0 (plain dynamics, Dopri5 at --eval-tol;
    // rank 0 alone: no collective).
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t nfe = 0;
    const auto [z1, xs] = sample(model, s.samples, D, s, &nfe);
    std::ostringstream f, g;
    for (Index j = 0; j < D; ++j) f << (j ? "," : "") << "x" << j;
    f << "\n";
    g << f.str();
    for (Index i = 0; i < xs.rows(); ++i)
      for (Index j = 0; j < D; ++j) f << num(double(xs(i, j))) << (j + 1 < D ? "," : "\n");
    write_file(out / "samples.csv", f.str());
    // The same number of test rows (standardized as the model's data), for plots against the samples.
    const Index nt = std::min<Index>(Index(s.samples), data.test.rows());
    for (Index i = 0; i < nt; ++i)
      for (Index j = 0; j < D; ++j) g << num(double(data.test(i, j))) << (j + 1 < D ? "," : "\n");
    write_file(out / "test_rows.csv", g.str());
    written.insert(written.end(), {"samples.csv", "test_rows.csv"});
    // Round trip: the samples integrated forward again (t = 0 to 1) return z1 up to the solver's error.
    const Mat<T> z1_again = flow_map(model, xs, T(0), T(1), s);
    const double round_trip = double((z1_again - z1).cwiseAbs().maxCoeff());
    std::printf("sampling: %zu samples (z1 ~ N(0, I) integrated from t = 1 back to 0, Dopri5 rtol = atol = %g), "
                "NFE %zu in all, %.1f s; round trip max |forward(sample) - z1| = %.3g\n",
                s.samples, s.eval_tol, nfe, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                round_trip);
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (sample_only) {
    std::printf("wrote %s/{%s}; wall time %.1f s\n", s.out_dir.c_str(), join(written).c_str(), wall);
    return 0;
  }
  {
    std::ostringstream f;
    f << "label,reg,lambda,lambda_kin,lambda_fro,hidden,solver,steps,gradient,precision,batch,iterations,split,"
         "examples,nll_exact,nll_hutchinson,nll_hutchinson_se,hutchinson_minus_exact_se,nfe,r2,B,K,train_seconds,"
         "median_ms_per_iteration,paper_split\n";
    for (const auto& e : evals)
      f << "\"" << s.run_label() << "\"," << s.reg << "," << num(s.lambda) << "," << num(s.lambda_kin) << ","
        << num(s.lambda_fro) << ",\"" << s.hidden_text() << "\"," << s.solver << "," << s.steps << "," << s.gradient
        << "," << s.precision << "," << s.batch << "," << it << "," << e.split << "," << e.examples << ","
        << num(e.nll_exact) << "," << num(e.nll_hutchinson) << "," << num(e.hutchinson_se) << ","
        << num(e.difference_se) << "," << num(e.nfe) << "," << num(e.r2) << "," << num(e.frobenius) << ","
        << num(e.kinetic) << "," << num(train_seconds) << "," << num(med_ms) << "," << (data.paper_split ? 1 : 0)
        << "\n";
    if (leader) write_file(out / "eval.csv", f.str());
    written.push_back("eval.csv");
  }
  {
    std::ostringstream f;
    f << "{\n  \"settings\": " << settings_json(s) << ",\n  \"data\": \"" << json_escape(data.description)
      << "\",\n  \"paper_split\": " << (data.paper_split ? "true" : "false") << ",\n  \"machine\": \""
      << json_escape(machine_description()) << "\",\n  \"finished\": \"" << now_utc()
      << "\",\n  \"wall_seconds\": " << num(wall) << ",\n  \"training\": "
      << training_json(it, first_it, med_ms, all.mean(all.nfe_f), all.mean(all.nfe_b), train_seconds, num)
      << ",\n  \"eval\": [";
    for (std::size_t i = 0; i < evals.size(); ++i) f << (i ? ", " : "") << eval_json(evals[i]);
    f << "]\n}\n";
    if (leader) write_file(out / "eval.json", f.str());
    written.push_back("eval.json");
  }
  std::printf("wrote %s/{%s}; wall time %.1f s\n", s.out_dir.c_str(), join(written).c_str(), wall);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  example_ranks::Session session(argc, argv);
  Settings s;
  s.data_dir = shared_data_dir("miniboone");
  CLI::App app{"FFJORD density estimation on MINIBOONE with a speed regularizer (Kelly et al. 2020, Table 4). "
               "Defaults: the paper's protocol (hidden 860,860, batch 1000, Adam lr 1e-3/1e-4/1e-5 from iterations "
               "0/9000/12750, 15000 iterations), except the training solver (RK4 on 4 steps; --solver dopri5 "
               "--steps 0 for the paper's adaptive runs)."};
  app.option_defaults()->always_capture_default();
  app.add_option("--data", s.data_dir,
                 "MINIBOONE folder: data.npy (MAF, the paper's split), MiniBooNE_PID.txt, train/val/test.npy, or "
                 "val.npy + test.npy (the stand-in: trains on validation); default $TAYNODE_SHARED_DATA/miniboone "
                 "or ../shared/data/miniboone of the repository");
  app.add_option("--out", s.out_dir, "output folder");
  app.add_option("--hidden", s.hidden, "hidden widths of the ConcatSquash network")->delimiter(',');
  example_cli::add_regularizer_options(app, s, "none, r1..r9 (R_K)");
  app.add_option("--weight-decay", s.weight_decay, "lambda_w of lambda_w * 0.5 * ||theta||^2");
  example_cli::add_solver_options(app, s, "rk4 (fixed grid), dopri5 (adaptive with --steps 0)",
                                  "fixed grid with N steps on [0, 1] (4, 8, 16 in the paper); 0: adaptive");
  app.add_option("--forward", s.forward,
                 "augmented: the forward solves [z, dlogp, R] (the log shows the true loss); plain: z only (the "
                 "reference's aux trick; the logged nats then lack the log-det term)");
  app.add_option("--batch", s.batch, "batch size (an incomplete last batch of an epoch is dropped)");
  CLI::Option* lr_values =
      app.add_option("--lr-values", s.lr_values, "Adam learning rates of the step schedule (one value: constant)")
          ->delimiter(',');
  CLI::Option* lr_iterations =
      app.add_option("--lr-iterations", s.lr_iterations, "iterations at which the next learning rate starts")
          ->delimiter(',');
  app.add_option("--precision", s.precision, "float or double");
  app.add_option("--seed", s.seed, "seed of the initialization, the shuffles and the Hutchinson noise");
  example_cli::add_run_options(app, s, "same --hidden, --batch and --seed");
  app.add_option("--validate-every", s.validate_every, "validation NLL and NFE every N iterations and at the end (0: never)");
  app.add_option("--eval", s.eval, "evaluate on: test, val, none");
  app.add_option("--samples", s.samples,
                 "draw N samples (z1 ~ N(0, I), flow integrated backward from t = 1 to 0) into <out>/samples.csv, "
                 "with N test rows in <out>/test_rows.csv; with --resume CKPT --epochs 0 --eval none: only these");
  app.add_option("--eval-subset", s.eval_subset, "evaluate the first N rows only (0: all)");
  app.add_option("--eval-batch", s.eval_batch, "evaluation batch, solved as one ODE system (the NFE's)");
  app.add_option("--exact-batch", s.exact_batch, "examples per exact-trace solve (its workspace holds 43x the rows)");
  app.add_option("--eval-tol", s.eval_tol, "rtol = atol of the evaluation's Dopri5");
  app.add_flag("!--no-exact", s.exact, "skip the exact-trace NLL");
  app.add_flag("!--no-reg-metrics", s.reg_metrics, "skip R_2, B, K (the augmented evaluation solve)");
  example_cli::finish_options(app, {"--steps", "--batch", "--seed", "--samples", "--eval-subset", "--eval-batch",
                                    "--exact-batch"});
  CLI11_PARSE(app, argc, argv);
  // One learning rate without boundaries: a constant rate (not the default schedule's boundaries).
  if (lr_values->count() > 0 && lr_iterations->count() == 0 && s.lr_values.size() == 1) s.lr_iterations.clear();
  return example_cli::run_reporting_errors("miniboone", session, s, [](const Settings& s) {
    return s.precision == "float" ? run<float>(s) : run<double>(s);
  });
}

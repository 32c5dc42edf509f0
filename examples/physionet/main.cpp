// A latent ODE on the PhysioNet 2012 ICU records with a speed regularizer (Kelly et al. 2020, §6.2,
// Figure 4). See README.md in this folder for the protocols, the deviations from the reference and
// the results.
//
//   physionet --reg r3 --lam 0.01 --patients 400 --epochs 4 ...   train, evaluate, write <out>/
//   physionet --help                                              every option
//
// Output in --out (default out/physionet): settings.json, train_log.csv (every --log-every
// iterations), monitor.csv (test MSE and per-trajectory NFE every --monitor-every iterations),
// eval.csv and eval.json (train and held-out test metrics with the run's settings), checkpoint.bin,
// and with --trajectories / --reconstructions the figure data trajectories.csv, reconstructions.csv.
//
// Under MPI (a build with taynode::mpi): `mpirun -np N physionet …` trains data-parallel — each rank
// its patients of every global batch, one allreduce of the gradients per iteration — and evaluates
// with the adaptive solves shared across ranks; rank 0 prints and writes every file (docs/dist.md).
#include "common/cli.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>

#include "common/run_report.hpp"
#include "physionet/physionet_example.hpp"

namespace {

using namespace physionet_example;
using namespace run_report;

struct Window {  // accumulators between two log lines
  double loss = 0, ll = 0, mse = 0, kl = 0, rk = 0, seconds = 0, nfe_f = 0, nfe_b = 0;
  std::size_t its = 0;
  void add(const IterationResult& r) {
    loss += r.loss;
    ll += r.log_likelihood;
    mse += r.mse;
    kl += r.kl;
    rk += r.rk;
    seconds += r.seconds;
    nfe_f += double(r.nfe_forward);
    nfe_b += double(r.nfe_backward);
    ++its;
  }
  double mean(double v) const { return its ? v / double(its) : NAN; }
};

std::string eval_json(const EvalResult& e) {
  std::ostringstream f;
  f << "{\"split\": \"" << e.split << "\", \"patients\": " << e.patients << ", \"loss\": " << num(e.loss)
    << ", \"log_likelihood\": " << num(e.log_likelihood) << ", \"mse\": " << num(e.mse) << ", \"kl\": " << num(e.kl)
    << ", \"rk\": " << num(e.rk) << ", \"rk_order\": " << e.rk_order << ", \"nfe_joint\": " << num(e.nfe_joint)
    << ", \"nfe_trajectory\": " << num(e.nfe_trajectory) << ", \"seconds\": " << num(e.seconds) << "}";
  return f.str();
}

int run(const Settings& s) {
  const auto wall_start = std::chrono::steady_clock::now();
  run_report::set_threads(s.threads);
  const fs::path out(s.out_dir);
  std::vector<std::string> written;

  // Rank 0 parses the records and writes the cache; the others then read the cache.
  const bool leader = example_ranks::leader();  // rank 0 writes every file
  if (!leader) ranks().barrier();
  const Data data = load_data(s);
  if (leader) ranks().barrier();
  const std::int64_t its_per_epoch = iterations_per_epoch(data, s);
  std::int64_t total_its = std::int64_t(s.epochs) * its_per_epoch;
  if (s.max_iterations > 0) total_its = std::min(total_its, s.max_iterations);

  Model model(s, s.seed);
  Trainer trainer(model, s);
  bool resumed = false;
  if (!s.resume.empty()) {
    taynode::nn::load_checkpoint(s.resume, trainer.parameters(), &trainer.optimizer().state());
    resumed = true;
    std::cout << "resumed from " << s.resume << " at iteration " << trainer.iteration() << "\n";
  }
  ranks().broadcast(trainer.parameters());  // rank 0's parameters on every rank
  if (leader) {
    fs::create_directories(out);
    write_file(out / "settings.json", settings_json(s) + "\n");
  }
  written.push_back("settings.json");
  std::cout << "PhysioNet latent ODE: " << model.parameter_count() << " parameters, reg " << s.run_label()
            << ", solver " << s.solver
            << (s.steps == 0 ? " adaptive rtol " + num(s.rtol) + " atol " + num(s.atol)
                             : " fixed grid " + std::to_string(s.steps) + " steps")
            << " (the batch's " << s.samples << "x" << s.batch << " trajectories solved jointly), gradient "
            << s.gradient << "\n"
            << "data: " << data.description << "\n"
            << "training: " << its_per_epoch << " iterations/epoch of " << s.batch << ", " << total_its
            << " iterations in total\n";
  if (ranks().size() > 1)
    std::cout << "data-parallel over " << ranks().size() << " MPI ranks: " << ranks().shard(s.batch).second
              << " patients of each batch of " << s.batch << " on rank 0\n";

  const std::string ckpt = s.checkpoint_path();
  std::vector<double> times;
  Window all, win;
  const bool bar = leader && s.progress && ::isatty(STDERR_FILENO);
  std::int64_t it = trainer.iteration();
  const std::int64_t first_it = it;
  if (it < total_its) {
    const fs::path sink = "/dev/null";  // the other ranks' copies of the logs
    auto log_csv = open_csv(leader ? out / "train_log.csv" : sink, resumed,
                            "iteration,epoch,lr,kl_weight,loss,log_likelihood,mse,kl,rk,nfe_forward,nfe_backward,"
                            "ms_per_iteration");
    auto mon_csv = open_csv(leader ? out / "monitor.csv" : sink, resumed, "iteration,epoch,test_mse,test_nfe_trajectory,label");
    written.insert(written.end(), {"train_log.csv", "monitor.csv"});
    Settings ms = s;  // the monitor: the first --monitor-patients test patients
    ms.eval_patients = s.monitor_patients;
    double kl_weight = 0;
    while (it < total_its) {
      const std::int64_t epoch = it / its_per_epoch;
      const Batch batch = make_batch(data, batch_patients(data, s, it, its_per_epoch));
      const double lr = trainer.learning_rate();
      const IterationResult r = trainer.step(batch, epoch);
      kl_weight = r.kl_weight;
      ++it;
      if (!std::isfinite(r.loss)) throw std::runtime_error("the loss is not finite at iteration " + std::to_string(it));
      times.push_back(r.seconds);
      all.add(r);
      win.add(r);
      if (bar)
        std::fprintf(stderr, "\r[it %lld/%lld] loss %.4f ll %.4f mse %.3g R %.3g nfe %.0f/%.0f %.0f ms/it   ",
                     static_cast<long long>(it), static_cast<long long>(total_its), win.mean(win.loss),
                     win.mean(win.ll), win.mean(win.mse), win.mean(win.rk), win.mean(win.nfe_f), win.mean(win.nfe_b),
                     1e3 * win.mean(win.seconds));
      const double ep = double(it) / double(its_per_epoch);
      if (it % s.log_every == 0 || it == total_its) {
        log_csv << it << "," << num(ep) << "," << num(lr) << "," << num(kl_weight) << "," << num(win.mean(win.loss))
                << "," << num(win.mean(win.ll)) << "," << num(win.mean(win.mse)) << "," << num(win.mean(win.kl)) << ","
                << num(win.mean(win.rk)) << "," << num(win.mean(win.nfe_f)) << "," << num(win.mean(win.nfe_b)) << ","
                << num(1e3 * win.mean(win.seconds)) << "\n"
                << std::flush;
        if (bar) std::fputc('\n', stderr);
        std::printf("it %6lld  epoch %6.2f  lr %.2e  beta %.3f  loss %.4f  ll %.4f  mse %.4g  kl %.4g  R %.4g  "
                    "nfe %.0f/%.0f  %.0f ms/it\n",
                    static_cast<long long>(it), ep, lr, kl_weight, win.mean(win.loss), win.mean(win.ll),
                    win.mean(win.mse), win.mean(win.kl), win.mean(win.rk), win.mean(win.nfe_f), win.mean(win.nfe_b),
                    1e3 * win.mean(win.seconds));
        std::fflush(stdout);
        win = Window{};
      }
      if (s.monitor_every > 0 && (it % s.monitor_every == 0 || it == total_its)) {
        const auto m = evaluate(model, data, data.test, ms, "test");
        mon_csv << it << "," << num(ep) << "," << num(m.mse) << "," << num(m.nfe_trajectory) << ",\""
                << s.run_label() << "\"\n"
                << std::flush;
        std::printf("monitor at it %lld: test MSE %.4g, per-trajectory NFE %.1f (%zu patients), %.1f s\n",
                    static_cast<long long>(it), m.mse, m.nfe_trajectory, m.patients, m.seconds);
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
    std::printf("%d ranks: %.1f patients/s per rank, %.1f in total (median iteration)\n", ranks().size(),
                1e3 * double(ranks().shard(s.batch).second) / med_ms, 1e3 * double(s.batch) / med_ms);

  std::vector<EvalResult> evals;
  if (s.eval_split("train")) evals.push_back(evaluate(model, data, data.train, s, "train"));
  if (s.eval_split("test")) evals.push_back(evaluate(model, data, data.test, s, "test"));
  if (!evals.empty()) {
    std::printf("\n%-5s %8s %10s %12s %10s %10s %10s %10s %10s %8s\n", "split", "patients", "loss", "loglik", "MSE",
                "KL", ("R" + std::to_string(evals[0].rk_order)).c_str(), "NFE/traj", "NFE joint", "seconds");
    for (const auto& e : evals)
      std::printf("%-5s %8zu %10.4f %12.4f %10.4g %10.4g %10.4g %10.1f %10.1f %8.1f\n", e.split.c_str(), e.patients,
                  e.loss, e.log_likelihood, e.mse, e.kl, e.rk, e.nfe_trajectory, e.nfe_joint, e.seconds);
    std::printf("(loss at KL weight 1 without R; loglik without its constant; %zu seeded samples per patient; "
                "NFE/traj: each posterior-mean z0 solved alone, Dopri5 rtol = atol = %g; NFE joint: the batch's "
                "%zu x %zu sampled trajectories in one solve)\n",
                s.samples, s.eval_tol, s.samples, s.eval_batch);
  }
  // The figure data: rank 0 alone (no collective).
  if (s.trajectories > 0 && leader) {
    write_file(out / "trajectories.csv", trajectories_csv(model, data, s, s.trajectories));
    written.push_back("trajectories.csv");
  }
  if (s.reconstructions > 0 && leader) {
    write_file(out / "reconstructions.csv", reconstructions_csv(model, data, s, s.reconstructions));
    written.push_back("reconstructions.csv");
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  {
    std::ostringstream f;
    f << "label,reg,lambda,lambda_kin,lambda_fro,solver,rtol,gradient,batch,patients,iterations,split,eval_patients,"
         "loss,log_likelihood,mse,kl,rk,rk_order,nfe_trajectory,nfe_joint,train_seconds,median_ms_per_iteration,seed\n";
    for (const auto& e : evals)
      f << "\"" << s.run_label() << "\"," << s.reg << "," << num(s.lambda) << "," << num(s.lambda_kin) << ","
        << num(s.lambda_fro) << "," << s.solver << "," << num(s.rtol) << "," << s.gradient << "," << s.batch << ","
        << data.train.size() << "," << it << "," << e.split << "," << e.patients << "," << num(e.loss) << ","
        << num(e.log_likelihood) << "," << num(e.mse) << "," << num(e.kl) << "," << num(e.rk) << "," << e.rk_order
        << "," << num(e.nfe_trajectory) << "," << num(e.nfe_joint) << "," << num(train_seconds) << "," << num(med_ms)
        << "," << s.seed << "\n";
    if (leader) write_file(out / "eval.csv", f.str());
    written.push_back("eval.csv");
  }
  {
    std::ostringstream f;
    f << "{\n  \"settings\": " << settings_json(s) << ",\n  \"data\": \"" << json_escape(data.description)
      << "\",\n  \"machine\": \"" << json_escape(machine_description()) << "\",\n  \"finished\": \"" << now_utc()
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
  s.data_dir = shared_data_dir("physionet2012");
  CLI::App app{"A latent ODE on the PhysioNet 2012 ICU records with a speed regularizer (Kelly et al. 2020, "
               "Figure 4). Defaults: the reference's protocol (all 6400 training patients, batch 50, 3 samples, "
               "Adamax lr max(1e-2 0.999^i, 1e-3), 100 epochs, Dopri5 at rtol = atol = 1.4e-8), except that a "
               "batch's trajectories are solved jointly."};
  app.option_defaults()->always_capture_default();
  app.add_option("--data", s.data_dir,
                 "folder with set-a/ and set-b/ (default $TAYNODE_SHARED_DATA/physionet2012 or "
                 "../shared/data/physionet2012 of the repository)");
  app.add_option("--cache", s.cache, "cache of the parsed records (default <tmp>/taynode-physionet.cache; none: off)");
  app.add_option("--normalization", s.normalization,
                 "reference ((x - min) / max), min_max or standardize; fitted on the training part");
  app.add_option("--split-seed", s.split_seed, "seed of the 80/20 patient split");
  app.add_option("--patients", s.patients, "train on the first N patients of the training part (0: all 6400)");
  app.add_option("--test-patients", s.test_patients, "keep the first N patients of the test part (0: all 1600)");
  app.add_option("--out", s.out_dir, "output folder");
  app.add_option("--latent", s.latent, "latent dimension");
  app.add_option("--hidden", s.hidden, "hidden units of the latent dynamics");
  app.add_option("--hidden-layers", s.hidden_layers, "hidden layers of the latent dynamics");
  app.add_option("--samples", s.samples, "samples of z0 per patient (logsumexp over them)");
  example_cli::add_regularizer_options(app, s, "none, r2..r6 (R_K)");
  example_cli::add_solver_options(app, s, "dopri5, tsit5, bosh3 (adaptive), rk4, midpoint, euler",
                                  "fixed grid with N steps over the batch's span; 0: adaptive");
  app.add_option("--batch", s.batch, "patients per batch (an incomplete last batch of an epoch is dropped)");
  app.add_option("--lr", s.lr, "initial Adamax learning rate");
  app.add_option("--lr-decay", s.lr_decay, "learning-rate decay per iteration");
  app.add_option("--lr-floor", s.lr_floor, "smallest learning rate");
  app.add_option("--seed", s.seed, "seed of the initialization, the shuffles and the sampling noise");
  example_cli::add_run_options(app, s, "same model sizes, --batch, --patients and --seed");
  app.add_option("--monitor-every", s.monitor_every,
                 "test MSE and per-trajectory NFE on --monitor-patients test patients every N iterations (0: never)");
  app.add_option("--monitor-patients", s.monitor_patients, "test patients of the monitor");
  app.add_option("--eval", s.eval, "evaluate on: train,test, train, test, none");
  app.add_option("--eval-batch", s.eval_batch, "evaluation batch (its sampled trajectories solved jointly)");
  app.add_option("--eval-patients", s.eval_patients, "evaluate the first N patients of each split (0: all)");
  app.add_option("--eval-tol", s.eval_tol, "rtol = atol of the evaluation's Dopri5");
  app.add_option("--eval-order", s.eval_order, "order K of the reported R_K (0: the run's K, or 2)");
  app.add_option("--trajectories", s.trajectories,
                 "write N test patients' latent trajectories (2 principal components, accepted steps) to "
                 "trajectories.csv");
  app.add_option("--reconstructions", s.reconstructions,
                 "write N test patients' observed and decoded HR, MAP, Temp, GCS to reconstructions.csv");
  example_cli::finish_options(app, {"--steps", "--batch", "--seed", "--samples", "--patients", "--test-patients",
                                    "--split-seed", "--eval-batch", "--eval-patients", "--trajectories",
                                    "--reconstructions", "--monitor-patients"});
  CLI11_PARSE(app, argc, argv);
  return example_cli::run_reporting_errors("physionet", session, s, run);
}

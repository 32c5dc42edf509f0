#pragma once
// The MNIST example's whole run (train, monitor, evaluate, write the result files) on backend B:
// backend::Cpu from main.cpp, backend::Cuda from mnist_cuda.cu (--device cuda), one source for both.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <numeric>
#include <sstream>

#include "common/run_report.hpp"
#include "mnist_example.hpp"

namespace mnist_example {

using namespace run_report;

struct Window {  // accumulators between two log lines
  double loss = 0, reg = 0, seconds = 0, nfe_f = 0, nfe_b = 0;
  std::size_t correct = 0, examples = 0, its = 0;
  void add(const IterationResult& r) {
    loss += r.loss;
    reg += r.reg;
    seconds += r.seconds;
    nfe_f += double(r.nfe_forward);
    nfe_b += double(r.nfe_backward);
    correct += r.correct;
    examples += r.batch;
    ++its;
  }
  double mean(double v) const { return its ? v / double(its) : NAN; }
  double error() const { return examples ? 1.0 - double(correct) / double(examples) : NAN; }
};

inline void progress_bar(std::int64_t it_in_epoch, std::int64_t its_per_epoch, std::int64_t epoch, int epochs,
                  const Window& w) {
  const int width = 24;
  const int filled = int(double(width) * double(it_in_epoch) / double(its_per_epoch));
  std::fprintf(stderr, "\r[epoch %lld/%d] [", static_cast<long long>(epoch + 1), epochs);
  for (int i = 0; i < width; ++i) std::fputc(i < filled ? '=' : (i == filled ? '>' : ' '), stderr);
  std::fprintf(stderr, "] %lld/%lld loss %.4f acc %.2f%% nfe %.0f/%.0f %.0f ms/it   ",
               static_cast<long long>(it_in_epoch), static_cast<long long>(its_per_epoch), w.mean(w.loss),
               100.0 * (1.0 - w.error()), w.mean(w.nfe_f), w.mean(w.nfe_b), 1e3 * w.mean(w.seconds));
  std::fflush(stderr);
}

template <class T, class B = taynode::backend::Cpu>
int run(const Settings& s) {
  const auto wall_start = std::chrono::steady_clock::now();
  run_report::set_threads(s.threads);
  const fs::path out(s.out_dir);
  const int K = s.K();
  std::vector<std::string> written;  // files of --out this run wrote, for the closing line

  Model<T> model(s.seed);
  Dataset<T> train;
  std::int64_t its_per_epoch = 1, total_its = 0;
  const bool need_train = s.epochs > 0 || s.eval == "train" || s.eval == "both";
  if (need_train) {
    train = load_split<T>(s.data_dir, true, s.subset);
    its_per_epoch = std::int64_t(train.size() / s.batch);
    if (its_per_epoch == 0)
      throw std::invalid_argument("--batch " + std::to_string(s.batch) + " exceeds the " +
                                  std::to_string(train.size()) + " training images");
    total_its = std::int64_t(s.epochs) * its_per_epoch;
    if (s.max_iterations > 0) total_its = std::min(total_its, s.max_iterations);
  }
  Trainer<T, B> trainer(model, s, its_per_epoch);
  bool resumed = false;
  if (!s.resume.empty()) {
    taynode::nn::load_checkpoint(s.resume, trainer.parameters(), &trainer.optimizer().state());
    resumed = true;
    std::cout << "resumed from " << s.resume << " at iteration " << trainer.iteration() << "\n";
  }
  ranks().broadcast(trainer.parameters());  // rank 0's parameters on every rank
  const bool leader = example_ranks::leader();      // rank 0 writes every file
  // The output folder is made once the data and the checkpoint have loaded, so that a run that
  // fails on its input leaves nothing behind.
  if (leader) {
    fs::create_directories(out);
    write_file(out / "settings.json", settings_json(s) + "\n");
  }
  written.push_back("settings.json");
  std::cout << "MNIST neural ODE: " << model.parameter_count() << " parameters, " << s.precision << ", reg "
            << s.reg << " (K = " << K << ", lambda = " << s.lambda << "), solver " << s.solver
            << (s.adaptive() ? " adaptive rtol " + num(s.rtol) + " atol " + num(s.atol)
                             : " fixed grid " + std::to_string(s.steps) + " steps")
            << ", gradient " << s.gradient << " (forward " << s.forward << ")\n";
  if (ranks().size() > 1)
    std::cout << "data-parallel over " << ranks().size() << " MPI ranks: " << ranks().shard(s.batch).second
              << " rows of each batch of " << s.batch << " on rank 0\n";
  if (need_train)
    std::cout << "training set: " << train.size() << " images, " << its_per_epoch << " iterations/epoch of "
              << s.batch << ", " << total_its << " iterations in total\n";

  // Training.
  const std::string ckpt = s.checkpoint_path();
  std::vector<double> times;
  Window all, log_window, monitor_window;
  const bool bar = s.progress && ::isatty(STDERR_FILENO);
  std::int64_t it = trainer.iteration();
  const std::int64_t first_it = it;
  if (it < total_its) {
    const fs::path sink = "/dev/null";  // the other ranks' copies of the logs
    auto log_csv = open_csv(leader ? out / "train_log.csv" : sink, resumed,
                            "iteration,epoch,lr,loss,reg,total,train_error,nfe_forward,nfe_backward,ms_per_iteration");
    auto mon_csv = open_csv(leader ? out / "monitor.csv" : sink, resumed, "iteration,epoch,train_error,nfe_dopri5,label");
    written.insert(written.end(), {"train_log.csv", "monitor.csv"});
    // Figure 3's NFE: Dopri5 (evaluation tolerance) on a fixed batch of training images.
    const std::size_t mb = std::min(s.monitor_batch, train.size());
    const auto [monitor_first, monitor_rows] = ranks().shard(mb);  // this rank's rows of it
    const Mat<T> monitor_x = train.x.middleRows(Index(monitor_first), Index(monitor_rows));
    taynode::NetworkTaylor<T, B> monitor_ws(model.dynamics, 1, Index(monitor_rows));
    Mat<T> x, z1;
    std::vector<int> y;
    std::vector<std::size_t> perm;
    std::int64_t perm_epoch = -1;
    while (it < total_its) {
      const std::int64_t epoch = it / its_per_epoch, pos = it % its_per_epoch;
      if (perm_epoch != epoch) {
        perm = epoch_permutation(train.size(), s.seed, epoch);
        perm_epoch = epoch;
      }
      gather(train, perm, std::size_t(pos) * s.batch, s.batch, x, y);
      const double lr = trainer.learning_rate();
      const IterationResult r = trainer.step(x, y);
      ++it;
      if (!std::isfinite(r.loss)) throw std::runtime_error("the loss is not finite at iteration " + std::to_string(it));
      times.push_back(r.seconds);
      all.add(r);
      log_window.add(r);
      monitor_window.add(r);
      if (bar) progress_bar(pos + 1, its_per_epoch, epoch, s.epochs, log_window);
      if (it % s.log_every == 0 || it == total_its) {
        const double ep = double(it) / double(its_per_epoch);
        log_csv << it << "," << num(ep) << "," << num(lr) << "," << num(log_window.mean(log_window.loss)) << ","
                << num(log_window.mean(log_window.reg)) << ","
                << num(log_window.mean(log_window.loss) + s.reg_weight() * log_window.mean(log_window.reg)) << ","
                << num(log_window.error()) << "," << num(log_window.mean(log_window.nfe_f)) << ","
                << num(log_window.mean(log_window.nfe_b)) << "," << num(1e3 * log_window.mean(log_window.seconds))
                << "\n"
                << std::flush;
        if (bar) std::fputc('\n', stderr);
        std::printf("it %6lld  epoch %6.2f  lr %.0e  loss %.4f  reg %.4g  train err %5.2f%%  nfe %.0f/%.0f  %.1f ms/it\n",
                    static_cast<long long>(it), ep, lr, log_window.mean(log_window.loss),
                    log_window.mean(log_window.reg), 100.0 * log_window.error(), log_window.mean(log_window.nfe_f),
                    log_window.mean(log_window.nfe_b), 1e3 * log_window.mean(log_window.seconds));
        std::fflush(stdout);
        log_window = Window{};
      }
      const bool monitor = s.monitor_every > 0 ? it % s.monitor_every == 0 : it % its_per_epoch == 0;
      if (monitor || it == total_its) {
        trainer.sync_host();  // --graph: the device's parameters are the record
        const std::size_t nfe = plain_solve(monitor_ws, monitor_x, s, z1);
        mon_csv << it << "," << num(double(it) / double(its_per_epoch)) << "," << num(monitor_window.error()) << ","
                << nfe << ",\"" << s.run_label() << "\"\n"
                << std::flush;
        monitor_window = Window{};
      }
      const bool save = s.checkpoint_every > 0 ? it % s.checkpoint_every == 0 : it % its_per_epoch == 0;
      if (leader && !ckpt.empty() && (save || it == total_its)) {
        trainer.sync_host();
        taynode::nn::save_checkpoint(ckpt, trainer.parameters(), &trainer.optimizer().state());
      }
    }
  }
  trainer.sync_host();
  const double train_seconds = std::accumulate(times.begin(), times.end(), 0.0);
  const double med_ms = 1e3 * median(times);
  print_training_summary(it - first_it, first_it, med_ms, all.mean(all.nfe_f), all.mean(all.nfe_b), train_seconds);
  if (ranks().size() > 1 && med_ms > 0)
    std::printf("%d ranks: %.1f images/s per rank, %.1f in total (median iteration)\n", ranks().size(),
                1e3 * double(ranks().shard(s.batch).second) / med_ms, 1e3 * double(s.batch) / med_ms);

  // Evaluation.
  std::vector<EvalResult> evals;
  if (s.eval == "test" || s.eval == "both") {
    const auto test = load_split<T>(s.data_dir, false, s.test_subset);
    evals.push_back(evaluate<T, B>(model, test, s, "test"));
  }
  if (s.eval == "train" || s.eval == "both") evals.push_back(evaluate<T, B>(model, train, s, "train"));

  if (!evals.empty()) {
    std::printf("\n%-6s %8s %9s %8s %8s %11s %11s %11s %8s\n", "split", "examples", "loss", "error%", "NFE", "R2",
                "B (fro)", "K (kin)", "seconds");
    for (const auto& e : evals)
      std::printf("%-6s %8zu %9.4f %8.2f %8.1f %11.4g %11.4g %11.4g %8.1f\n", e.split.c_str(), e.examples, e.loss,
                  100 * e.error, e.nfe, e.r2, e.frobenius, e.kinetic, e.seconds);
    std::printf("(NFE: Dopri5, rtol = atol = %g, %s step control, batches of %zu solved jointly)\n", s.eval_tol,
                s.eval_control.c_str(), s.eval_batch);
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  {
    std::ostringstream f;
    f << "label,reg,lambda,solver,steps,gradient,forward,precision,subset,epochs,iterations,split,examples,loss,error,"
         "nfe,r2,B,K,median_ms_per_iteration\n";
    for (const auto& e : evals)
      f << "\"" << s.run_label() << "\"," << s.reg << "," << num(s.lambda) << "," << s.solver << "," << s.steps << ","
        << s.gradient << "," << s.forward << "," << s.precision << "," << s.subset << "," << s.epochs << "," << it
        << "," << e.split << "," << e.examples << "," << num(e.loss) << "," << num(e.error) << "," << num(e.nfe) << ","
        << num(e.r2) << "," << num(e.frobenius) << "," << num(e.kinetic) << "," << num(med_ms) << "\n";
    if (leader) write_file(out / "eval.csv", f.str());
    written.push_back("eval.csv");
  }
  {
    std::ostringstream f;
    f << "{\n  \"settings\": " << settings_json(s) << ",\n  \"machine\": \"" << json_escape(machine_description())
      << "\",\n  \"finished\": \"" << now_utc() << "\",\n  \"wall_seconds\": " << num(wall)
      << ",\n  \"training\": {\"iterations\": " << it << ", \"iterations_this_run\": " << (it - first_it)
      << ", \"median_ms_per_iteration\": " << num(med_ms) << ", \"mean_ms_per_iteration\": "
      << num(1e3 * all.mean(all.seconds)) << ", \"mean_nfe_forward\": " << num(all.mean(all.nfe_f))
      << ", \"mean_nfe_backward\": " << num(all.mean(all.nfe_b)) << ", \"seconds\": " << num(train_seconds)
      << "},\n  \"eval\": [";
    for (std::size_t i = 0; i < evals.size(); ++i) {
      const auto& e = evals[i];
      f << (i ? ", " : "") << "{\"split\": \"" << e.split << "\", \"examples\": " << e.examples
        << ", \"loss\": " << num(e.loss) << ", \"error\": " << num(e.error) << ", \"nfe\": " << num(e.nfe)
        << ", \"r2\": " << num(e.r2) << ", \"B\": " << num(e.frobenius) << ", \"K\": " << num(e.kinetic)
        << ", \"seconds\": " << num(e.seconds) << "}";
    }
    f << "]\n}\n";
    if (leader) write_file(out / "results.json", f.str());
    written.push_back("results.json");
  }
  std::printf("wrote %s/{%s}; wall time %.1f s\n", s.out_dir.c_str(), join(written).c_str(), wall);
#ifdef TAYNODE_MNIST_PLOT_SCRIPT
  if (leader && s.plot && fs::exists(out / "monitor.csv")) {
    const std::string cmd = std::string("command -v gnuplot >/dev/null 2>&1 && '") + TAYNODE_MNIST_PLOT_SCRIPT +
                            "' --out '" + s.out_dir + "' '" + s.out_dir + "'";
    if (std::system(cmd.c_str()) != 0) std::cerr << "note: plots not made (gnuplot missing or scripts/plot failed)\n";
  }
#endif
  return 0;
}

// --device cuda (mnist_cuda.cu; built with TAYNODE_EXAMPLES_CUDA): run<T, backend::Cuda>.
int run_on_cuda(const Settings& s);

}  // namespace mnist_example

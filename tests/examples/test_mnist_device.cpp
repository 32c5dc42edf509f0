// The MNIST example's device path (--device cuda: Trainer<T, B>, evaluate<T, B> of
// examples/mnist/mnist_example.hpp) through the host emulation of the CUDA backend
// (backend::CudaEmulated: the backend's own code, host memory), against backend::Cpu on 40 real
// MNIST images (the smoke slice), batch 20:
//   1. three training iterations (R_3, backprop on the RK4 grid; RNODE; the adjoint with Dopri5):
//      every loss and every parameter within 1e-10 relative, NFE identical; and four with --graph
//      (the iteration resident on the device and replayed from a captured graph, through a change
//      of the learning rate that recaptures it; none and R_3): the same, SGD's velocities too;
//   2. the evaluation (Dopri5 at 1.4e-8 NFE, loss, error, R_2, kinetic and Frobenius integrals):
//      identical NFE and error, the rest within 1e-9 relative;
//   3. the whole run (mnist_run.hpp: training with monitor solves and checkpoints, evaluation,
//      result files) with --graph on the emulation against --device cpu, and a --graph run stopped
//      after one epoch and resumed from its checkpoint: eval.csv's figures equal to the printed
//      digits.
// Truth is backend::Cpu, the path every other example test checks; the emulation shares the CUDA
// backend's code above the runtime (docs/cuda.md), so this runs the --device cuda code without a GPU.
// Exit 0: pass, 1: fail, 77: skipped (no data folder).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <string>

#include <taynode/cuda.hpp>

#include "checks.hpp"

#include "mnist_run.hpp"

namespace fs = std::filesystem;
using namespace mnist_example;
using Emu = taynode::backend::CudaEmulated;
using example_checks::check;
using example_checks::failures;
using example_checks::relative;
using Cpu = taynode::backend::Cpu;

namespace {

// Max |a − b| / max |a| over every tensor of two parameter lists.
template <class P>
double parameter_difference(P& a, P& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, double((a.value(i) - b.value(i)).cwiseAbs().maxCoeff()));
    scale = std::max(scale, double(a.value(i).cwiseAbs().maxCoeff()));
  }
  return diff / scale;
}

void compare_training(const Dataset<double>& data, Settings s, const std::string& what, int iterations = 3) {
  Settings host_settings = s;
  host_settings.graph = false;  // the reference: backend::Cpu's ordinary iteration
  host_settings.device = "cpu";
  s.validate();
  Model<double> cpu_model(s.seed), emu_model(s.seed);
  const std::int64_t per_epoch = std::int64_t(data.size() / s.batch);
  Trainer<double, Cpu> cpu(cpu_model, host_settings, per_epoch);
  Trainer<double, Emu> emu(emu_model, s, per_epoch);
  Mat<double> x;
  std::vector<int> y;
  double worst_loss = 0;
  bool same_nfe = true;
  for (std::int64_t it = 0; it < iterations; ++it) {
    const auto perm = epoch_permutation(data.size(), s.seed, it / per_epoch);
    gather(data, perm, std::size_t(it % per_epoch) * s.batch, s.batch, x, y);
    const auto a = cpu.step(x, y), b = emu.step(x, y);
    worst_loss = std::max({worst_loss, relative(a.loss, b.loss), relative(a.reg + 1, b.reg + 1)});
    same_nfe = same_nfe && a.nfe_forward == b.nfe_forward && a.nfe_backward == b.nfe_backward;
  }
  emu.sync_host();  // --graph: the host copies take the device's
  const double dp = parameter_difference(cpu.parameters(), emu.parameters());
  auto& va = cpu.optimizer().state().slots.at(0);
  auto& vb = emu.optimizer().state().slots.at(0);
  const double dv = parameter_difference(va, vb);
  std::printf("%s: losses within %.2e, parameters within %.2e, velocities within %.2e", what.c_str(), worst_loss, dp,
              dv);
  if (s.graph) std::printf(" (graph of the iteration: %zu operations)", emu.graph_operations());
  std::printf("\n");
  check(worst_loss < 1e-10, what + ": losses and R on CudaEmulated equal backend::Cpu's within 1e-10");
  check(dp < 1e-10, what + ": parameters after the iterations within 1e-10");
  check(dv < 1e-10 && va.name(0) == vb.name(0) && va.size() == vb.size(), what + ": SGD's velocities within 1e-10");
  check(cpu.iteration() == emu.iteration(), what + ": the same iteration count");
  check(same_nfe, what + ": the same NFE forward and backward");
}
// eval.csv's figures (loss, error, NFE, R_2, B, K) of a run's folder.
std::vector<double> eval_figures(const fs::path& dir) {
  std::ifstream f(dir / "eval.csv");
  std::string header, row;
  std::getline(f, header);
  std::getline(f, row);
  std::vector<std::string> cells;
  std::stringstream ss(row);
  for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
  if (cells.size() < 19) throw std::runtime_error("no eval.csv row in " + dir.string());
  std::vector<double> v;
  for (int i = 13; i <= 18; ++i) v.push_back(std::stod(cells[std::size_t(i)]));
  return v;
}

void compare_runs(const fs::path& smoke) {
  // The smoke slice under the names load_split reads, as the training and the test split.
  const fs::path root = fs::temp_directory_path() / ("taynode_mnist_device_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "data");
  for (const char* split : {"train", "t10k"}) {
    fs::create_symlink(smoke / "t10k-first1000-images-idx3-ubyte", root / "data" / (std::string(split) + "-images-idx3-ubyte"));
    fs::create_symlink(smoke / "t10k-first1000-labels-idx1-ubyte", root / "data" / (std::string(split) + "-labels-idx1-ubyte"));
  }
  Settings s;
  s.data_dir = (root / "data").string();
  s.subset = 40;
  s.test_subset = 40;
  s.reg = "r3";
  s.lambda = 1e-2;
  s.steps = 2;
  s.batch = 20;
  s.epochs = 2;
  s.lr_values = {0.05, 0.01};
  s.lr_epochs = {1};
  s.eval_batch = 40;
  s.monitor_batch = 20;
  s.log_every = 1;
  s.progress = false;
  s.plot = false;
  auto with = [&](const char* device, const char* dir, int epochs, const std::string& resume) {
    Settings r = s;
    r.device = device;
    r.graph = std::string(device) == "cuda";
    r.epochs = epochs;
    r.out_dir = (root / dir).string();
    r.resume = resume;
    r.validate();
    return r;
  };
  check(run<double, Cpu>(with("cpu", "cpu", 2, "")) == 0, "whole run, --device cpu");
  check(run<double, Emu>(with("cuda", "graph", 2, "")) == 0, "whole run, --graph on the emulation");
  check(run<double, Emu>(with("cuda", "half", 1, "")) == 0, "one epoch, --graph");
  check(run<double, Emu>(with("cuda", "resumed", 2, (root / "half" / "checkpoint.bin").string())) == 0,
        "resumed for the second epoch, --graph");
  const auto a = eval_figures(root / "cpu"), b = eval_figures(root / "graph"), c = eval_figures(root / "resumed");
  double ab = 0, bc = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ab = std::max(ab, relative(a[i], b[i]));
    bc = std::max(bc, relative(b[i], c[i]));
  }
  std::printf("whole run: eval.csv --graph vs cpu within %.2e, resumed vs straight within %.2e (loss %.10g)\n", ab, bc,
              b[0]);
  check(ab < 1e-9, "whole run: --graph's eval.csv equals --device cpu's to the printed digits");
  check(bc < 1e-9, "whole run: a --graph run resumed from its checkpoint ends where the straight one does");
  fs::remove_all(root);
}
}  // namespace

int main() {
  const char* shared = std::getenv("TAYNODE_SHARED_DATA");
  const fs::path dir = fs::path(shared ? shared : "../shared/data") / "mnist" / "smoke";
  const fs::path images = dir / "t10k-first1000-images-idx3-ubyte", labels = dir / "t10k-first1000-labels-idx1-ubyte";
  if (!fs::exists(images) || !fs::exists(labels)) {
    std::printf("skipped: no MNIST smoke slice in %s\n", dir.string().c_str());
    return 77;
  }
  try {
    const auto data = load_images<double>(images, labels, 40);
    Settings s;
    s.reg = "r3";
    s.lambda = 1e-2;
    s.solver = "rk4";
    s.steps = 2;
    s.batch = 20;
    s.lr_values = {0.05};
    s.lr_epochs = {};
    s.eval_batch = 40;
    compare_training(data, s, "backprop R_3, RK4 grid");
    {
      Settings r = s;
      r.reg = "rnode";
      r.lambda = 0;
      r.lambda_kin = 0.01;
      r.lambda_fro = 0.01;
      r.forward = "augmented";
      compare_training(data, r, "backprop RNODE (augmented forward)");
    }
    for (const char* reg : {"none", "r3"}) {
      Settings g = s;
      g.reg = reg;
      g.lambda = g.reg == "none" ? 0.0 : 1e-2;
      g.device = "cuda";
      g.graph = true;
      g.lr_values = {0.05, 0.01};
      g.lr_epochs = {1};  // 2 iterations per epoch: iteration 2 recaptures at the new rate
      compare_training(data, g, std::string("--graph ") + reg + ", RK4 grid", 4);
    }
    {
      Settings a = s;
      a.reg = "r2";
      a.gradient = "adjoint";
      a.solver = "dopri5";
      a.steps = 0;
      a.rtol = a.atol = 1e-6;
      compare_training(data, a, "adjoint R_2, Dopri5 1e-6");
    }
    compare_runs(dir);
    // Evaluation of a model trained a little (not the initial one), on both backends.
    Model<double> model(s.seed);
    {
      Trainer<double, Cpu> tr(model, s, 2);
      Mat<double> x;
      std::vector<int> y;
      const auto perm = epoch_permutation(data.size(), s.seed, 0);
      gather(data, perm, 0, s.batch, x, y);
      tr.step(x, y);
    }
    const auto a = evaluate<double, Cpu>(model, data, s, "train");
    const auto b = evaluate<double, Emu>(model, data, s, "train");
    std::printf("evaluation: loss %.10g / %.10g, error %.4f / %.4f, NFE %.0f / %.0f, R2 %.10g / %.10g, K %.10g / "
                "%.10g, B %.10g / %.10g\n",
                a.loss, b.loss, a.error, b.error, a.nfe, b.nfe, a.r2, b.r2, a.kinetic, b.kinetic, a.frobenius,
                b.frobenius);
    check(a.nfe == b.nfe && a.error == b.error, "evaluation: the same Dopri5 NFE and error");
    check(relative(a.loss, b.loss) < 1e-9, "evaluation: the same loss within 1e-9");
    check(relative(a.r2, b.r2) < 1e-9 && relative(a.kinetic, b.kinetic) < 1e-9 &&
              relative(a.frobenius, b.frobenius) < 1e-9,
          "evaluation: R_2, kinetic and Frobenius integrals within 1e-9");
  } catch (const std::exception& e) {
    std::printf("FAIL: exception: %s\n", e.what());
    return 1;
  }
  std::printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}

// One training step (forward + backward) of the paper's MNIST neural ODE: batch 100, dynamics
// σ → [t,·] → Linear(785→100) → σ → [t,·] → Linear(101→784), double, through ad::solve_gradient.
// Configurations: solver RK4 (4 fixed steps) and Dopri5 (rtol = atol = 1e-5); regularizer none, R_2,
// R_3; gradient by backprop (discretize-then-optimize) and by the continuous adjoint; forward pass
// plain (the reference's "aux" training mode: forward on z only) and, for backprop, augmented;
// backprop with the forward's stage derivatives kept (the default) and re-evaluated ("re-eval").
//
// Loss: ½·mean over the batch of ||z1 − y||² with a fixed target y (a classifier head costs < 1% of a
// step here: 100×784×10 multiply-adds against ≥ 16 evaluations of 2×100×785×100), + λ·mean R_K.
// Initial states: the first 100 images of the MNIST smoke slice (t10k): [smoke-dir], else
// $TAYNODE_SHARED_DATA/mnist/smoke, else ../shared/data/mnist/smoke; a missing slice is an error
// (run from the repository root, or name the folder). smoke-dir "random" asks for uniform [0,1]
// pixels (seeded) instead.
//
// Timing: every configuration runs once per round, rounds repeated, median per configuration
// (so all configurations see the same machine state). Peak memory: each configuration runs one
// step in a forked child; its peak resident set (ru_maxrss) minus that of a child that only sets
// up the network and data.
//
// Usage: bench_train_training_step [rounds=7] [mnist-smoke-dir | random]

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "taynode/ad.hpp"
#include "taynode/data/mnist.hpp"
#include "taynode/nn.hpp"
#include "taynode/ode.hpp"

using namespace taynode;
using Mat = nn::RowMatrix<double>;
using Vec = nn::Vector<double>;

namespace {

enum class Gradient { backprop, adjoint };
const char* to_string(Gradient g) { return g == Gradient::backprop ? "backprop" : "adjoint"; }

struct Config {
  bool adaptive;  // Dopri5 1e-5, else RK4 × 4
  int K;          // 0 = unregularized
  Gradient method;
  ad::ForwardPass forward;
  bool keep_stages = true;  // backprop: the forward's stage derivatives kept (else re-evaluated)
  // (snprintf: GCC 12 -O3 warns falsely (-Wrestrict) on chained std::string operator+.)
  std::string name() const {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s | %s%s | %s | %s%s", adaptive ? "Dopri5 1e-5" : "RK4 x4", K == 0 ? "none" : "R",
                  K == 0 ? "" : std::to_string(K).c_str(), to_string(method), ad::to_string(forward),
                  keep_stages ? "" : " | re-eval");
    return buf;
  }
};

struct Setup {
  nn::Sequential<double> net = nn::mnist_dynamics<double>();
  Mat z0, target;
  NetworkTaylor<double> ws;
  ad::NetworkAdjoint<double> adj;
  Setup(const Mat& images) : z0(images), ws((init(), net), 3, images.rows()), adj(ws) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(0, 1);
    target = Mat::NullaryExpr(z0.rows(), z0.cols(), [&] { return u(rng); });
  }
  void init() {
    std::mt19937_64 rng(1);
    nn::init_haiku(net, rng);
  }
};

struct StepInfo {
  double seconds;
  std::size_t nfe_forward, nfe_backward, steps;
};

StepInfo training_step(Setup& s, const Config& c) {
  SolveOptions<double> o;
  if (c.adaptive)
    o.rtol = o.atol = 1e-5;
  else
    o.fixed_steps = 4;
  const double lambda = 1e-2, B = double(s.z0.rows());
  auto loss = [&](const Mat& z1, const Vec&, Mat& z1_bar, Vec& r1_bar) {
    z1_bar = (z1 - s.target) / B;
    r1_bar.setConstant(1 / B);  // λ sits in the integrand (ad::TaylorRegularizer{K, λ})
  };
  const ad::TaylorRegularizer<double> reg{c.K, lambda};
  const auto t0 = std::chrono::steady_clock::now();
  StepInfo info{};
  auto run = [&](auto method, const auto& gradient) {
    auto g = ad::solve_gradient(s.ws, s.adj, s.z0, 0.0, 1.0, reg, method, o, gradient, loss);
    info = {0, g.nfe_forward, g.nfe_backward, g.backward_steps};
  };
  auto with_gradient = [&](auto method) {
    if (c.method == Gradient::adjoint)
      run(method, ad::Adjoint{c.forward});
    else
      run(method, ad::Backprop{.forward = c.forward, .keep_stages = c.keep_stages});
  };
  if (c.adaptive)
    with_gradient(Dopri5{});
  else
    with_gradient(RK4{});
  info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return info;
}

// Peak RSS (KiB) of a child that runs `steps` training steps of c (none: setup only).
long child_peak_kib(const Mat& images, const Config* c) {
  const pid_t pid = fork();
  if (pid == 0) {
    Setup s(images);
    if (c) training_step(s, *c);
    std::_Exit(0);
  }
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  return ru.ru_maxrss;
}

Mat load_images(const std::string& dir) {
  if (dir != "random") {
    const std::string path = dir + "/t10k-first1000-images-idx3-ubyte";
    const auto imgs = read_idx_images(path);  // a DataError naming the file when it is missing
    if (imgs.count < 100 || imgs.rows * imgs.cols != 784)
      throw DataError(path, "expected at least 100 images of 28 x 28 pixels");
    std::printf("initial states: first 100 images of %s\n", path.c_str());
    return imgs.template scaled<double>().topRows(100);
  }
  std::printf("initial states: uniform [0,1] pixels (asked for with \"random\")\n");
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  return Mat::NullaryExpr(100, 784, [&] { return u(rng); });
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
  std::string dir = argc > 2 ? argv[2] : "";
  if (dir.empty()) {
    const char* env = std::getenv("TAYNODE_SHARED_DATA");
    dir = std::string(env ? env : "../shared/data") + "/mnist/smoke";
  }
  Mat images;
  try {
    images = load_images(dir);
  } catch (const DataError& e) {
    std::fprintf(stderr, "bench_train_training_step: %s\n(give the MNIST smoke folder as the second argument, set "
                         "TAYNODE_SHARED_DATA, or pass \"random\" for random pixels)\n", e.what());
    return 1;
  }
  std::vector<Config> configs;
  for (bool adaptive : {false, true})
    for (auto method : {Gradient::backprop, Gradient::adjoint})
      for (auto forward : {ad::ForwardPass::plain, ad::ForwardPass::augmented}) {
        if (method == Gradient::adjoint && forward == ad::ForwardPass::augmented) continue;
        for (int K : {0, 2, 3}) {
          if (K == 0 && forward == ad::ForwardPass::augmented) continue;  // the same as plain
          configs.push_back({adaptive, K, method, forward});
        }
        // Backprop re-evaluating the stage inputs (Backprop::keep_stages = false), beside the
        // default that keeps the forward's stage derivatives.
        if (method == Gradient::backprop && forward == ad::ForwardPass::plain)
          for (int K : {0, 2, 3}) configs.push_back({adaptive, K, method, forward, false});
      }

  Setup s(images);
  std::vector<std::vector<double>> times(configs.size());
  std::vector<StepInfo> info(configs.size());
  for (std::size_t i = 0; i < configs.size(); ++i) info[i] = training_step(s, configs[i]);  // warm-up
  for (int r = 0; r < rounds; ++r)
    for (std::size_t i = 0; i < configs.size(); ++i) {
      info[i] = training_step(s, configs[i]);
      times[i].push_back(info[i].seconds);
    }
  const long base_kib = child_peak_kib(images, nullptr);

  std::printf("one training step, batch 100, MNIST dynamics (784-100-784), double, %d rounds, median\n", rounds);
  std::printf("%-44s %10s %9s %7s %7s %6s %11s\n", "solver | regularizer | gradient | forward", "ms/step", "x none",
              "NFE fw", "NFE bw", "steps", "peak MiB");
  double none_ms = 0;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    auto& t = times[i];
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    const double ms = 1e3 * t[t.size() / 2];
    if (configs[i].K == 0 && configs[i].keep_stages) none_ms = ms;  // the block's unregularized row comes first
    const long peak = child_peak_kib(images, &configs[i]) - base_kib;
    std::printf("%-44s %10.1f %9.2f %7zu %7zu %6zu %11.1f\n", configs[i].name().c_str(), ms, ms / none_ms,
                info[i].nfe_forward, info[i].nfe_backward, info[i].steps, double(peak) / 1024.0);
  }
  std::printf("(x none: against the unregularized row of the same solver and gradient method; peak MiB: peak\n"
              " resident set of a child running one step, minus a child that only sets up; setup %.1f MiB)\n",
              double(base_kib) / 1024.0);
  return 0;
}

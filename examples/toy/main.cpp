// The paper's Figure 1: a neural ODE learns the 1-D map z(1) = z(0) + z(0)³ on [−1, 1], once
// unregularized and once with λ·R_3. Both are then solved with adaptive Dopri5 at a tight
// tolerance; the table compares fit error, NFE, R_3 and training time. Trajectories (coloured by
// |d³z/dt³|) and the summary go to CSV, and gnuplot (if installed) draws toy.png.
//
// Training: mean squared error of z(1) on 64 fresh uniform samples per iteration + λ·mean R_3,
// RK4 on a fixed grid, gradients by backprop through the grid (ad::solve_gradient), Adam.
// The model, training and evaluation: toy_example.hpp, on backend::Cpu here and on backend::Cuda
// with --device cuda (toy_cuda.cu).

#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <CLI/CLI.hpp>

#include "toy_example.hpp"

namespace {
using namespace toy_example;

// CLI::PositiveNumber lets NaN through (NaN <= 0 is false) and accepts infinity.
const CLI::Validator finite_positive(
    [](std::string& text) {
      double v = 0;
      if (!CLI::detail::lexical_cast(text, v)) return std::string("not a number: ") + text;
      return std::isfinite(v) && v > 0 ? std::string() : "must be a finite number > 0, got " + text;
    },
    "POSITIVE");

// Makes the output folder and checks that files can be created in it, so that a bad --out fails
// before minutes of training, not after.
void prepare_output(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("--out '" + dir.string() + "': cannot create the folder: " + ec.message());
  const auto probe = dir / ".toy-write-test";
  if (!std::ofstream(probe)) throw std::runtime_error("--out '" + dir.string() + "': cannot write files in it");
  std::filesystem::remove(probe, ec);
}

// --device cuda in a build without it: an error before any work (and before --out is made).
void check_device(const Settings& s) {
  if (s.device == "cuda" && !built_with_cuda())
    throw std::invalid_argument(
        "--device cuda: this toy was built without CUDA (configure with nvcc found and "
        "-DTAYNODE_EXAMPLES_CUDA=ON)");
}

int run_on_device(const Settings& s) {
  if (s.device == "cuda") return run_on_cuda(s);
  return s.precision == "float" ? run<float>(s) : run<double>(s);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"taynode Figure 1 toy: learn z(1) = z(0) + z(0)^3 with and without R_3"};
  app.add_option("--iterations", s.iterations, "training iterations per model")->check(CLI::PositiveNumber);
  app.add_option("--batch", s.batch, "samples per iteration")->check(CLI::PositiveNumber);
  app.add_option("--hidden", s.hidden, "hidden width of the dynamics MLP")->check(CLI::PositiveNumber);
  app.add_option("--grid-steps", s.grid_steps, "RK4 steps on [0, 1] in training")->check(CLI::PositiveNumber);
  app.add_option("--lr", s.learning_rate, "Adam learning rate (/10 from 50 %, /100 from 80 % of the iterations)")
      ->check(finite_positive);
  app.add_option("--lambda", s.lambda, "weight of R_K for the regularized model")->check(finite_positive);
  app.add_option("--order", s.order, "K of the regularized model's R_K (the paper's Figure 1: 3)")
      ->check(CLI::Range(1, 3));
  app.add_option("--eval-tol", s.eval_tolerance, "Dopri5 rtol = atol for evaluation")->check(finite_positive);
  app.add_option("--seed", s.seed, "initialization and data seed (both models share it)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--out", s.out, "output directory for CSV and PNG files");
  app.add_option("--device", s.device,
                 "cpu, or cuda: the solves, Taylor passes and VJPs on the GPU (backend::Cuda), the loss head and "
                 "Adam on the host")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  CLI::Option* precision =
      app.add_option("--precision", s.precision, "float or double (default: double on the cpu, float on cuda)")
          ->check(CLI::IsMember({"float", "double"}));
  CLI11_PARSE(app, argc, argv);
  if (s.device == "cuda" && precision->count() == 0) s.precision = "float";
  const auto dir = std::filesystem::path(s.out);
  std::error_code ec;
  const bool out_existed = std::filesystem::exists(dir, ec);
  try {
    check_device(s);
    prepare_output(dir);
    return run_on_device(s);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "toy: error: %s\n", e.what());
    // Leave no empty output folder behind (a run that failed before writing anything).
    if (!out_existed && std::filesystem::is_directory(dir, ec) && std::filesystem::is_empty(dir, ec))
      std::filesystem::remove(dir, ec);
    return 1;
  }
}

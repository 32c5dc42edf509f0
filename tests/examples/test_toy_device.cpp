// The toy example's device path (--device cuda: train<T, B>, evaluate<T, B>, nfe_by_tolerance and
// write_trajectories of examples/toy/toy_example.hpp) through the host emulation of the CUDA
// backend (backend::CudaEmulated: the backend's own code, host memory), against backend::Cpu, in
// double, on a small toy (hidden width 16, batch 16, RK4 on 4 steps):
//   1. a few Adam iterations of the unregularized and the R_3 model: every loss and every
//      parameter within 1e-10 relative;
//   2. the evaluation (Dopri5 at 1e-8 on the toy's 201 grid points): identical NFE (joint and per
//      point), fit RMSE and R_3 within 1e-9 relative; the NFE-by-tolerance table identical; the
//      trajectories and |d³z/dt³| within 1e-9;
//   3. float (--device cuda's default precision), R_3 model: losses within 1e-4 relative of
//      backend::Cpu's float run, and the evaluation finite with NFE within 10 %.
// Truth is backend::Cpu, the path the toy has always run; the emulation shares the CUDA backend's
// code above the runtime (docs/cuda.md), so this runs the --device cuda code without a GPU.
// Exit 0: pass, 1: fail.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <taynode/cuda.hpp>

#include "checks.hpp"

#include "toy_example.hpp"

using namespace toy_example;
using Emu = taynode::backend::CudaEmulated;
using example_checks::check;
using example_checks::failures;
using example_checks::relative;
using Cpu = taynode::backend::Cpu;

namespace {

// Max |a − b| / max |a| over every parameter tensor of two networks.
double parameter_difference(taynode::nn::Sequential<double>& a, taynode::nn::Sequential<double>& b) {
  auto pa = taynode::nn::parameter_refs(a), pb = taynode::nn::parameter_refs(b);
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    diff = std::max(diff, double((pa.value(i) - pb.value(i)).cwiseAbs().maxCoeff()));
    scale = std::max(scale, double(pa.value(i).cwiseAbs().maxCoeff()));
  }
  return diff / scale;
}

// The numbers of two trajectory CSV texts (same rows and names): the largest difference, relative
// to the larger magnitude (absolute below 1e-6, for |d³z/dt³| near 0).
double csv_difference(const std::string& a, const std::string& b, bool& same_shape) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  double worst = 0;
  same_shape = true;
  while (std::getline(sa, la)) {
    if (!std::getline(sb, lb)) {
      same_shape = false;
      break;
    }
    std::istringstream fa(la), fb(lb);
    std::string xa, xb;
    for (int field = 0; std::getline(fa, xa, ','); ++field) {
      if (!std::getline(fb, xb, ',')) {
        same_shape = false;
        break;
      }
      if (field == 0) {
        same_shape = same_shape && xa == xb;
        continue;
      }
      const double va = std::stod(xa), vb = std::stod(xb);
      worst = std::max(worst, std::abs(va - vb) / std::max({std::abs(va), std::abs(vb), 1e-6}));
    }
  }
  if (std::getline(sb, lb)) same_shape = false;
  return worst;
}

void compare(const Settings& s, int order, double lambda, const std::string& what) {
  Model<double> cpu, emu;
  for (auto* m : {&cpu, &emu}) {
    m->name = what;
    m->order = order;
    m->lambda = lambda;
    m->net = make_dynamics<double>(s.hidden);
  }
  train<double, Cpu>(cpu, s);
  train<double, Emu>(emu, s);
  double worst_loss = 0;
  bool same_count = cpu.train_losses.size() == emu.train_losses.size() && int(cpu.train_losses.size()) == s.iterations;
  for (std::size_t i = 0; same_count && i < cpu.train_losses.size(); ++i)
    worst_loss = std::max(worst_loss, relative(cpu.train_losses[i], emu.train_losses[i]));
  const double dp = parameter_difference(cpu.net, emu.net);
  std::printf("%s: %d iterations, losses within %.2e (last %.10g / %.10g), parameters within %.2e\n", what.c_str(),
              s.iterations, worst_loss, cpu.final_train_loss, emu.final_train_loss, dp);
  check(same_count && worst_loss < 1e-10, what + ": every training loss on CudaEmulated equals backend::Cpu's within 1e-10");
  check(dp < 1e-10, what + ": the parameters after training within 1e-10");

  const Mat<double> grid = evaluation_grid<double>();
  const Evaluation a = evaluate<double, Cpu>(cpu, s, grid);
  const Evaluation b = evaluate<double, Cpu>(emu, s, grid);  // the emulated model's parameters on the Cpu
  const Evaluation c = evaluate<double, Emu>(emu, s, grid);
  std::printf("%s: evaluation fit RMSE %.10g / %.10g, NFE joint %zu / %zu, NFE per point %.4f / %.4f, R_3 %.10g / "
              "%.10g\n",
              what.c_str(), a.fit_rmse, c.fit_rmse, a.nfe_joint, c.nfe_joint, a.nfe_per_point, c.nfe_per_point, a.r3,
              c.r3);
  check(a.nfe_joint == c.nfe_joint && a.nfe_per_point == c.nfe_per_point,
        what + ": the same Dopri5 NFE (joint and per point)");
  check(b.nfe_joint == c.nfe_joint && b.nfe_per_point == c.nfe_per_point,
        what + ": the same NFE as backend::Cpu with the same parameters");
  check(relative(a.fit_rmse, c.fit_rmse) < 1e-9, what + ": fit RMSE within 1e-9");
  check(relative(a.r3, c.r3) < 1e-9 && relative(b.r3, c.r3) < 1e-9, what + ": R_3 within 1e-9");

  const std::vector<double> tolerances{1e-4, 1e-6, 1e-8};
  check(nfe_by_tolerance<double, Cpu>(cpu, grid, tolerances) == nfe_by_tolerance<double, Emu>(emu, grid, tolerances),
        what + ": the same NFE by tolerance");

  std::ostringstream ta, tb;
  ta.precision(17);
  tb.precision(17);
  const Mat<double> starts = evaluation_grid<double>(5);
  write_trajectories<double, Cpu>(ta, cpu, s, starts);
  write_trajectories<double, Emu>(tb, emu, s, starts);
  bool same_shape = false;
  const double dt = csv_difference(ta.str(), tb.str(), same_shape);
  std::printf("%s: trajectories and |d3z/dt3| within %.2e\n", what.c_str(), dt);
  check(same_shape && !ta.str().empty() && dt < 1e-9, what + ": trajectories and |d3z/dt3| within 1e-9");
}
// float: rounding differs between the backends (GEMM and sum orders, libm's tanh against Eigen's),
// and float keeps 7 digits; the path must run and agree to float accuracy.
void compare_float(const Settings& s) {
  Model<float> cpu, emu;
  for (auto* m : {&cpu, &emu}) {
    m->name = "R3";
    m->order = 3;
    m->lambda = 0.01;
    m->net = make_dynamics<float>(s.hidden);
  }
  train<float, Cpu>(cpu, s);
  train<float, Emu>(emu, s);
  double worst_loss = 0;
  for (std::size_t i = 0; i < cpu.train_losses.size() && i < emu.train_losses.size(); ++i)
    worst_loss = std::max(worst_loss, relative(cpu.train_losses[i], emu.train_losses[i]));
  const Mat<float> grid = evaluation_grid<float>(41);
  Settings loose = s;
  loose.eval_tolerance = 1e-5;  // a float tolerance
  const Evaluation a = evaluate<float, Cpu>(cpu, loose, grid), c = evaluate<float, Emu>(emu, loose, grid);
  std::printf("float R3: losses within %.2e; evaluation at 1e-5: fit RMSE %.6g / %.6g, NFE joint %zu / %zu, R_3 %.6g / "
              "%.6g\n",
              worst_loss, a.fit_rmse, c.fit_rmse, a.nfe_joint, c.nfe_joint, a.r3, c.r3);
  check(emu.train_losses.size() == cpu.train_losses.size() && worst_loss < 1e-4,
        "float R3: training losses within 1e-4 of backend::Cpu's float run");
  check(std::isfinite(c.fit_rmse) && std::isfinite(c.r3) && relative(a.fit_rmse, c.fit_rmse) < 1e-3 &&
            relative(a.r3, c.r3) < 1e-3 && std::abs(double(a.nfe_joint) - double(c.nfe_joint)) <= 0.1 * double(a.nfe_joint),
        "float R3: the evaluation within float accuracy (fit RMSE, R_3 within 1e-3, NFE within 10 %)");
}
}  // namespace

int main() {
  const auto start = std::chrono::steady_clock::now();
  try {
    Settings s;
    s.iterations = 20;  // the schedule's three phases: 10, 6, 4 iterations
    s.batch = 16;
    s.hidden = 16;
    s.grid_steps = 4;
    compare(s, 0, 0.0, "unregularized");
    compare(s, 3, 0.01, "R3");
    compare_float(s);
  } catch (const std::exception& e) {
    std::printf("FAIL: exception: %s\n", e.what());
    return 1;
  }
  std::printf("%d failure(s), %.1f s\n", failures,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return failures ? 1 : 0;
}

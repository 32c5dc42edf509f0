#pragma once
// The Figure 1 toy (README.md in this folder) as a small library on backend B, shared by main.cpp
// (backend::Cpu), toy_cuda.cu (backend::Cuda, --device cuda) and tests/examples/test_toy_device.cpp
// (backend::CudaEmulated against backend::Cpu).
//
//   model     f(z, t) = [t, z] → Linear(H) → tanh → [t, ·] → Linear(H) → tanh → [t, ·] → Linear(1)
//   training  mean squared error of z(1) against z(0) + z(0)³ on fresh uniform samples per
//             iteration + λ·mean R_K; RK4 on a fixed grid, gradients by backprop through the grid
//             (ad::solve_gradient), Adam
//   evaluate  Dopri5 at a tight tolerance on a grid of z(0): fit RMSE, NFE of the joint solve and
//             of separate solves per point, R_3 by an augmented solve; NFE by tolerance; the
//             trajectories with |d³z/dt³|
//
// On a device backend (!eigen_host<B>) the solves, the Taylor passes and the VJPs run on B with
// states in B's memory; the loss head (z(1) → its cotangents), Adam and the network of record stay
// on the host: z(1) is downloaded, the cotangents uploaded, and B's copy of the parameters is
// refreshed before every solve. backend::Cpu runs the host code it always ran (bit-identical
// results).

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "taynode/ad.hpp"
#include "taynode/nn.hpp"
#include "taynode/ode.hpp"
#include "taynode/reg/integrands.hpp"

#include "../common/host_head.hpp"

namespace toy_example {

using taynode::Index;
using example_backend::HostHead;
template <class T>
using Mat = taynode::nn::RowMatrix<T>;
template <class T>
using Vec = taynode::nn::Vector<T>;

struct Settings {
  int iterations = 3000;
  int batch = 64;
  int hidden = 64;
  int grid_steps = 4;  // RK4 steps in training
  double learning_rate = 3e-2;
  double lambda = 0.01;
  int order = 3;
  double eval_tolerance = 1e-8;
  unsigned seed = 1;
  std::string out = "out/toy";
  // cpu (backend::Cpu) or cuda (backend::Cuda: the solves, Taylor passes and VJPs on the GPU; the
  // loss head, Adam and the network of record on the host).
  std::string device = "cpu";
  std::string precision = "double";  // float or double (the command line: double on cpu, float on cuda)
};

template <class T>
T target(T z0) {
  return z0 + z0 * z0 * z0;
}

template <class T>
taynode::nn::Sequential<T> make_dynamics(int hidden) {
  taynode::nn::Sequential<T> net;
  net.layers.emplace_back(std::in_place_type<taynode::nn::ConcatLinear<T>>, 1, hidden);
  net.layers.emplace_back(std::in_place_type<taynode::nn::Tanh>);
  net.layers.emplace_back(std::in_place_type<taynode::nn::ConcatLinear<T>>, hidden, hidden);
  net.layers.emplace_back(std::in_place_type<taynode::nn::Tanh>);
  net.layers.emplace_back(std::in_place_type<taynode::nn::ConcatLinear<T>>, hidden, 1);
  return net;
}

struct Evaluation {
  double fit_rmse = 0;        // over the evaluation grid, Dopri5 at the tight tolerance
  std::size_t nfe_joint = 0;  // one solve of all grid points as one system
  double nfe_per_point = 0;   // mean over separate solves of each grid point
  double r3 = 0;              // mean R_3 over the grid (augmented Dopri5 solve)
};

template <class T>
struct Model {
  std::string name;
  double lambda = 0;
  int order = 0;  // K of R_K (0: unregularized)
  taynode::nn::Sequential<T> net;
  double train_seconds = 0;
  double final_train_loss = 0;
  std::vector<double> train_losses;  // mse + mean λ·R_K of every iteration (before its update)
  Evaluation eval;
};

// The evaluation grid: n evenly spaced z(0) on [−1, 1] (n × 1).
template <class T>
Mat<T> evaluation_grid(Index n = 201) {
  Mat<T> grid(n, 1);
  for (Index i = 0; i < n; ++i) grid(i, 0) = T(-1 + 2.0 * double(i) / double(n - 1));
  return grid;
}

// ---------------------------------------------------------------------------------------------
// Host ↔ backend

// A host matrix as a state on backend B: the matrix itself on backend::Cpu, a copy in B's memory
// otherwise.
template <class B, class T>
typename B::template Matrix<T> to_state(const Mat<T>& x) {
  if constexpr (taynode::backend::eigen_host<B>)
    return x;
  else
    return taynode::backend::to_backend<B>(x);
}

// A state of backend B on the host (a copy; backend::Cpu: the same values).
template <class B, class S>
auto to_host_matrix(const S& x) {
  using T = std::remove_const_t<std::remove_pointer_t<decltype(x.data())>>;
  if constexpr (taynode::backend::eigen_host<B>)
    return Mat<T>(x);
  else
    return Mat<T>(taynode::backend::to_host<B>(x));
}

// ---------------------------------------------------------------------------------------------
// Training

template <class T, class B = taynode::backend::Cpu>
void train(Model<T>& m, const Settings& s) {
  std::mt19937_64 rng(s.seed);
  taynode::nn::init_haiku(m.net, rng);
  taynode::NetworkTaylor<T, B> ws(m.net, 3, s.batch);
  taynode::ad::NetworkAdjoint<T, B> adj(ws);
  auto params = taynode::nn::parameter_refs(m.net);
  // η, η/10 from 50 %, η/100 from 80 % of the iterations: the last phases settle the fit.
  taynode::nn::Adam<T> opt(taynode::nn::piecewise_constant(
      {std::int64_t(s.iterations / 2), std::int64_t(s.iterations * 4 / 5)},
      {s.learning_rate, s.learning_rate / 10, s.learning_rate / 100}));
  taynode::SolveOptions<T> grid;
  grid.fixed_steps = std::size_t(s.grid_steps);
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::mt19937_64 data_rng(s.seed + 1000);
  Mat<T> z0(s.batch, 1), y(s.batch, 1);
  const int K = m.order;
  const double n = s.batch;
  const taynode::ad::TaylorRegularizer<T> regularizer{K, T(m.lambda)};
  m.train_losses.clear();
  m.train_losses.reserve(std::size_t(s.iterations));
  const auto start = std::chrono::steady_clock::now();
  for (int it = 0; it < s.iterations; ++it) {
    for (int b = 0; b < s.batch; ++b) {
      z0(b, 0) = T(uniform(data_rng));
      y(b, 0) = target(z0(b, 0));
    }
    double mse = 0;
    auto loss = [&](const Mat<T>& z1, const Vec<T>&, Mat<T>& z1_bar, Vec<T>& r1_bar) {
      mse = double((z1 - y).squaredNorm()) / n;
      z1_bar = T(2 / n) * (z1 - y);
      r1_bar.setConstant(T(1 / n));  // the weight λ sits in the integrand
    };
    double r1_mean = 0;
    if constexpr (taynode::backend::eigen_host<B>) {
      auto g = taynode::ad::solve_gradient(ws, adj, z0, T(0), T(1), regularizer, taynode::RK4{}, grid,
                                                 taynode::ad::Backprop{}, loss);
      r1_mean = double(g.r1.mean());
      auto grads = taynode::nn::parameter_refs(g.theta_bar);
      opt.step(params, grads);
    } else {
      ws.refresh_parameters();  // B's copy of θ takes the host network's (the last update)
      const auto z0_d = to_state<B>(z0);
      HostHead<T, B, decltype(loss)> head(loss);
      auto g = taynode::ad::solve_gradient(ws, adj, z0_d, T(0), T(1), regularizer, taynode::RK4{}, grid,
                                                 taynode::ad::Backprop{}, head);
      r1_mean = double(taynode::backend::to_host<B>(g.r1).mean());
      auto grads = taynode::nn::parameter_refs(g.theta_bar);
      opt.step(params, grads);
    }
    m.final_train_loss = mse + r1_mean;
    m.train_losses.push_back(m.final_train_loss);
  }
  m.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Evaluation

template <class T>
taynode::SolveOptions<T> tolerance(double tol) {
  taynode::SolveOptions<T> o;
  o.rtol = o.atol = T(tol);
  return o;
}

template <class T, class B = taynode::backend::Cpu>
Evaluation evaluate(Model<T>& m, const Settings& s, const Mat<T>& grid) {
  using S = typename B::template Matrix<T>;
  const std::vector<T> span{T(0), T(1)};
  const auto tight = tolerance<T>(s.eval_tolerance);
  Evaluation e;
  const Index n = grid.rows();
  taynode::NetworkTaylor<T, B> ws(m.net, 3, n);
  ws.refresh_parameters();
  auto f = [&](T t, const S& z, S& dz) { ws.evaluate(t, z, dz); };
  const auto sol = taynode::solve(f, to_state<B>(grid), span, taynode::Dopri5{}, tight);
  e.nfe_joint = sol.stats.nfe;
  const Mat<T> z1 = to_host_matrix<B>(sol.final_state());
  double se = 0;
  for (Index i = 0; i < n; ++i) se += std::pow(double(z1(i, 0) - target(grid(i, 0))), 2);
  e.fit_rmse = std::sqrt(se / double(n));
  // Separate solves: the NFE one initial value needs on its own.
  taynode::NetworkTaylor<T, B> ws1(m.net, 3, 1);
  ws1.refresh_parameters();
  auto f1 = [&](T t, const S& z, S& dz) { ws1.evaluate(t, z, dz); };
  double nfe = 0;
  for (Index i = 0; i < n; ++i)
    nfe += double(taynode::solve(f1, to_state<B>(Mat<T>(grid.row(i))), span, taynode::Dopri5{}, tight).stats.nfe);
  e.nfe_per_point = nfe / double(n);
  // R_3 by an augmented solve (r in the error norm).
  if constexpr (taynode::backend::eigen_host<B>) {
    using A = taynode::Augmented<Mat<T>, Vec<T>>;
    auto fa = [&](T t, const A& y, A& dy) {
      dy.z.resize(n, 1);
      dy.r.resize(n);
      taynode::reg::taylor_integrand(ws, t, y.z, 3, dy.z, dy.r);
    };
    const auto aug = taynode::solve(fa, A{grid, Vec<T>::Zero(n)}, span, taynode::Dopri5{}, tight);
    e.r3 = double(aug.final_state().r.mean());
  } else {
    using A = taynode::Augmented<S, S>;  // r: n × 1 in B's memory
    auto fa = [&](T t, const A& y, A& dy) {
      dy.z.resize(n, 1);
      dy.r.resize(n, 1);
      taynode::reg::taylor_integrand(ws, t, y.z, 3, dy.z, dy.r);
    };
    S r0(n, 1);
    B::fill(r0.size(), T(0), r0.data());
    const auto aug = taynode::solve(fa, A{to_state<B>(grid), std::move(r0)}, span, taynode::Dopri5{}, tight);
    e.r3 = double(taynode::backend::to_host<B>(aug.final_state().r).mean());
  }
  return e;
}

// NFE of the joint Dopri5 solve of `grid` at each rtol = atol of `tolerances`.
template <class T, class B = taynode::backend::Cpu>
std::vector<std::size_t> nfe_by_tolerance(Model<T>& m, const Mat<T>& grid, const std::vector<double>& tolerances) {
  using S = typename B::template Matrix<T>;
  taynode::NetworkTaylor<T, B> ws(m.net, 0, grid.rows());
  ws.refresh_parameters();
  auto f = [&](T t, const S& z, S& dz) { ws.evaluate(t, z, dz); };
  const S z0 = to_state<B>(grid);
  std::vector<std::size_t> nfe;
  for (double tol : tolerances)
    nfe.push_back(taynode::solve(f, z0, std::vector<T>{T(0), T(1)}, taynode::Dopri5{}, tolerance<T>(tol)).stats.nfe);
  return nfe;
}

// Trajectories from `starts` at 101 times, with |d³z/dt³| at every point, as CSV rows.
template <class T, class B = taynode::backend::Cpu>
void write_trajectories(std::ostream& csv, Model<T>& m, const Settings& s, const Mat<T>& starts) {
  using S = typename B::template Matrix<T>;
  const Index n = starts.rows();
  taynode::NetworkTaylor<T, B> ws(m.net, 3, n);
  ws.refresh_parameters();
  auto f = [&](T t, const S& z, S& dz) { ws.evaluate(t, z, dz); };
  std::vector<T> times;
  for (int i = 0; i <= 100; ++i) times.push_back(T(i / 100.0));
  const auto sol = taynode::solve(f, to_state<B>(starts), times, taynode::Dopri5{}, tolerance<T>(s.eval_tolerance));
  Mat<T> d3(Index(times.size()), n);
  std::vector<Mat<T>> z(times.size());
  for (std::size_t k = 0; k < times.size(); ++k) {
    ws.ode_coefficients(times[k], sol.y[k], 3);
    const Mat<T> c3 = to_host_matrix<B>(ws.state().view(3));  // c_3 = z'''/3!
    d3.row(Index(k)) = 6 * c3.col(0).transpose().cwiseAbs();
    z[k] = to_host_matrix<B>(sol.y[k]);
  }
  for (Index i = 0; i < n; ++i)
    for (std::size_t k = 0; k < times.size(); ++k)
      csv << m.name << ',' << i << ',' << times[k] << ',' << z[k](i, 0) << ',' << d3(Index(k), i) << '\n';
}

// ---------------------------------------------------------------------------------------------
// The whole run: train both models, evaluate, print the tables, write the CSV files (and the PNG)

inline void check_written(const std::ofstream& f, const std::filesystem::path& p) {
  if (!f) throw std::runtime_error("cannot write '" + p.string() + "'");
}

template <class T, class B = taynode::backend::Cpu>
int run(const Settings& s) {
  const auto dir = std::filesystem::path(s.out);
  std::vector<Model<T>> models(2);
  models[0].name = "unregularized";
  models[1].name = "R" + std::to_string(s.order);
  models[1].lambda = s.lambda;
  models[1].order = s.order;
  const Index n_grid = 201;
  const Mat<T> grid = evaluation_grid<T>(n_grid);

  std::printf("Figure 1 toy: z(1) = z(0) + z(0)^3 on [-1, 1]; MLP 1+1 -> %d -> %d -> 1 (tanh, time columns)\n",
              s.hidden, s.hidden);
  std::printf("training: %d Adam iterations, batch %d, RK4 %d steps, backprop; evaluation: Dopri5 rtol = atol = %g\n",
              s.iterations, s.batch, s.grid_steps, s.eval_tolerance);
  if (s.device != "cpu" || s.precision != "double")
    std::printf("device %s (%s): the solves on it, the loss head and Adam on the host\n", s.device.c_str(),
                s.precision.c_str());
  std::printf("\n");
  for (auto& m : models) {
    m.net = make_dynamics<T>(s.hidden);
    train<T, B>(m, s);
    m.eval = evaluate<T, B>(m, s, grid);
  }
  std::printf("%-14s %9s %11s %10s %13s %11s %10s\n", "model", "lambda", "fit RMSE", "NFE joint", "NFE per point",
              "R_3", "train s");
  for (const auto& m : models)
    std::printf("%-14s %9.3g %11.3e %10zu %13.1f %11.4g %10.2f\n", m.name.c_str(), m.lambda, m.eval.fit_rmse,
                m.eval.nfe_joint, m.eval.nfe_per_point, m.eval.r3, m.train_seconds);
  const auto &u = models[0].eval, &r = models[1].eval;
  std::printf("\nregularized / unregularized: NFE joint %.2f, NFE per point %.2f, fit RMSE %.2f\n",
              double(r.nfe_joint) / double(u.nfe_joint), r.nfe_per_point / u.nfe_per_point, r.fit_rmse / u.fit_rmse);

  // How the NFE gap depends on the tolerance (joint solve of the grid).
  std::printf("\nNFE (joint solve of the %ld grid points) by Dopri5 tolerance rtol = atol:\n%-14s", long(n_grid), "model");
  const std::vector<double> tolerances{1e-4, 1e-6, 1e-8, 1e-10};
  for (double tol : tolerances) std::printf(" %8.0e", tol);
  std::printf("\n");
  for (auto& m : models) {
    std::printf("%-14s", m.name.c_str());
    for (std::size_t nfe : nfe_by_tolerance<T, B>(m, grid, tolerances)) std::printf(" %8zu", nfe);
    std::printf("\n");
  }

  {
    std::ofstream csv(dir / "toy_summary.csv");
    csv << "model,lambda,fit_rmse,nfe_joint,nfe_per_point,r3,train_seconds,iterations,grid_steps,eval_tol,seed\n";
    for (const auto& m : models)
      csv << m.name << ',' << m.lambda << ',' << m.eval.fit_rmse << ',' << m.eval.nfe_joint << ','
          << m.eval.nfe_per_point << ',' << m.eval.r3 << ',' << m.train_seconds << ',' << s.iterations << ','
          << s.grid_steps << ',' << s.eval_tolerance << ',' << s.seed << '\n';
    check_written(csv, dir / "toy_summary.csv");
  }
  {
    std::ofstream csv(dir / "toy_trajectories.csv");
    csv << "model,trajectory,t,z,abs_d3z\n";
    Mat<T> starts(21, 1);
    for (Index i = 0; i < 21; ++i) starts(i, 0) = T(-1 + 0.1 * double(i));
    for (auto& m : models) write_trajectories<T, B>(csv, m, s, starts);
    check_written(csv, dir / "toy_trajectories.csv");
  }
  std::printf("wrote %s and %s\n", (dir / "toy_summary.csv").c_str(), (dir / "toy_trajectories.csv").c_str());
#ifdef TAYNODE_TOY_PLOT_SCRIPT
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    const std::string cmd = "gnuplot -e \"dir='" + s.out + "'; reg='" + models[1].name + "'\" '" TAYNODE_TOY_PLOT_SCRIPT "'";
    if (std::system(cmd.c_str()) == 0)
      std::printf("wrote %s\n", (dir / "toy.png").c_str());
    else
      std::fprintf(stderr, "gnuplot failed; the CSV files are complete\n");
  } else {
    std::printf("gnuplot not found: no PNG (apt-get install gnuplot-nox)\n");
  }
#endif
  return 0;
}

// --device cuda (toy_cuda.cu; built with TAYNODE_EXAMPLES_CUDA): run<T, backend::Cuda>. Without it
// toy_without_cuda.cpp: built_with_cuda() is false (main.cpp then refuses --device cuda).
bool built_with_cuda();
int run_on_cuda(const Settings& s);

}  // namespace toy_example

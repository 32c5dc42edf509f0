// The paper's Figure 1: a neural ODE learns the 1-D map z(1) = z(0) + z(0)³ on [−1, 1], once
// unregularized and once with λ·R_3. Both are then solved with adaptive Dopri5 at a tight
// tolerance; the table compares fit error, NFE, R_3 and training time. Trajectories (coloured by
// |d³z/dt³|) and the summary go to CSV, and gnuplot (if installed) draws toy.png.
//
// Training: mean squared error of z(1) on 64 fresh uniform samples per iteration + λ·mean R_3,
// RK4 on a fixed grid, gradients by backprop through the grid (ad::solve_gradient), Adam.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "taynode/ad.hpp"
#include "taynode/nn.hpp"
#include "taynode/ode.hpp"
#include "taynode/reg/integrands.hpp"

using namespace taynode;
using Mat = nn::RowMatrix<double>;
using Vec = nn::Vector<double>;

namespace {

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
};

double target(double z0) { return z0 + z0 * z0 * z0; }

nn::Sequential<double> make_dynamics(int hidden) {
  nn::Sequential<double> net;
  net.layers.emplace_back(std::in_place_type<nn::ConcatLinear<double>>, 1, hidden);
  net.layers.emplace_back(std::in_place_type<nn::Tanh>);
  net.layers.emplace_back(std::in_place_type<nn::ConcatLinear<double>>, hidden, hidden);
  net.layers.emplace_back(std::in_place_type<nn::Tanh>);
  net.layers.emplace_back(std::in_place_type<nn::ConcatLinear<double>>, hidden, 1);
  return net;
}

struct Evaluation {
  double fit_rmse = 0;        // over the evaluation grid, Dopri5 at the tight tolerance
  std::size_t nfe_joint = 0;  // one solve of all grid points as one system
  double nfe_per_point = 0;   // mean over separate solves of each grid point
  double r3 = 0;              // mean R_3 over the grid (augmented Dopri5 solve)
};

struct Model {
  std::string name;
  double lambda = 0;
  int order = 0;  // K of R_K (0: unregularized)
  nn::Sequential<double> net;
  double train_seconds = 0;
  double final_train_loss = 0;
  Evaluation eval;
};

void train(Model& m, const Settings& s) {
  std::mt19937_64 rng(s.seed);
  nn::init_haiku(m.net, rng);
  NetworkTaylor<double> ws(m.net, 3, s.batch);
  ad::NetworkAdjoint<double> adj(ws);
  auto params = nn::parameter_refs(m.net);
  // η, η/10 from 50 %, η/100 from 80 % of the iterations: the last phases settle the fit.
  nn::Adam<double> opt(nn::piecewise_constant({std::int64_t(s.iterations / 2), std::int64_t(s.iterations * 4 / 5)},
                                              {s.learning_rate, s.learning_rate / 10, s.learning_rate / 100}));
  SolveOptions<double> grid;
  grid.fixed_steps = std::size_t(s.grid_steps);
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::mt19937_64 data_rng(s.seed + 1000);
  Mat z0(s.batch, 1), y(s.batch, 1);
  const int K = m.order;
  const double B = s.batch;
  const auto start = std::chrono::steady_clock::now();
  for (int it = 0; it < s.iterations; ++it) {
    for (int b = 0; b < s.batch; ++b) {
      z0(b, 0) = uniform(data_rng);
      y(b, 0) = target(z0(b, 0));
    }
    double mse = 0;
    auto loss = [&](const Mat& z1, const Vec&, Mat& z1_bar, Vec& r1_bar) {
      mse = (z1 - y).squaredNorm() / B;
      z1_bar = (2 / B) * (z1 - y);
      r1_bar.setConstant(1 / B);  // the weight λ sits in the integrand
    };
    auto g = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, ad::TaylorRegularizer<double>{K, m.lambda}, RK4{}, grid, ad::Backprop{}, loss);
    m.final_train_loss = mse + g.r1.mean();
    auto grads = nn::parameter_refs(g.theta_bar);
    opt.step(params, grads);
  }
  m.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

SolveOptions<double> tight(const Settings& s) {
  SolveOptions<double> o;
  o.rtol = o.atol = s.eval_tolerance;
  return o;
}

Evaluation evaluate(Model& m, const Settings& s, const Mat& grid) {
  Evaluation e;
  const Index n = grid.rows();
  NetworkTaylor<double> ws(m.net, 3, n);
  auto f = [&](double t, const Mat& z, Mat& dz) { ws.evaluate(t, z, dz); };
  const auto sol = solve(f, grid, std::vector<double>{0, 1}, Dopri5{}, tight(s));
  e.nfe_joint = sol.stats.nfe;
  double se = 0;
  for (Index i = 0; i < n; ++i) se += std::pow(sol.final_state()(i, 0) - target(grid(i, 0)), 2);
  e.fit_rmse = std::sqrt(se / double(n));
  // Separate solves: the NFE one initial value needs on its own.
  NetworkTaylor<double> ws1(m.net, 3, 1);
  auto f1 = [&](double t, const Mat& z, Mat& dz) { ws1.evaluate(t, z, dz); };
  double nfe = 0;
  for (Index i = 0; i < n; ++i) nfe += double(solve(f1, Mat(grid.row(i)), std::vector<double>{0, 1}, Dopri5{}, tight(s)).stats.nfe);
  e.nfe_per_point = nfe / double(n);
  // R_3 by an augmented solve.
  using A = Augmented<Mat, Vec>;
  auto fa = [&](double t, const A& y, A& dy) {
    dy.z.resize(n, 1);
    dy.r.resize(n);
    reg::taylor_integrand(ws, t, y.z, 3, dy.z, dy.r);
  };
  const auto aug = solve(fa, A{grid, Vec::Zero(n)}, std::vector<double>{0, 1}, Dopri5{}, tight(s));
  e.r3 = aug.final_state().r.mean();
  return e;
}

// Trajectories from `starts` at 101 times, with |d³z/dt³| at every point.
void write_trajectories(std::ofstream& csv, Model& m, const Settings& s, const Mat& starts) {
  const Index n = starts.rows();
  NetworkTaylor<double> ws(m.net, 3, n);
  auto f = [&](double t, const Mat& z, Mat& dz) { ws.evaluate(t, z, dz); };
  std::vector<double> times;
  for (int i = 0; i <= 100; ++i) times.push_back(i / 100.0);
  const auto sol = solve(f, starts, times, Dopri5{}, tight(s));
  Mat d3(Index(times.size()), n);
  for (std::size_t k = 0; k < times.size(); ++k) {
    ws.ode_coefficients(times[k], sol.y[k], 3);
    d3.row(Index(k)) = 6 * ws.state().matrix(3).col(0).transpose().cwiseAbs();  // c_3 = z'''/3!
  }
  for (Index i = 0; i < n; ++i)
    for (std::size_t k = 0; k < times.size(); ++k)
      csv << m.name << ',' << i << ',' << times[k] << ',' << sol.y[k](i, 0) << ',' << d3(Index(k), i) << '\n';
}

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

void check_written(const std::ofstream& f, const std::filesystem::path& p) {
  if (!f) throw std::runtime_error("cannot write '" + p.string() + "'");
}

}  // namespace

int main(int argc, char** argv) try {
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
  CLI11_PARSE(app, argc, argv);
  const auto dir = std::filesystem::path(s.out);
  prepare_output(dir);

  std::vector<Model> models(2);
  models[0].name = "unregularized";
  models[1].name = "R" + std::to_string(s.order);
  models[1].lambda = s.lambda;
  models[1].order = s.order;
  const Index n_grid = 201;
  Mat grid(n_grid, 1);
  for (Index i = 0; i < n_grid; ++i) grid(i, 0) = -1 + 2.0 * double(i) / double(n_grid - 1);

  std::printf("Figure 1 toy: z(1) = z(0) + z(0)^3 on [-1, 1]; MLP 1+1 -> %d -> %d -> 1 (tanh, time columns)\n",
              s.hidden, s.hidden);
  std::printf("training: %d Adam iterations, batch %d, RK4 %d steps, backprop; evaluation: Dopri5 rtol = atol = %g\n\n",
              s.iterations, s.batch, s.grid_steps, s.eval_tolerance);
  for (auto& m : models) {
    m.net = make_dynamics(s.hidden);
    train(m, s);
    m.eval = evaluate(m, s, grid);
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
    NetworkTaylor<double> ws(m.net, 0, n_grid);
    auto f = [&](double t, const Mat& z, Mat& dz) { ws.evaluate(t, z, dz); };
    for (double tol : tolerances) {
      SolveOptions<double> o;
      o.rtol = o.atol = tol;
      std::printf(" %8zu", solve(f, grid, std::vector<double>{0, 1}, Dopri5{}, o).stats.nfe);
    }
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
    Mat starts(21, 1);
    for (Index i = 0; i < 21; ++i) starts(i, 0) = -1 + 0.1 * double(i);
    for (auto& m : models) write_trajectories(csv, m, s, starts);
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
} catch (const std::exception& e) {
  std::fprintf(stderr, "toy: error: %s\n", e.what());
  return 1;
}

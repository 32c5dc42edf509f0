#pragma once
// The MNIST classification example (Kelly et al. 2020, §6.1; REFERENCE.md §1) as a small library,
// shared by main.cpp (the command line) and the end-to-end smoke test.
//
//   model     z0 = image/255 (784), dynamics σ(z) → [t, ·] → Linear(100) → σ → [t, ·] → Linear(784)
//             on t ∈ [0, 1], head σ(z1) → Linear(10), mean softmax cross-entropy (nn/classifier.hpp)
//   training  L = CE + λ·mean_b R_K (K = 2..6), or CE + mean_b ∫(λ_kin·kin + λ_fro·fro) (RNODE,
//             fresh Rademacher ε per iteration), or CE alone; the gradient by ad::solve_gradient
//             (backprop or adjoint, fixed grid or adaptive), SGD with momentum 0.9 and a step
//             schedule by epoch, seeded shuffles, atomic checkpoints of parameters + optimizer
//   evaluate  loss, error, mean NFE of the PLAIN dynamics solved by Dopri5 (rtol = atol = 1.4e-8 by
//             default, the reference's step-size rule) per batch of 1000 solved jointly, and R_2 and
//             RNODE's B (Jacobian Frobenius, Rademacher ε) and K (kinetic) from one forward solve of
//             the augmented state [z, r2, kin, fro] (r in the error norm, as the reference)

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <numeric>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include <taynode/ad/solve_gradient.hpp>
#include <taynode/data/mnist.hpp>
#include <taynode/nn.hpp>
#include <taynode/nn/classifier_on_backend.hpp>
#include <taynode/ode.hpp>
#include <taynode/reg/integrands.hpp>
#include <taynode/taylor/network_taylor.hpp>

#include "../common/host_head.hpp"
#include "../common/ranks.hpp"

namespace mnist_example {

namespace fs = std::filesystem;
using taynode::Index;
template <class T>
using Mat = taynode::nn::RowMatrix<T>;
template <class T>
using Vec = taynode::nn::Vector<T>;

using example_backend::HostHead;
using example_backend::OnBackend;
using example_ranks::ranks;

// Dopri5 at the evaluation tolerance from y0 (this rank's rows) with f(t, y, dy) on them: the
// final state and the NFE. Across ranks, one step-size sequence for the whole evaluation batch
// (across = false: y0 is a whole batch every rank holds, example_ranks::Part).
template <class T, class S, class F>
std::pair<S, std::size_t> eval_solve(F&& f, const S& y0, const taynode::SolveOptions<T>& options, bool across = true) {
  auto sol = ranks().solve(f, y0, std::vector<T>{T(0), T(1)}, taynode::Dopri5{}, options, across);
  return {std::move(sol.y.back()), sol.stats.nfe};
}

// ---------------------------------------------------------------------------------------------
// Settings (one struct, filled by the CLI or by a test; written with every result file)

struct Settings {
  // data
  std::string data_dir = "data/mnist";
  std::size_t subset = 0;       // first N training images (0: all 60000)
  std::size_t test_subset = 0;  // first N test images for evaluation (0: all 10000)
  // model / objective
  std::string reg = "none";  // none, r2..r6, rnode
  double lambda = 0;         // weight of R_K
  double lambda_kin = 0, lambda_fro = 0;  // RNODE's weights (rnode)
  // training solver
  std::string solver = "rk4";  // euler, midpoint, rk4, bosh3, dopri5, tsit5
  std::size_t steps = 2;       // fixed grid (0: adaptive; required for euler/midpoint/rk4)
  double rtol = 1.4e-8, atol = 1.4e-8;
  std::string gradient = "backprop";  // backprop, adjoint
  std::string forward = "plain";      // plain (the reference's aux trick), augmented
  // optimisation
  int epochs = 160;
  std::size_t batch = 100;
  std::vector<double> lr_values{0.1, 0.01, 1e-3, 1e-4};
  std::vector<std::int64_t> lr_epochs{60, 100, 140};
  double momentum = 0.9;
  std::int64_t max_iterations = 0;  // stop after this many iterations in total (0: no limit)
  // numerics / run
  std::string precision = "double";
  // cpu (backend::Cpu) or cuda (backend::Cuda: the dynamics' solves, Taylor passes and VJPs on the
  // GPU; the 10-way head, its loss and SGD on the host; one process)
  std::string device = "cpu";
  // With cuda, a fixed grid and backprop: the whole iteration on the device (the head by
  // nn::ClassifierLossOnBackend, SGD on the device's parameters), captured once as a graph and
  // replayed; the host reads three numbers per iteration (Trainer, "resident iterations").
  bool graph = false;
  std::uint64_t seed = 0;
  int threads = 1;
  double collective_timeout = 600;  // seconds a rank waits in one collective under mpirun (0: no limit)
  // Under mpirun, an adaptive training solve: "joint" (one step-size sequence across the ranks,
  // the single-process steps; one small allreduce per step attempt) or "own" (each rank its own).
  std::string rank_steps = "joint";
  // output
  std::string out_dir = "out/mnist";
  std::string label;  // name of the run in plots (default: reg and λ)
  int log_every = 50;
  int monitor_every = 0;           // Dopri5 NFE on a fixed training batch every N iterations (0: once per epoch)
  std::size_t monitor_batch = 100;
  bool progress = true;
  // checkpoints
  std::string checkpoint;  // path (default <out>/checkpoint.bin); "none" disables
  int checkpoint_every = 0;  // iterations (0: at the end of every epoch)
  std::string resume;        // checkpoint to resume from
  // evaluation
  std::string eval = "test";  // test, train, both, none
  std::size_t eval_batch = 1000;
  double eval_tol = 1.4e-8;
  std::string eval_control = "jax";  // jax (the reference's dopri5), hairer
  bool eval_reg_metrics = true;      // R_2, B, K by the augmented solve
  bool plot = true;                  // run scripts/plot at the end (if gnuplot is there)

  int K() const {
    if (reg == "none" || reg == "rnode") return 0;
    if (reg.size() == 2 && reg[0] == 'r' && reg[1] >= '2' && reg[1] <= '6') return reg[1] - '0';
    throw std::invalid_argument("--reg must be one of none, r2, r3, r4, r5, r6, rnode (got '" + reg + "')");
  }
  bool adaptive() const { return steps == 0; }
  // The factor of the batch mean of r(1) in the loss. The weights sit inside the integrands
  // (ad::TaylorRegularizer{K, λ}, ad::RnodeRegularizer{ε, λ_kin, λ_fro}; docs/ad.md), so it is 1,
  // except for R_K with λ = 0: then r is R_K itself (weight 1, logged as a diagnostic) and the
  // loss does not include it.
  double reg_weight() const { return reg != "rnode" && lambda == 0 ? 0.0 : 1.0; }
  // λ of the R_K integrand (1 when λ = 0: see reg_weight).
  double taylor_weight() const { return lambda == 0 ? 1.0 : lambda; }
  std::string run_label() const {
    if (!label.empty()) return label;
    if (reg == "none") return "none";
    std::ostringstream s;
    if (reg == "rnode")
      s << "rnode kin=" << lambda_kin << " fro=" << lambda_fro;
    else
      s << reg << " lambda=" << lambda;
    return s.str();
  }

  // Throws std::invalid_argument naming the first bad option.
  void validate() const {
    (void)K();
    if (reg == "rnode" && !(lambda_kin > 0 || lambda_fro > 0))
      throw std::invalid_argument("--reg rnode needs --lam-kin > 0 and/or --lam-fro > 0");
    if (reg != "rnode" && (lambda_kin != 0 || lambda_fro != 0))
      throw std::invalid_argument("--lam-kin/--lam-fro apply to --reg rnode only");
    auto finite_non_negative = [](double v) { return std::isfinite(v) && v >= 0; };
    if (!finite_non_negative(lambda) || !finite_non_negative(lambda_kin) || !finite_non_negative(lambda_fro))
      throw std::invalid_argument("--lam, --lam-kin and --lam-fro must be finite and >= 0");
    if (reg == "none" && lambda != 0) throw std::invalid_argument("--lam > 0 needs a regularizer (--reg r2..r6)");
    static const char* solvers[] = {"euler", "midpoint", "rk4", "bosh3", "dopri5", "tsit5"};
    if (std::find(std::begin(solvers), std::end(solvers), solver) == std::end(solvers))
      throw std::invalid_argument("--solver must be one of euler, midpoint, rk4, bosh3, dopri5, tsit5 (got '" + solver + "')");
    if (steps == 0 && (solver == "euler" || solver == "midpoint" || solver == "rk4"))
      throw std::invalid_argument("--solver " + solver + " has no error estimate: give --steps N (N >= 1)");
    if (steps == 0 && !(rtol > 0 && atol > 0 && std::isfinite(rtol) && std::isfinite(atol)))
      throw std::invalid_argument("--rtol and --atol must be finite and > 0");
    if (gradient != "backprop" && gradient != "adjoint")
      throw std::invalid_argument("--gradient must be backprop or adjoint (got '" + gradient + "')");
    if (forward != "plain" && forward != "augmented")
      throw std::invalid_argument("--forward must be plain or augmented (got '" + forward + "')");
    if (epochs < 0) throw std::invalid_argument("--epochs must be >= 0");
    if (batch < 1) throw std::invalid_argument("--batch must be >= 1");
    if (batch < std::size_t(ranks().size()) || eval_batch < std::size_t(ranks().size()) ||
        monitor_batch < std::size_t(ranks().size()))
      throw std::invalid_argument("--batch, --eval-batch and --monitor-batch need at least one row per rank (" +
                                  std::to_string(ranks().size()) + " ranks)");
    if (subset > 0 && batch > subset)
      throw std::invalid_argument("--batch " + std::to_string(batch) + " exceeds --subset " + std::to_string(subset));
    if (lr_values.size() != lr_epochs.size() + 1)
      throw std::invalid_argument("--lr-values needs exactly one more entry than --lr-epochs (" +
                                  std::to_string(lr_values.size()) + " values, " + std::to_string(lr_epochs.size()) +
                                  " boundaries; one value alone without --lr-epochs is a constant rate)");
    for (double lr : lr_values)
      if (!(std::isfinite(lr) && lr > 0))
        throw std::invalid_argument("--lr-values must be finite and > 0 (got " + std::to_string(lr) + ")");
    for (std::size_t i = 0; i < lr_epochs.size(); ++i)
      if (lr_epochs[i] < 0 || (i > 0 && lr_epochs[i] <= lr_epochs[i - 1]))
        throw std::invalid_argument("--lr-epochs must be increasing epochs >= 0");
    if (!(momentum >= 0 && momentum < 1)) throw std::invalid_argument("--momentum must be in [0, 1)");
    if (max_iterations < 0) throw std::invalid_argument("--max-iterations must be >= 0 (0: no limit)");
    if (checkpoint_every < 0) throw std::invalid_argument("--checkpoint-every must be >= 0 (0: every epoch)");
    if (precision != "float" && precision != "double")
      throw std::invalid_argument("--precision must be float or double (got '" + precision + "')");
    if (threads < 1) throw std::invalid_argument("--threads must be >= 1");
    if (device != "cpu" && device != "cuda")
      throw std::invalid_argument("--device must be cpu or cuda (got '" + device + "')");
    if (device == "cuda" && ranks().size() > 1)
      throw std::invalid_argument("--device cuda trains in one process (" + std::to_string(ranks().size()) +
                                  " MPI ranks started); data-parallel training runs with --device cpu");
    if (graph && (device != "cuda" || adaptive() || gradient != "backprop" || reg == "rnode"))
      throw std::invalid_argument(
          "--graph needs --device cuda, a fixed grid (--steps N), --gradient backprop and --reg none or r2..r6");
    example_ranks::check_rank_options(rank_steps, collective_timeout);
    if (log_every < 1) throw std::invalid_argument("--log-every must be >= 1");
    if (monitor_every < 0) throw std::invalid_argument("--monitor-every must be >= 0");
    if (eval != "test" && eval != "train" && eval != "both" && eval != "none")
      throw std::invalid_argument("--eval must be test, train, both or none (got '" + eval + "')");
    if (eval_batch < 1) throw std::invalid_argument("--eval-batch must be >= 1");
    if (!(eval_tol > 0 && std::isfinite(eval_tol))) throw std::invalid_argument("--eval-tol must be finite and > 0");
    if (eval_control != "jax" && eval_control != "hairer")
      throw std::invalid_argument("--eval-control must be jax or hairer (got '" + eval_control + "')");
  }

  std::string checkpoint_path() const {
    if (checkpoint == "none") return {};
    return checkpoint.empty() ? (fs::path(out_dir) / "checkpoint.bin").string() : checkpoint;
  }
};

// ---------------------------------------------------------------------------------------------
// Small output helpers

inline std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}
inline std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}
template <class V>
std::string join(const std::vector<V>& v, const char* sep = ",") {
  std::ostringstream s;
  for (std::size_t i = 0; i < v.size(); ++i) s << (i ? sep : "") << v[i];
  return s.str();
}

// The settings as one JSON object.
inline std::string settings_json(const Settings& s) {
  std::ostringstream o;
  o << "{\"data_dir\": \"" << json_escape(s.data_dir) << "\", \"subset\": " << s.subset
    << ", \"test_subset\": " << s.test_subset << ", \"reg\": \"" << s.reg << "\", \"lambda\": " << num(s.lambda)
    << ", \"lambda_kin\": " << num(s.lambda_kin) << ", \"lambda_fro\": " << num(s.lambda_fro) << ", \"solver\": \""
    << s.solver << "\", \"steps\": " << s.steps << ", \"rtol\": " << num(s.rtol) << ", \"atol\": " << num(s.atol)
    << ", \"gradient\": \"" << s.gradient << "\", \"forward\": \"" << s.forward << "\", \"epochs\": " << s.epochs
    << ", \"batch\": " << s.batch << ", \"lr_values\": [" << join(s.lr_values, ", ") << "], \"lr_epochs\": ["
    << join(s.lr_epochs, ", ") << "], \"momentum\": " << num(s.momentum)
    << ", \"max_iterations\": " << s.max_iterations << ", \"precision\": \"" << s.precision
    << "\", \"device\": \"" << s.device << "\", \"graph\": " << (s.graph ? "true" : "false") << ", \"seed\": " << s.seed << ", \"threads\": " << s.threads
    << ", \"collective_timeout\": " << num(s.collective_timeout) << ", \"rank_steps\": \"" << s.rank_steps << "\"" << ", \"eval\": \"" << s.eval
    << "\", \"eval_batch\": " << s.eval_batch << ", \"eval_tol\": " << num(s.eval_tol) << ", \"eval_control\": \""
    << s.eval_control << "\", \"label\": \"" << json_escape(s.run_label()) << "\"}";
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// Data

template <class T>
struct Dataset {
  Mat<T> x;            // N × 784, pixels / 255
  std::vector<int> y;  // N labels
  std::size_t size() const { return y.size(); }
};

// The first `limit` images (0: all) of an IDX image/label file pair.
template <class T>
Dataset<T> load_images(const fs::path& images, const fs::path& labels, std::size_t limit = 0) {
  for (const auto& p : {images, labels})
    if (!fs::exists(p))
      throw std::runtime_error("MNIST file '" + p.string() +
                               "' not found (fetch the data set with: scripts/fetch-data mnist, or pass --data DIR)");
  const auto set = taynode::load_mnist(images.string(), labels.string());
  if (limit > set.size())
    throw std::invalid_argument("asked for " + std::to_string(limit) + " images, but '" + images.string() + "' holds " +
                                std::to_string(set.size()));
  const std::size_t n = limit ? limit : set.size();
  const Mat<T> all = set.images.scaled<T>();
  Dataset<T> d;
  d.x = all.topRows(Index(n));
  d.y.assign(set.labels.begin(), set.labels.begin() + std::ptrdiff_t(n));
  return d;
}
template <class T>
Dataset<T> load_split(const fs::path& dir, bool train, std::size_t limit = 0) {
  const std::string p = train ? "train" : "t10k";
  return load_images<T>(dir / (p + "-images-idx3-ubyte"), dir / (p + "-labels-idx1-ubyte"), limit);
}

// Rows `idx[begin, begin + n)` of d.
template <class T>
void gather(const Dataset<T>& d, const std::vector<std::size_t>& idx, std::size_t begin, std::size_t n, Mat<T>& x,
            std::vector<int>& y) {
  x.resize(Index(n), d.x.cols());
  y.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    x.row(Index(i)) = d.x.row(Index(idx[begin + i]));
    y[i] = d.y[idx[begin + i]];
  }
}

// The permutation of epoch e (a function of the seed and e only, so a resumed run sees the same).
inline std::vector<std::size_t> epoch_permutation(std::size_t n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::size_t> p(n);
  std::iota(p.begin(), p.end(), std::size_t(0));
  std::seed_seq seq{std::uint32_t(seed), std::uint32_t(seed >> 32), std::uint32_t(epoch), 0x6d6e6973u};
  std::mt19937_64 rng(seq);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Model

template <class T>
struct Model {
  taynode::nn::Sequential<T> dynamics = taynode::nn::mnist_dynamics<T>(784, 100);
  taynode::nn::Linear<T> head{784, 10};

  explicit Model(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    taynode::nn::init_haiku(dynamics, rng);
    head = taynode::nn::make_classifier_head<T>(784, 10, rng);
  }
  // Workspaces keep pointers into the parameters: a model does not move.
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Every tensor, dynamics ("layers.<i>.…") then head ("head.…"): for the optimizer and checkpoints.
  taynode::nn::ParameterRefs<T> refs() {
    auto r = taynode::nn::parameter_refs(dynamics);
    taynode::nn::add_head_parameters(r, head);
    return r;
  }
  std::size_t parameter_count() const { return dynamics.parameter_count() + std::size_t(head.weight.size() + head.bias.size()); }
};

// ---------------------------------------------------------------------------------------------
// Solvers chosen at run time

using AnyMethod = std::variant<taynode::Euler, taynode::Midpoint, taynode::RK4, taynode::BogackiShampine,
                               taynode::Dopri5, taynode::Tsit5>;
inline AnyMethod method_from_name(const std::string& s) {
  if (s == "euler") return taynode::Euler{};
  if (s == "midpoint") return taynode::Midpoint{};
  if (s == "rk4") return taynode::RK4{};
  if (s == "bosh3") return taynode::BogackiShampine{};
  if (s == "dopri5") return taynode::Dopri5{};
  if (s == "tsit5") return taynode::Tsit5{};
  throw std::invalid_argument("unknown solver '" + s + "'");
}

template <class T>
taynode::SolveOptions<T> training_options(const Settings& s) {
  taynode::SolveOptions<T> o;
  o.fixed_steps = s.steps;
  o.rtol = T(s.rtol);
  o.atol = T(s.atol);
  o.shards = example_ranks::training_shards(s.adaptive(), s.rank_steps);
  return o;
}

inline taynode::nn::Schedule make_schedule(const Settings& s, std::int64_t its_per_epoch) {
  return taynode::nn::epoch_piecewise_constant(its_per_epoch, s.lr_epochs, s.lr_values);
}

// ---------------------------------------------------------------------------------------------
// One training iteration

struct IterationResult {
  double loss = 0;   // mean cross-entropy
  double reg = 0;    // mean R_K of the batch (0 if K = 0 or the forward pass is plain)
  double total = 0;  // loss + λ·reg
  std::size_t correct = 0, batch = 0;
  std::size_t nfe_forward = 0, nfe_backward = 0;
  double seconds = 0;
};

// Whether B can capture and replay its calls (backend::Cuda and its emulation).
template <class B>
concept GraphBackend = requires { typename B::Graph; };

// --graph: the iteration with everything in B's memory — the dynamics' parameters (the workspace's
// copies), the head (nn::ClassifierLossOnBackend), their gradients, SGD's velocities, the batch —
// captured once as a graph and replayed. A graph freezes the learning rate it was captured with,
// so a new rate (the schedule's next epoch) runs one iteration directly and captures again.
template <class T, class B>
struct ResidentIteration {
  taynode::nn::ClassifierLossOnBackend<T, B> head;
  taynode::nn::ParameterViews<T, B> params, grads;  // dynamics then head, the names of Model::refs
  taynode::nn::SgdMomentum<T, B> opt;
  typename B::template Matrix<T> x;
  std::optional<typename B::Graph> graph;
  double graph_lr = 0;
  std::size_t nfe_forward = 0, nfe_backward = 0;  // of the fixed grid: the same every iteration
  bool host_stale = false;                          // the host's parameters lag B's
};

// The training iteration on backend B (backend::Cpu, or backend::Cuda for --device cuda): the
// dynamics' workspace, its adjoint and the solves on B; the head, its loss, the gradients' sum over
// ranks and SGD on the host, whose network is the one copy of record (B's copy of the parameters is
// refreshed before every solve). With --graph (device backends) B's copies are the record instead
// and sync_host() brings the host's network and optimizer up to date (before a checkpoint, a
// monitor solve, the evaluation).
template <class T, class B = taynode::backend::Cpu>
class Trainer {
 public:
  Trainer(Model<T>& model, const Settings& s, std::int64_t its_per_epoch)
      : model_(model),
        s_(s),
        K_(s.K()),
        ws_(model.dynamics, std::max(K_, 1), Index(ranks().shard(s.batch).second)),
        adj_(ws_),
        refs_(model.refs()),
        opt_(make_schedule(s, its_per_epoch), s.momentum),
        method_(method_from_name(s.solver)),
        options_(training_options<T>(s)) {
    const auto forward = s.forward == "augmented" ? taynode::ad::ForwardPass::augmented : taynode::ad::ForwardPass::plain;
    if (s.gradient == "adjoint")
      g_ = taynode::ad::Adjoint{forward};
    else
      g_ = taynode::ad::Backprop{forward};
    rnode_ = s.reg == "rnode";
  }

  // One iteration on the global batch (x, y): this rank's rows, gradients summed over ranks.
  IterationResult step(const Mat<T>& x_global, std::span<const int> y_global) {
    if constexpr (GraphBackend<B>)
      if (s_.graph) return resident_step(x_global, y_global);
    const auto start = std::chrono::steady_clock::now();
    IterationResult r;
    r.batch = y_global.size();
    const auto [first, count] = ranks().shard(x_global.rows());
    if (ranks().size() > 1) rows_ = x_global.middleRows(Index(first), Index(count));
    const Mat<T>& x_host = ranks().size() > 1 ? rows_ : x_global;
    const std::span<const int> y = y_global.subspan(first, count);
    // The gradient of the GLOBAL batch's means: this rank's rows weigh count/global.
    const bool with_r = K_ > 0 || rnode_;
    taynode::nn::ClassifierLoss<T> cot{model_.head, y, Index(y_global.size()), with_r ? s_.reg_weight() : 0.0};
    ws_.refresh_parameters();  // the host network may have changed (an update, a resume, a broadcast)
    const auto& x = x_(x_host);
    auto solve = [&](auto& cotangents) {
      return std::visit(
          [&](auto m, const auto& g) {
            if (!rnode_) {
              const taynode::ad::TaylorRegularizer<T> rk{K_, T(s_.taylor_weight())};
              return taynode::ad::solve_gradient(ws_, adj_, x, T(0), T(1), rk, m, options_, g, cotangents);
            }
            // RNODE: fresh Rademacher ε per iteration, a function of (seed, iteration) so that a
            // resumed run draws the same (as the reference, which splits its key every iteration).
            std::seed_seq seq{std::uint32_t(s_.seed), std::uint32_t(s_.seed >> 32), std::uint32_t(iteration()),
                              0x726e6f64u};
            std::mt19937_64 rng(seq);
            // Drawn for the global batch, then this rank's rows: the noise of one process.
            eps_ = taynode::reg::rademacher_noise<T>(rng, x_global.rows(), x_global.cols());
            if (ranks().size() > 1) eps_ = eps_.middleRows(Index(first), Index(count)).eval();
            const taynode::ad::RnodeRegularizer<T, B> rnode{&eps_on_(eps_), T(s_.lambda_kin), T(s_.lambda_fro)};
            return taynode::ad::solve_gradient(ws_, adj_, x, T(0), T(1), rnode, m, options_, g, cotangents);
          },
          method_, g_);
    };
    auto sg = [&] {
      if constexpr (taynode::backend::eigen_host<B>) {
        return solve(cot);
      } else {
        HostHead<T, B, taynode::nn::ClassifierLoss<T>> head(cot);
        example_backend::Cotangents<B, T> cotangents = std::ref(head);
        return solve(cotangents);
      }
    }();
    auto grads = taynode::nn::ParameterSet<T>::from_network(sg.theta_bar);
    taynode::nn::add_head_gradient(grads, cot.grad);
    ranks().sum(grads);  // one allreduce of every gradient tensor
    double parts[3] = {cot.loss, with_r ? cot.reg : 0.0, double(cot.correct)};
    ranks().sum(parts, 3);
    r.loss = parts[0];
    r.reg = parts[1];
    r.correct = std::size_t(parts[2]);
    opt_.step(refs_, grads);
    // A diverged update stops the run here, before anything can save its parameters (the loss of
    // this iteration was computed before the update and may still be finite).
    if (const auto where = taynode::nn::first_non_finite(refs_); !where.empty())
      throw std::runtime_error("the update of iteration " + std::to_string(iteration()) +
                               " made the parameters non-finite (" + where + ", loss before it " +
                               std::to_string(r.loss) + "); the last checkpoint is kept");
    r.total = r.loss + s_.reg_weight() * r.reg;
    // With --rank-steps own each rank picks its steps from its rows: the slowest rank's NFE.
    r.nfe_forward = ranks().maximum(sg.nfe_forward);
    r.nfe_backward = ranks().maximum(sg.nfe_backward);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  taynode::nn::SgdMomentum<T>& optimizer() { return opt_; }
  taynode::nn::ParameterRefs<T>& parameters() { return refs_; }
  std::int64_t iteration() const { return opt_.state().step; }
  double learning_rate() const { return opt_.learning_rate(); }

  // --graph: the operations of the captured iteration (0 before the first iteration, or without --graph).
  std::size_t graph_operations() const {
    if constexpr (GraphBackend<B>)
      return resident_ && resident_->graph ? resident_->graph->operations() : 0;
    else
      return 0;
  }
  // --graph: the host's network and optimizer state take B's (a no-op otherwise, and when nothing
  // changed since the last call). Throws if an update made a parameter non-finite.
  void sync_host() {
    if constexpr (GraphBackend<B>) {
      if (!resident_ || !resident_->host_stale) return;
      auto& R = *resident_;
      copy_by_name(R.params.download(), refs_);
      taynode::nn::ParameterSet<T> velocity = R.opt.state().slots.at(0).download();
      opt_.state().slots.assign(1, std::move(velocity));
      R.host_stale = false;
      if (const auto where = taynode::nn::first_non_finite(refs_); !where.empty())
        throw std::runtime_error("the parameters are non-finite after iteration " + std::to_string(iteration()) +
                                 " (" + where + "); the last checkpoint is kept");
    }
  }

 private:
  template <class Set>
  static void copy_by_name(const Set& from, taynode::nn::ParameterRefs<T>& to) {
    for (std::size_t i = 0; i < to.size(); ++i) {
      const std::size_t j = from.find(to.name(i));
      if (j == Set::npos) throw std::logic_error("mnist: no device copy of parameter " + to.name(i));
      to.value(i) = from.value(j);
    }
  }

  // The --graph iteration (ResidentIteration): the batch and labels uploaded, the captured
  // iteration replayed, three totals downloaded.
  IterationResult resident_step(const Mat<T>& x, std::span<const int> y) {
    const auto start = std::chrono::steady_clock::now();
    auto& R = resident();
    B::upload(x.size(), x.data(), R.x.data());
    R.head.set_labels(y);
    const double lr = opt_.learning_rate();
    if (R.graph && R.graph_lr == lr) {
      R.graph->replay();
    } else {
      R.graph.reset();
      auto state = std::move(R.opt.state());
      R.opt = taynode::nn::SgdMomentum<T, B>(taynode::nn::constant(lr), s_.momentum);
      R.opt.state() = std::move(state);
      auto iterate = [&] {
        const taynode::ad::TaylorRegularizer<T> rk{K_, T(s_.taylor_weight())};
        taynode::ad::Backprop g = std::get<taynode::ad::Backprop>(g_);
        g.theta_bar_to_host = false;
        // The same solve_gradient instantiations as step()'s (one cotangent type): compile time.
        example_backend::Cotangents<B, T> cotangents = std::ref(R.head);
        const auto& x = R.x;
        const auto sg = std::visit(
            [&](auto m) { return taynode::ad::solve_gradient(ws_, adj_, x, T(0), T(1), rk, m, options_, g, cotangents); },
            method_);
        R.opt.step(R.params, R.grads);
        R.nfe_forward = sg.nfe_forward;
        R.nfe_backward = sg.nfe_backward;
      };
      iterate();  // directly: the pool's blocks are warm before the capture
      R.graph.emplace(iterate);
      R.graph_lr = lr;
    }
    const auto totals = R.head.totals();  // waits for the iteration
    R.host_stale = true;
    ++opt_.state().step;
    IterationResult r;
    r.batch = y.size();
    r.loss = totals.loss;
    r.reg = K_ > 0 ? totals.reg : 0.0;
    r.correct = totals.correct;
    r.total = r.loss + s_.reg_weight() * r.reg;
    r.nfe_forward = R.nfe_forward;
    r.nfe_backward = R.nfe_backward;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  // Made on the first --graph iteration, from the host's network and optimizer state (a resume's).
  ResidentIteration<T, B>& resident()
    requires GraphBackend<B>
  {
    if (!resident_) {
      ws_.refresh_parameters();
      const Index rows = Index(s_.batch);
      auto params = ws_.backend_parameters();
      auto grads = adj_.backend_gradient();
      resident_.reset(new ResidentIteration<T, B>{
          taynode::nn::ClassifierLossOnBackend<T, B>(model_.head, rows, rows, K_ > 0 ? s_.reg_weight() : 0.0),
          {}, {}, taynode::nn::SgdMomentum<T, B>(taynode::nn::constant(opt_.learning_rate()), s_.momentum),
          typename B::template Matrix<T>(rows, model_.head.in()), std::nullopt, 0.0, 0, 0, false});
      auto& R = *resident_;
      auto append = [](auto& to, auto& from) {
        for (std::size_t i = 0; i < from.size(); ++i)
          to.add(from.name(i), from.value(i).data(), from.value(i).rows(), from.value(i).cols());
      };
      append(R.params, params);
      append(R.grads, grads);
      auto head_params = R.head.parameters();
      auto head_grads = R.head.gradient();
      append(R.params, head_params);
      append(R.grads, head_grads);
      using Slots = taynode::nn::ParameterBuffers<T, B>;
      R.opt.state().step = opt_.state().step;
      if (opt_.state().slots.empty()) {
        R.opt.state().slots.assign(1, Slots::zeros_like(R.params));
      } else {  // a resume: the checkpoint's velocities (the host's slots are in R.params' order,
                // dynamics then head as Model::refs; SGD's first step refuses any other)
        R.opt.state().slots.assign(1, Slots::upload(opt_.state().slots.at(0)));
      }
    }
    return *resident_;
  }

  Model<T>& model_;
  const Settings& s_;
  int K_;
  taynode::NetworkTaylor<T, B> ws_;
  taynode::ad::NetworkAdjoint<T, B> adj_;
  taynode::nn::ParameterRefs<T> refs_;
  taynode::nn::SgdMomentum<T> opt_;
  AnyMethod method_;
  taynode::SolveOptions<T> options_;
  std::variant<taynode::ad::Backprop, taynode::ad::Adjoint> g_;  // --gradient, --forward
  bool rnode_ = false;
  Mat<T> eps_;
  Mat<T> rows_;  // this rank's rows of the batch (several ranks)
  OnBackend<B, T> x_, eps_on_;
  std::conditional_t<GraphBackend<B>, std::unique_ptr<ResidentIteration<T, B>>, char> resident_{};
};

// ---------------------------------------------------------------------------------------------
// Evaluation

struct EvalResult {
  std::string split;
  std::size_t examples = 0;
  double loss = 0, error = 0;  // mean CE, error rate (fraction)
  double nfe = 0;              // mean NFE per batch of the plain solve
  double r2 = NAN, kinetic = NAN, frobenius = NAN;  // means over examples (RNODE's K and B)
  double seconds = 0;
};

template <class T>
taynode::SolveOptions<T> eval_options(const Settings& s) {
  taynode::SolveOptions<T> o;
  o.rtol = T(s.eval_tol);
  o.atol = T(s.eval_tol);
  o.step_control = s.eval_control == "jax" ? taynode::StepControl::jax : taynode::StepControl::hairer;
  return o;
}

// NFE of the plain dynamics, Dopri5 at the evaluation tolerance, on the batch x; z1 → out.
// x: this rank's rows (several ranks: the solve spans all ranks' rows, eval_solve). On a device
// backend the solve runs there from a copy of x, and z1 comes back to the host.
template <class T, class B>
std::size_t plain_solve(taynode::NetworkTaylor<T, B>& ws, const Mat<T>& x, const Settings& s, Mat<T>& out,
                        bool across = true) {
  ws.refresh_parameters();  // B's copy of the parameters takes the host network's (backend::Cpu: nothing)
  using S = typename B::template Matrix<T>;
  auto rhs = [&](T t, const S& z, S& dz) { ws.evaluate(t, z, dz); };
  OnBackend<B, T> on_backend;
  auto [z1, nfe] = eval_solve<T>(rhs, on_backend(x), eval_options<T>(s), across);
  if constexpr (taynode::backend::eigen_host<B>)
    out = std::move(z1);
  else
    out = taynode::backend::to_host<B>(z1);
  return nfe;
}

// R_2, kinetic and Jacobian-Frobenius integrals of the batch x (this rank's rows; eps: the
// Hutchinson noise of those rows) by one forward solve of [z, (r2, kin, fro)] with Dopri5 at the
// evaluation tolerance: one Taylor pass of order 2 (f and z'') and one JVP (J ε) per evaluation.
// Returns the three sums over the rows.
template <class T, class B>
std::array<double, 3> regularizer_integrals(taynode::NetworkTaylor<T, B>& ws, const Mat<T>& x, const Mat<T>& eps,
                                            const Settings& s, bool across) {
  const Index n = x.rows(), D = x.cols();
  std::array<double, 3> sums{};
  if constexpr (taynode::backend::eigen_host<B>) {
    using A = taynode::Augmented<Mat<T>, Mat<T>>;
    Vec<T> r = Vec<T>::Zero(n);
    auto rhs = [&](T t, const A& st, A& d) {
      d.z.resize(st.z.rows(), st.z.cols());
      d.r.resize(st.r.rows(), 3);
      taynode::reg::taylor_integrand(ws, t, st.z, 2, d.z, r);
      d.r.col(0) = r;
      d.r.col(1) = taynode::reg::mean_squares(d.z);
      d.r.col(2) = taynode::reg::mean_squares(ws.jvp(t, st.z, eps));
    };
    const auto [yn, nfe] = eval_solve<T>(rhs, A{x, Mat<T>::Zero(n, 3), true}, eval_options<T>(s), across);
    (void)nfe;
    for (int j = 0; j < 3; ++j) sums[std::size_t(j)] = double(yn.r.col(j).sum());
  } else {
    // r in B's memory as 3 × n (each integral's rows contiguous, as the backend's outputs are).
    using S = typename B::template Matrix<T>;
    using A = taynode::Augmented<S, S>;
    using View = taynode::backend::MatrixView<T>;
    const S eps_d = taynode::backend::to_backend<B>(eps);
    auto rhs = [&](T t, const A& st, A& d) {
      d.z.resize(n, D);
      d.r.resize(3, n);
      taynode::reg::taylor_integrand(ws, t, st.z, 2, d.z, View(d.r.data(), n, 1));
      taynode::reg::row_mean_squares<B>(n, D, d.z.data(), d.r.data() + n);
      const auto jv = ws.jvp(t, st.z, eps_d);
      taynode::reg::row_mean_squares<B>(n, D, jv.data(), d.r.data() + 2 * n);
    };
    S r0(3, n);
    B::fill(r0.size(), T(0), r0.data());
    const auto [yn, nfe] = eval_solve<T>(rhs, A{taynode::backend::to_backend<B>(x), std::move(r0), true},
                                         eval_options<T>(s), across);
    (void)nfe;
    const Mat<T> r = taynode::backend::to_host<B>(yn.r);
    for (int j = 0; j < 3; ++j) sums[std::size_t(j)] = double(r.row(j).sum());
  }
  return sums;
}

template <class T, class B = taynode::backend::Cpu>
EvalResult evaluate(Model<T>& model, const Dataset<T>& data, const Settings& s, const std::string& split) {
  const auto start = std::chrono::steady_clock::now();
  EvalResult e;
  e.split = split;
  e.examples = data.size();
  if (data.size() == 0) throw std::invalid_argument("evaluate: empty data set");
  std::unique_ptr<taynode::NetworkTaylor<T, B>> ws;
  std::mt19937_64 rng(s.seed ^ 0x9e3779b97f4a7c15ull);
  double loss = 0, r2 = 0, kin = 0, fro = 0;
  std::size_t correct = 0, batches = 0, nfe = 0;
  Mat<T> x, z1;
  std::vector<int> y;
  std::vector<std::size_t> idx(data.size());
  std::iota(idx.begin(), idx.end(), std::size_t(0));
  for (std::size_t b0 = 0; b0 < data.size(); b0 += s.eval_batch) {
    const std::size_t n_global = std::min(s.eval_batch, data.size() - b0);
    // This rank's rows of the evaluation batch (all of them with one rank).
    const auto part = example_ranks::part_of(n_global);
    const std::size_t first = part.first, n = part.count;
    gather(data, idx, b0 + first, n, x, y);
    if (!ws || ws->batch() != Index(n)) ws = std::make_unique<taynode::NetworkTaylor<T, B>>(model.dynamics, 2, Index(n));
    nfe += plain_solve(*ws, x, s, z1, part.split);
    ++batches;
    const auto fwd = taynode::nn::classifier_forward(model.head, z1, y);
    if (part.counted) {
      loss += fwd.loss * double(n);
      correct += fwd.correct;
    }
    if (s.eval_reg_metrics) {
      // Drawn for the whole evaluation batch, then this rank's rows: the noise of one process.
      const Mat<T> eps = taynode::reg::rademacher_noise<T>(rng, Index(n_global), x.cols())
                             .middleRows(Index(first), Index(n))
                             .eval();
      const auto sums = regularizer_integrals(*ws, x, eps, s, part.split);
      if (!part.counted) continue;
      r2 += sums[0];
      kin += sums[1];
      fro += sums[2];
    }
  }
  double sums[5] = {loss, double(correct), r2, kin, fro};
  ranks().sum(sums, 5);
  loss = sums[0];
  correct = std::size_t(sums[1]);
  r2 = sums[2];
  kin = sums[3];
  fro = sums[4];
  const double N = double(data.size());
  e.loss = loss / N;
  e.error = 1.0 - double(correct) / N;
  e.nfe = double(nfe) / double(batches);
  if (s.eval_reg_metrics) {
    e.r2 = r2 / N;
    e.kinetic = kin / N;
    e.frobenius = fro / N;
  }
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return e;
}

inline double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace mnist_example

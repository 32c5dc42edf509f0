#pragma once
// The MINIBOONE density-estimation example (FFJORD; Kelly et al. 2020, §6.3, Table 4; REFERENCE.md §3a)
// as a small library, shared by main.cpp (the command line) and the end-to-end smoke test.
//
//   model     x ∈ R^43 (MINIBOONE, standardized), the FFJORD dynamics nn::ffjord_dynamics(43, hidden)
//             (ConcatSquash → softplus → … → ConcatSquash, default hidden 860, 860) on t ∈ [0, 1],
//             integrated with [Δlogp, R] by ad::CnfDynamics; log p(x) = log N(z(1); 0, I) − Δlogp(1)
//   training  L = mean NLL (nats, Hutchinson trace with one Gaussian ε per example, a function of the
//             seed and the iteration) + mean λ·R_K (the jet through f only), or + mean ∫(λ_kin·kin +
//             λ_fro·fro) (RNODE, sharing the trace's ε), + 1e-6·½‖θ‖²; the gradient by
//             ad::solve_gradient (backprop or adjoint, RK4 grid or adaptive Dopri5); Adam with the
//             reference's step schedule by iteration; atomic checkpoints of parameters + Adam state
//   evaluate  on a split (Table 4): the mean NLL in nats with the EXACT trace and with Hutchinson
//             (mean ± standard error), NFE of the UNREGULARIZED [z, Δlogp] system (Hutchinson, Dopri5
//             at rtol = atol = 1.4e-8, batches of 1000 solved jointly, as the reference counts), and R_2
//             and RNODE's B (Jacobian Frobenius) and K (kinetic) from one solve of [z, (r2, kin, fro)]
//
// Generic helpers (number formatting, JSON escaping, solver names, the seeded epoch permutation,
// the median) are mnist_example's, included from ../mnist.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include <taynode/ad/cnf_dynamics.hpp>
#include <taynode/ad/solve_gradient.hpp>
#include <taynode/data/miniboone.hpp>
#include <taynode/nn.hpp>
#include <taynode/ode.hpp>
#include <taynode/reg/integrands.hpp>
#include <taynode/taylor/network_taylor.hpp>

#include "mnist/mnist_example.hpp"

namespace miniboone_example {

namespace fs = std::filesystem;
using mnist_example::AnyMethod;
using mnist_example::epoch_permutation;
using mnist_example::join;
using mnist_example::json_escape;
using mnist_example::median;
using mnist_example::method_from_name;
using mnist_example::num;
using example_ranks::ranks;
using taynode::Index;
template <class T>
using Mat = taynode::nn::RowMatrix<T>;
template <class T>
using Vec = taynode::nn::Vector<T>;

// ---------------------------------------------------------------------------------------------
// Settings (one struct, filled by the CLI or by a test; written with every result file)

struct Settings {
  std::string data_dir = "../shared/data/miniboone";
  // model / objective
  std::vector<Index> hidden{860, 860};  // the reference's (20·43, 20·43)
  std::string reg = "none";             // none, r2..r6, rnode
  double lambda = 0;                    // weight of R_K
  double lambda_kin = 0, lambda_fro = 0;
  double weight_decay = 1e-6;           // λ_w of λ_w·½‖θ‖²
  // training solver
  std::string solver = "rk4";  // rk4 (fixed grid) or dopri5 (adaptive with --steps 0)
  std::size_t steps = 4;       // 4, 8, 16: fixed grid; 0: adaptive
  double rtol = 1.4e-8, atol = 1.4e-8;
  std::string gradient = "backprop";  // backprop, adjoint
  std::string forward = "augmented";  // augmented (true loss in the log), plain (the reference's aux trick)
  // optimisation (the reference: 1e-3, then 1e-4 from iteration 9000, 1e-5 from 12750; 15000 iterations)
  int epochs = 500;
  std::int64_t max_iterations = 15000;  // 0: no limit
  std::size_t batch = 1000;
  std::vector<double> lr_values{1e-3, 1e-4, 1e-5};
  std::vector<std::int64_t> lr_iterations{9000, 12750};
  // numerics / run
  std::string precision = "double";
  std::uint64_t seed = 0;
  int threads = 1;
  double collective_timeout = 600;  // seconds a rank waits in one collective under mpirun (0: no limit)
  // Under mpirun, an adaptive training solve: "joint" (one step-size sequence across the ranks,
  // the single-process steps; one small allreduce per step attempt) or "own" (each rank its own).
  std::string rank_steps = "joint";
  // output
  std::string out_dir = "out/miniboone";
  std::string label;
  int log_every = 10;
  int validate_every = 300;  // validation NLL + NFE every N iterations and at the end (0: never)
  bool progress = true;
  // checkpoints
  std::string checkpoint;    // default <out>/checkpoint.bin; "none" disables
  int checkpoint_every = 0;  // iterations (0: every epoch)
  std::string resume;
  // evaluation
  std::string eval = "test";  // test, val, none
  std::size_t eval_subset = 0;  // first N rows of the evaluated split (0: all)
  std::size_t samples = 0;      // samples of the trained flow written to samples.csv (0: none)
  std::size_t eval_batch = 1000;
  std::size_t exact_batch = 100;  // examples per exact-trace solve (its workspace holds 43× the rows)
  double eval_tol = 1.4e-8;
  bool exact = true;        // the exact-trace NLL
  bool reg_metrics = true;  // R_2, B, K

  int K() const {
    if (reg == "none" || reg == "rnode") return 0;
    if (reg.size() == 2 && reg[0] == 'r' && reg[1] >= '1' && reg[1] <= '9') return reg[1] - '0';
    throw std::invalid_argument("--reg must be one of none, r1..r9, rnode (got '" + reg + "')");
  }
  bool rnode() const { return reg == "rnode"; }
  bool adaptive() const { return steps == 0; }
  std::string run_label() const {
    if (!label.empty()) return label;
    if (reg == "none") return "none";
    std::ostringstream s;
    if (rnode()) s << "rnode kin=" << lambda_kin << " fro=" << lambda_fro;
    else s << reg << " lambda=" << lambda;
    return s.str();
  }
  std::string hidden_text() const { return join(hidden); }

  // Throws std::invalid_argument naming the first bad option.
  void validate() const {
    (void)K();
    auto finite_non_negative = [](double v) { return std::isfinite(v) && v >= 0; };
    if (!finite_non_negative(lambda) || !finite_non_negative(lambda_kin) || !finite_non_negative(lambda_fro))
      throw std::invalid_argument("--lam, --lam-kin and --lam-fro must be finite and >= 0");
    if (!finite_non_negative(weight_decay)) throw std::invalid_argument("--weight-decay must be finite and >= 0");
    if (K() > 0 && !(lambda > 0))
      throw std::invalid_argument("--reg " + reg + " needs --lam > 0 (for no regularizer: --reg none)");
    if (reg == "none" && lambda != 0) throw std::invalid_argument("--lam > 0 needs a regularizer (--reg r2 ...)");
    if (rnode() && !(lambda_kin > 0 || lambda_fro > 0))
      throw std::invalid_argument("--reg rnode needs --lam-kin > 0 and/or --lam-fro > 0");
    if (!rnode() && (lambda_kin != 0 || lambda_fro != 0))
      throw std::invalid_argument("--lam-kin/--lam-fro apply to --reg rnode only");
    if (hidden.empty()) throw std::invalid_argument("--hidden needs at least one width");
    for (Index h : hidden)
      if (h < 1) throw std::invalid_argument("--hidden widths must be >= 1 (got " + std::to_string(h) + ")");
    if (solver != "rk4" && solver != "dopri5")
      throw std::invalid_argument("--solver must be rk4 (fixed grid) or dopri5 (got '" + solver + "')");
    if (steps == 0 && solver == "rk4")
      throw std::invalid_argument("--solver rk4 has no error estimate: give --steps N (N >= 1), or --solver dopri5 "
                                  "--steps 0 for the adaptive solve");
    if (!(rtol > 0 && atol > 0 && std::isfinite(rtol) && std::isfinite(atol)))
      throw std::invalid_argument("--rtol and --atol must be finite and > 0");
    if (gradient != "backprop" && gradient != "adjoint")
      throw std::invalid_argument("--gradient must be backprop or adjoint (got '" + gradient + "')");
    if (forward != "plain" && forward != "augmented")
      throw std::invalid_argument("--forward must be plain or augmented (got '" + forward + "')");
    if (epochs < 0) throw std::invalid_argument("--epochs must be >= 0");
    if (max_iterations < 0) throw std::invalid_argument("--max-iterations must be >= 0 (0: no limit)");
    if (batch < 1) throw std::invalid_argument("--batch must be >= 1");
    if (lr_values.size() != lr_iterations.size() + 1)
      throw std::invalid_argument("--lr-values needs exactly one more entry than --lr-iterations (" +
                                  std::to_string(lr_values.size()) + " values, " +
                                  std::to_string(lr_iterations.size()) + " boundaries)");
    for (double lr : lr_values)
      if (!(std::isfinite(lr) && lr > 0))
        throw std::invalid_argument("--lr-values must be finite and > 0 (got " + std::to_string(lr) + ")");
    for (std::size_t i = 0; i < lr_iterations.size(); ++i)
      if (lr_iterations[i] < 0 || (i > 0 && lr_iterations[i] <= lr_iterations[i - 1]))
        throw std::invalid_argument("--lr-iterations must be increasing iterations >= 0");
    if (precision != "float" && precision != "double")
      throw std::invalid_argument("--precision must be float or double (got '" + precision + "')");
    if (threads < 1) throw std::invalid_argument("--threads must be >= 1");
    example_ranks::check_rank_options(rank_steps, collective_timeout);
    // Under mpirun every rank needs a row of each training batch (evaluation batches of fewer
    // rows than ranks are solved whole by every rank: example_ranks::part_of).
    if (batch < std::size_t(ranks().size()))
      throw std::invalid_argument("--batch " + std::to_string(batch) + " has fewer rows than the " +
                                  std::to_string(ranks().size()) + " ranks");
    if (log_every < 1) throw std::invalid_argument("--log-every must be >= 1");
    if (validate_every < 0) throw std::invalid_argument("--validate-every must be >= 0");
    if (checkpoint_every < 0) throw std::invalid_argument("--checkpoint-every must be >= 0 (0: every epoch)");
    if (eval != "test" && eval != "val" && eval != "none")
      throw std::invalid_argument("--eval must be test, val or none (got '" + eval + "')");
    if (eval_batch < 1) throw std::invalid_argument("--eval-batch must be >= 1");
    if (exact_batch < 1) throw std::invalid_argument("--exact-batch must be >= 1");
    if (!(eval_tol > 0 && std::isfinite(eval_tol))) throw std::invalid_argument("--eval-tol must be finite and > 0");
  }

  std::string checkpoint_path() const {
    if (checkpoint == "none") return {};
    return checkpoint.empty() ? (fs::path(out_dir) / "checkpoint.bin").string() : checkpoint;
  }
};

inline std::string settings_json(const Settings& s) {
  std::ostringstream o;
  o << "{\"data_dir\": \"" << json_escape(s.data_dir) << "\", \"hidden\": [" << join(s.hidden, ", ")
    << "], \"reg\": \"" << s.reg << "\", \"lambda\": " << num(s.lambda) << ", \"lambda_kin\": " << num(s.lambda_kin)
    << ", \"lambda_fro\": " << num(s.lambda_fro) << ", \"weight_decay\": " << num(s.weight_decay)
    << ", \"solver\": \"" << s.solver << "\", \"steps\": " << s.steps << ", \"rtol\": " << num(s.rtol)
    << ", \"atol\": " << num(s.atol) << ", \"gradient\": \"" << s.gradient << "\", \"forward\": \"" << s.forward
    << "\", \"epochs\": " << s.epochs << ", \"max_iterations\": " << s.max_iterations << ", \"batch\": " << s.batch
    << ", \"lr_values\": [" << join(s.lr_values, ", ") << "], \"lr_iterations\": [" << join(s.lr_iterations, ", ")
    << "], \"precision\": \"" << s.precision << "\", \"seed\": " << s.seed << ", \"threads\": " << s.threads
    << ", \"collective_timeout\": " << num(s.collective_timeout) << ", \"rank_steps\": \"" << s.rank_steps << "\"" << ", \"eval\": \"" << s.eval << "\", \"eval_subset\": " << s.eval_subset << ", \"eval_batch\": " << s.eval_batch
    << ", \"exact_batch\": " << s.exact_batch << ", \"eval_tol\": " << num(s.eval_tol) << ", \"label\": \""
    << json_escape(s.run_label()) << "\"}";
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// Data

template <class T>
struct Data {
  Mat<T> train, val, test;
  bool paper_split = false;
  std::string description;  // which split trains (load_miniboone's sentence)
};

template <class T>
Data<T> load_data(const std::string& dir) {
  if (!fs::is_directory(dir))
    throw std::runtime_error("MINIBOONE folder '" + dir +
                             "' not found (pass --data DIR: MAF's data.npy, or train/val/test.npy, or the shared "
                             "val.npy + test.npy stand-in)");
  auto m = taynode::load_miniboone<T>(dir);
  return Data<T>{std::move(m.train), std::move(m.val), std::move(m.test), m.paper_split, std::move(m.description)};
}

// Rows idx[begin, begin + n) of x.
template <class T>
void gather_rows(const Mat<T>& x, const std::vector<std::size_t>& idx, std::size_t begin, std::size_t n, Mat<T>& out) {
  out.resize(Index(n), x.cols());
  for (std::size_t i = 0; i < n; ++i) out.row(Index(i)) = x.row(Index(idx[begin + i]));
}

// ---------------------------------------------------------------------------------------------
// Model

template <class T>
struct Model {
  taynode::nn::Sequential<T> dynamics;

  Model(Index dim, const std::vector<Index>& hidden, std::uint64_t seed)
      : dynamics(taynode::nn::ffjord_dynamics<T>(dim, hidden)) {
    std::mt19937_64 rng(seed);
    taynode::nn::init_haiku(dynamics, rng);
  }
  Model(const Model&) = delete;  // workspaces keep pointers into the parameters
  Model& operator=(const Model&) = delete;
  taynode::nn::ParameterRefs<T> refs() { return taynode::nn::parameter_refs(dynamics); }
  std::size_t parameter_count() const { return dynamics.parameter_count(); }
};

// Hutchinson's ε for (seed, stream, counter): a resumed run draws the same noise.
template <class T>
Mat<T> seeded_noise(std::uint64_t seed, std::uint32_t stream, std::int64_t counter, Index rows, Index dim) {
  std::seed_seq seq{std::uint32_t(seed), std::uint32_t(seed >> 32), std::uint32_t(counter),
                    std::uint32_t(std::uint64_t(counter) >> 32), stream};
  std::mt19937_64 rng(seq);
  return taynode::ad::hutchinson_noise<T>(rng, rows, dim);
}

inline taynode::nn::Schedule make_schedule(const Settings& s) {
  return taynode::nn::piecewise_constant(s.lr_iterations, s.lr_values);
}

// ---------------------------------------------------------------------------------------------
// One training iteration

struct IterationResult {
  double loss = 0;     // the objective: nats + mean R + weight decay
  double nats = 0;     // mean NLL of the batch (Hutchinson; without the Δlogp term when --forward plain)
  double penalty = 0;  // mean R(1) (weighted; 0 with --forward plain)
  std::size_t nfe_forward = 0, nfe_backward = 0;
  double seconds = 0;
};

template <class T>
class Trainer {
 public:
  Trainer(Model<T>& model, const Settings& s, Index dim)
      : model_(model),
        s_(s),
        K_(s.K()),
        ws_(model.dynamics, std::max(K_, 1), Index(ranks().shard(s.batch).second)),
        adj_(ws_),
        refs_(model.refs()),
        opt_(make_schedule(s)),
        method_(method_from_name(s.solver)),
        dim_(dim) {
    options_.fixed_steps = s.steps;
    options_.rtol = T(s.rtol);
    options_.atol = T(s.atol);
    options_.shards = example_ranks::training_shards(s.steps == 0, s.rank_steps);
    const auto fwd = s.forward == "plain" ? taynode::ad::ForwardPass::plain : taynode::ad::ForwardPass::augmented;
    if (s.gradient == "adjoint") g_ = taynode::ad::Adjoint{fwd};
    else g_ = taynode::ad::Backprop{fwd};
  }

  // One iteration on the global batch: this rank's rows, gradients summed over the ranks.
  IterationResult step(const Mat<T>& x_global) {
    if (x_global.rows() != Index(s_.batch) || x_global.cols() != dim_)
      throw std::invalid_argument("Trainer::step: a batch must be " + std::to_string(s_.batch) + " × " +
                                  std::to_string(dim_));
    const auto start = std::chrono::steady_clock::now();
    const auto [first, count] = ranks().shard(s_.batch);
    // One Gaussian ε per example, a function of (seed, iteration): drawn for the global batch, then
    // this rank's rows (the noise of one process).
    eps_ = seeded_noise<T>(s_.seed, 0x74726e00u, iteration(), x_global.rows(), x_global.cols());
    if (ranks().size() > 1) {
      rows_ = x_global.middleRows(Index(first), Index(count));
      eps_ = eps_.middleRows(Index(first), Index(count)).eval();
    }
    const Mat<T>& x = ranks().size() > 1 ? rows_ : x_global;
    taynode::ad::CnfLoss<T> loss;
    loss.batch = x_global.rows();  // this rank's part of the global batch's means
    auto sg = std::visit(
        [&](auto m, const auto& g) {
          if (s_.rnode()) {
            // RNODE on the trace's own ε: one order-1 push serves both (Finlay et al.).
            taynode::ad::CnfDynamics<T, taynode::backend::Cpu, taynode::ad::RnodeRegularizer<T>> d(
                ws_, adj_, taynode::ad::RnodeRegularizer<T>{&eps_, T(s_.lambda_kin), T(s_.lambda_fro)});
            d.set_noise(eps_);
            return taynode::ad::solve_gradient(d, x, T(0), T(1), m, options_, g, loss);
          }
          taynode::ad::CnfDynamics<T> d(ws_, adj_, taynode::ad::TaylorRegularizer<T>{K_, T(s_.lambda)});
          d.set_noise(eps_);
          return taynode::ad::solve_gradient(d, x, T(0), T(1), m, options_, g, loss);
        },
        method_, g_);
    auto grads = taynode::nn::ParameterSet<T>::from_network(sg.theta_bar);
    ranks().sum(grads);  // one allreduce of every gradient tensor
    double parts[2] = {double(loss.nll), double(loss.penalty)};
    ranks().sum(parts, 2);
    // The weight decay acts on the replicated parameters: added once, after the sum.
    const double decay = taynode::nn::l2_penalty(refs_, s_.weight_decay);
    taynode::nn::add_l2_gradient(grads, refs_, s_.weight_decay);
    opt_.step(refs_, grads);
    if (const auto where = taynode::nn::first_non_finite(refs_); !where.empty())
      throw std::runtime_error("the update of iteration " + std::to_string(iteration()) +
                               " made the parameters non-finite (" + where + ", loss before it " +
                               std::to_string(parts[0] + parts[1]) + "); the last checkpoint is kept");
    IterationResult r;
    r.nats = parts[0];
    r.penalty = parts[1];
    r.loss = r.nats + r.penalty + decay;
    // With --rank-steps own each rank picks its steps from its rows: the slowest rank's NFE.
    r.nfe_forward = ranks().maximum(sg.nfe_forward);
    r.nfe_backward = ranks().maximum(sg.nfe_backward);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  taynode::nn::Adam<T>& optimizer() { return opt_; }
  taynode::nn::ParameterRefs<T>& parameters() { return refs_; }
  std::int64_t iteration() const { return opt_.state().step; }
  double learning_rate() const { return opt_.learning_rate(); }

 private:
  Model<T>& model_;
  const Settings& s_;
  int K_;
  taynode::NetworkTaylor<T> ws_;
  taynode::ad::NetworkAdjoint<T> adj_;
  taynode::nn::ParameterRefs<T> refs_;
  taynode::nn::Adam<T> opt_;
  AnyMethod method_;
  taynode::SolveOptions<T> options_;
  std::variant<taynode::ad::Backprop, taynode::ad::Adjoint> g_;
  Index dim_;
  Mat<T> eps_, rows_;
};

// ---------------------------------------------------------------------------------------------
// Evaluation

struct EvalResult {
  std::string split;
  std::size_t examples = 0;
  double nll_exact = NAN;       // mean NLL, nats, exact trace
  double nll_hutchinson = NAN;  // mean NLL, nats, Hutchinson (one Gaussian ε per example)
  double hutchinson_se = NAN;   // its standard error over the examples (std / √N)
  double difference_se = NAN;   // standard error of the mean of (Hutchinson − exact) per example
  double nfe = 0;               // mean NFE per batch of the unregularized [z, Δlogp] solve
  double r2 = NAN, kinetic = NAN, frobenius = NAN;  // means over examples (RNODE's K and B)
  double seconds = 0;
};

template <class T>
taynode::SolveOptions<T> eval_options(const Settings& s) {
  taynode::SolveOptions<T> o;
  o.rtol = T(s.eval_tol);
  o.atol = T(s.eval_tol);
  return o;
}

// log p of each row of x by one Dopri5 solve of the unregularized [z, Δlogp] system with the given
// trace estimator (ε used by Hutchinson only); the solve's NFE into *nfe. x: this rank's rows of a
// batch whose solve spans the ranks (across = false: a batch every rank holds whole).
template <class T>
Vec<T> solve_log_density(taynode::NetworkTaylor<T>& ws, const Mat<T>& x, taynode::ad::TraceEstimator trace,
                         const Mat<T>* eps, const Settings& s, std::size_t* nfe, bool across = true) {
  using A = taynode::Augmented<Mat<T>, Vec<T>>;
  taynode::ad::CnfDynamics<T> d(ws, taynode::ad::TaylorRegularizer<T>{}, trace);
  if (eps) d.set_noise(*eps);
  auto rhs = [&](T t, const A& y, A& dy) {
    dy.z.resize(y.z.rows(), y.z.cols());
    dy.r.resize(y.r.size());
    d.evaluate(t, y.z, dy.z, dy.r);
  };
  const auto sol = ranks().solve(rhs, A{x, Vec<T>::Zero(x.rows()), true}, std::vector<T>{T(0), T(1)},
                                 taynode::Dopri5{}, eval_options<T>(s), across);
  if (nfe) *nfe = sol.stats.nfe;
  return taynode::ad::log_density(sol.final_state().z, sol.final_state().r);
}

// Table 4's quantities on the rows of x (see the header comment). The Hutchinson noise is a function
// of the seed and the batch's position only. Under mpirun each batch is split over the ranks (one
// step-size sequence for all its rows, as one process) and the per-row results are summed.
template <class T>
EvalResult evaluate(Model<T>& model, const Mat<T>& data, const Settings& s, const std::string& split) {
  const auto start = std::chrono::steady_clock::now();
  const std::size_t N = s.eval_subset ? std::min<std::size_t>(s.eval_subset, std::size_t(data.rows()))
                                      : std::size_t(data.rows());
  if (N == 0) throw std::invalid_argument("evaluate: empty split");
  const Index D = data.cols();
  EvalResult e;
  e.split = split;
  e.examples = N;
  std::vector<double> lp_h(N, 0.0), lp_x(N, 0.0);  // each rank fills its rows, then Σ over ranks
  double r2 = 0, kin = 0, fro = 0;
  std::size_t nfe_sum = 0, batches = 0;
  std::unique_ptr<taynode::NetworkTaylor<T>> ws;
  for (std::size_t b0 = 0; b0 < N; b0 += s.eval_batch) {
    const std::size_t n_global = std::min(s.eval_batch, N - b0);
    const auto part = example_ranks::part_of(n_global);
    const std::size_t n = part.count;
    const Mat<T> x = data.middleRows(Index(b0 + part.first), Index(n));
    if (!ws || ws->batch() != Index(n)) ws = std::make_unique<taynode::NetworkTaylor<T>>(model.dynamics, 2, Index(n));
    const Mat<T> eps = seeded_noise<T>(s.seed, 0x6576616cu, std::int64_t(b0), Index(n_global), D)
                           .middleRows(Index(part.first), Index(n))
                           .eval();
    std::size_t nfe = 0;
    const Vec<T> lp = solve_log_density(*ws, x, taynode::ad::TraceEstimator::hutchinson, &eps, s, &nfe, part.split);
    if (part.counted)
      for (std::size_t i = 0; i < n; ++i) lp_h[b0 + part.first + i] = double(lp[Index(i)]);
    nfe_sum += nfe;
    ++batches;
    if (s.reg_metrics) {
      // [z, (r2, kin, fro)]: one Taylor pass of order 2 (f and z'') and one JVP (J ε) per evaluation.
      using A = taynode::Augmented<Mat<T>, Mat<T>>;
      Vec<T> r = Vec<T>::Zero(Index(n));
      auto rhs = [&](T t, const A& st, A& d) {
        d.z.resize(st.z.rows(), st.z.cols());
        d.r.resize(st.r.rows(), 3);
        taynode::reg::taylor_integrand(*ws, t, st.z, 2, d.z, r);
        d.r.col(0) = r;
        d.r.col(1) = taynode::reg::mean_squares(d.z);
        d.r.col(2) = taynode::reg::mean_squares(ws->jvp(t, st.z, eps));
      };
      const auto sol = ranks().solve(rhs, A{x, Mat<T>::Zero(Index(n), 3), true}, std::vector<T>{T(0), T(1)},
                                     taynode::Dopri5{}, eval_options<T>(s), part.split);
      if (!part.counted) continue;
      const Mat<T>& rr = sol.final_state().r;
      r2 += double(rr.col(0).sum());
      kin += double(rr.col(1).sum());
      fro += double(rr.col(2).sum());
    }
  }
  if (s.exact) {
    std::unique_ptr<taynode::NetworkTaylor<T>> wx;
    for (std::size_t b0 = 0; b0 < N; b0 += s.exact_batch) {
      const auto part = example_ranks::part_of(std::min(s.exact_batch, N - b0));
      const std::size_t n = part.count;
      if (!wx || wx->batch() != Index(n)) wx = std::make_unique<taynode::NetworkTaylor<T>>(model.dynamics, 1, Index(n));
      const Vec<T> lp = solve_log_density<T>(*wx, data.middleRows(Index(b0 + part.first), Index(n)),
                                             taynode::ad::TraceEstimator::exact, nullptr, s, nullptr, part.split);
      if (part.counted)
        for (std::size_t i = 0; i < n; ++i) lp_x[b0 + part.first + i] = double(lp[Index(i)]);
    }
  }
  ranks().sum(lp_h.data(), N);
  if (s.exact) ranks().sum(lp_x.data(), N);
  double sums[3] = {r2, kin, fro};
  ranks().sum(sums, 3);
  r2 = sums[0];
  kin = sums[1];
  fro = sums[2];
  auto mean_se = [&](auto value, double& mean, double& se) {
    double m = 0, q = 0;
    for (std::size_t i = 0; i < N; ++i) m += value(i);
    m /= double(N);
    for (std::size_t i = 0; i < N; ++i) q += (value(i) - m) * (value(i) - m);
    mean = m;
    se = N > 1 ? std::sqrt(q / double(N - 1) / double(N)) : NAN;
  };
  mean_se([&](std::size_t i) { return -lp_h[i]; }, e.nll_hutchinson, e.hutchinson_se);
  if (s.exact) {
    double se = 0;
    e.nll_exact = -std::accumulate(lp_x.begin(), lp_x.end(), 0.0) / double(N);
    double dm = 0;
    mean_se([&](std::size_t i) { return lp_x[i] - lp_h[i]; }, dm, se);
    e.difference_se = se;
  }
  e.nfe = double(nfe_sum) / double(batches);
  if (s.reg_metrics) {
    e.r2 = r2 / double(N);
    e.kinetic = kin / double(N);
    e.frobenius = fro / double(N);
  }
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return e;
}

// The trained flow z(t0) -> z(t1) of each row of z: the plain network dynamics (z only, no
// log-density), one Dopri5 solve per batch of --eval-batch rows at rtol = atol = --eval-tol.
// t1 < t0 integrates backward. The summed NFE into *nfe.
template <class T>
Mat<T> flow_map(Model<T>& model, const Mat<T>& z, T t0, T t1, const Settings& s, std::size_t* nfe = nullptr) {
  Mat<T> out(z.rows(), z.cols());
  std::unique_ptr<taynode::NetworkTaylor<T>> ws;
  std::size_t total = 0;
  const std::size_t N = std::size_t(z.rows());
  for (std::size_t b0 = 0; b0 < N; b0 += s.eval_batch) {
    const std::size_t n = std::min(s.eval_batch, N - b0);
    if (!ws || ws->batch() != Index(n)) ws = std::make_unique<taynode::NetworkTaylor<T>>(model.dynamics, 1, Index(n));
    auto rhs = [&](T t, const Mat<T>& y, Mat<T>& dy) {
      const auto f = ws->evaluate(t, y);
      dy.resize(y.rows(), y.cols());
      taynode::backend::assign<taynode::backend::Cpu>(dy, taynode::backend::MatrixView<const T>(f.data(), f.rows(), f.cols()));
    };
    const Mat<T> y0 = z.middleRows(Index(b0), Index(n));
    const auto sol = taynode::solve(rhs, y0, std::vector<T>{t0, t1}, taynode::Dopri5{}, eval_options<T>(s));
    out.middleRows(Index(b0), Index(n)) = sol.final_state();
    total += sol.stats.nfe;
  }
  if (nfe) *nfe = total;
  return out;
}

// Samples of the trained model: z1 ~ N(0, I) (seeded by --seed, its own noise stream), mapped to
// data space by integrating the flow backward from t = 1 to t = 0. Returns {z1, x}.
template <class T>
std::pair<Mat<T>, Mat<T>> sample(Model<T>& model, std::size_t n, Index dim, const Settings& s,
                                 std::size_t* nfe = nullptr) {
  Mat<T> z1 = seeded_noise<T>(s.seed, 0x73616d70u, 0, Index(n), dim);
  Mat<T> x = flow_map(model, z1, T(1), T(0), s, nfe);
  return {std::move(z1), std::move(x)};
}

}  // namespace miniboone_example

#pragma once
// The PhysioNet latent ODE example (Kelly et al. 2020, §6.2, Figure 4; REFERENCE.md §2) as a small
// library, shared by main.cpp (the command line) and the end-to-end smoke test. Double precision
// throughout (the reference runs float64).
//
//   data      the PhysioNet 2012 records (set-a + set-b, data/physionet.hpp), a seeded 80/20 patient
//             split (--split-seed), optionally the first --patients / --test-patients of each part;
//             per-feature normalization fitted on the whole training part; a batch lies on the union
//             of its patients' hourly times, time axis hours / 48
//   model     the GRU recognition network run backwards in time → q(z0) = N(mean, std²), S = 3
//             samples z0 = mean + std ⊙ ε with fresh ε per iteration (a function of the seed and the
//             iteration), the latent dynamics nn::latent_ode_dynamics (20 → 4 × 50 → 20), decoder
//             Linear(20 → 37); the objective nn::latent_ode_objective (σ = 0.01, logsumexp over the
//             samples, KL annealed per epoch) + λ·mean R_K (or RNODE's kinetic + Frobenius terms)
//   training  the S·B trajectories of a batch solved JOINTLY (one adaptive solve of an (S·B) × 20
//             state; the reference solves each alone) through the batch times, the gradient by
//             ad::solve_gradient (backprop through the steps or the continuous adjoint), Adamax with
//             lr_i = max(1e-2·0.999^i, 1e-3)
//   evaluate  on a split, batches of --eval-batch: the objective's parts at β = 1 with seeded samples
//             (log-likelihood without its constant, masked MSE, KL), the joint-batch NFE of the
//             unregularized decoder ODE, R_K from an augmented solve, and the paper's NFE: the mean
//             per-trajectory NFE of the unregularized decoder ODE, each patient's POSTERIOR-MEAN z0
//             solved alone with Dopri5 at rtol = atol = --eval-tol (1.4e-8) over the batch's span

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <taynode/ad/cnf_dynamics.hpp>  // hutchinson_noise (RNODE's ε)
#include <taynode/ad/solve_gradient.hpp>
#include <taynode/data/physionet.hpp>
#include <taynode/nn.hpp>
#include <taynode/nn/latent_ode.hpp>
#include <taynode/ode.hpp>
#include <taynode/reg/integrands.hpp>
#include <taynode/taylor/network_taylor.hpp>

#include "mnist/mnist_example.hpp"

namespace physionet_example {

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
using Mat = taynode::nn::RowMatrix<double>;
using Vec = taynode::nn::Vector<double>;
using Batch = taynode::PhysionetBatch<double>;

// ---------------------------------------------------------------------------------------------
// Settings (one struct, filled by the CLI or by a test; written with every result file)

struct Settings {
  std::string data_dir = "../shared/data/physionet2012";  // holds set-a/ and set-b/
  std::string cache;                                     // "" : <tmp>/taynode-physionet.cache; none: no cache
  std::string normalization = "reference";               // reference, min_max, standardize
  std::uint64_t split_seed = 0;
  std::size_t patients = 0, test_patients = 0;  // first N of the training / test part (0: all)
  // model / objective
  Index latent = 20, hidden = 50;
  int hidden_layers = 4;
  std::size_t samples = 3;
  std::string reg = "none";  // none, r2..r6, rnode
  double lambda = 0;
  double lambda_kin = 0, lambda_fro = 0;
  // training solver
  std::string solver = "dopri5";
  std::size_t steps = 0;  // 0: adaptive
  double rtol = 1.4e-8, atol = 1.4e-8;
  std::string gradient = "backprop";
  // optimisation
  int epochs = 100;
  std::int64_t max_iterations = 0;  // 0: no limit
  std::size_t batch = 50;
  double lr = 1e-2, lr_decay = 0.999, lr_floor = 1e-3;
  std::uint64_t seed = 0;
  int threads = 1;
  double collective_timeout = 600;  // seconds a rank waits in one collective under mpirun (0: no limit)
  // Under mpirun, an adaptive training solve: "joint" (one step-size sequence across the ranks,
  // the single-process steps; one small allreduce per step attempt) or "own" (each rank its own).
  std::string rank_steps = "joint";
  // output
  std::string out_dir = "out/physionet";
  std::string label;
  int log_every = 10;
  bool progress = true;
  std::string checkpoint;
  int checkpoint_every = 0;  // iterations (0: every epoch)
  std::string resume;
  int monitor_every = 0;  // test MSE and per-trajectory NFE on --monitor-patients test patients (0: never)
  std::size_t monitor_patients = 100;
  // evaluation
  std::string eval = "train,test";  // train,test / test / train / none
  std::size_t eval_batch = 50;
  std::size_t eval_patients = 0;  // first N patients of each evaluated split (0: all)
  double eval_tol = 1.4e-8;
  int eval_order = 0;              // R_K reported (0: the run's K, or 2)
  std::size_t trajectories = 0;    // test patients written to trajectories.csv
  std::size_t reconstructions = 0; // test patients written to reconstructions.csv

  int K() const {
    if (reg == "none" || reg == "rnode") return 0;
    if (reg.size() == 2 && reg[0] == 'r' && reg[1] >= '2' && reg[1] <= '6') return reg[1] - '0';
    throw std::invalid_argument("--reg must be one of none, r2..r6, rnode (got '" + reg + "')");
  }
  bool rnode() const { return reg == "rnode"; }
  int report_order() const { return eval_order > 0 ? eval_order : (K() > 0 ? K() : 2); }
  bool eval_split(const std::string& split) const {
    return eval.find(split) != std::string::npos;
  }
  std::string run_label() const {
    if (!label.empty()) return label;
    if (reg == "none") return "none";
    std::ostringstream s;
    if (rnode()) s << "rnode kin=" << lambda_kin << " fro=" << lambda_fro;
    else s << reg << " lambda=" << lambda;
    return s.str();
  }

  // Throws std::invalid_argument naming the first bad option.
  void validate() const {
    (void)K();
    auto finite_non_negative = [](double v) { return std::isfinite(v) && v >= 0; };
    if (!finite_non_negative(lambda) || !finite_non_negative(lambda_kin) || !finite_non_negative(lambda_fro))
      throw std::invalid_argument("--lam, --lam-kin and --lam-fro must be finite and >= 0");
    if (K() > 0 && !(lambda > 0))
      throw std::invalid_argument("--reg " + reg + " needs --lam > 0 (for no regularizer: --reg none)");
    if (reg == "none" && lambda != 0) throw std::invalid_argument("--lam > 0 needs a regularizer (--reg r2 ...)");
    if (rnode() && !(lambda_kin > 0 || lambda_fro > 0))
      throw std::invalid_argument("--reg rnode needs --lam-kin > 0 and/or --lam-fro > 0");
    if (!rnode() && (lambda_kin != 0 || lambda_fro != 0))
      throw std::invalid_argument("--lam-kin/--lam-fro apply to --reg rnode only");
    if (normalization != "reference" && normalization != "min_max" && normalization != "standardize")
      throw std::invalid_argument("--normalization must be reference, min_max or standardize (got '" + normalization +
                                  "')");
    if (latent < 1 || hidden < 1 || hidden_layers < 1)
      throw std::invalid_argument("--latent, --hidden and --hidden-layers must be >= 1");
    if (samples < 1) throw std::invalid_argument("--samples must be >= 1");
    (void)method_from_name(solver);
    if (steps == 0 && solver != "dopri5" && solver != "tsit5" && solver != "bosh3")
      throw std::invalid_argument("--solver " + solver +
                                  " has no error estimate: give --steps N (N >= 1), or an adaptive solver (dopri5, "
                                  "tsit5, bosh3) with --steps 0");
    if (!(rtol > 0 && atol > 0 && std::isfinite(rtol) && std::isfinite(atol)))
      throw std::invalid_argument("--rtol and --atol must be finite and > 0");
    if (gradient != "backprop" && gradient != "adjoint")
      throw std::invalid_argument("--gradient must be backprop or adjoint (got '" + gradient + "')");
    if (epochs < 0) throw std::invalid_argument("--epochs must be >= 0");
    if (max_iterations < 0) throw std::invalid_argument("--max-iterations must be >= 0 (0: no limit)");
    if (batch < 1) throw std::invalid_argument("--batch must be >= 1");
    if (!(std::isfinite(lr) && lr > 0 && std::isfinite(lr_floor) && lr_floor > 0 && std::isfinite(lr_decay) &&
          lr_decay > 0 && lr_decay <= 1))
      throw std::invalid_argument("--lr and --lr-floor must be finite and > 0, --lr-decay in (0, 1]");
    if (threads < 1) throw std::invalid_argument("--threads must be >= 1");
    example_ranks::check_rank_options(rank_steps, collective_timeout);
    // Under mpirun every rank needs a patient of each training batch (evaluation batches of fewer
    // patients than ranks are solved whole by every rank: example_ranks::part_of).
    if (batch < std::size_t(ranks().size()))
      throw std::invalid_argument("--batch " + std::to_string(batch) + " has fewer patients than the " +
                                  std::to_string(ranks().size()) + " ranks");
    if (log_every < 1) throw std::invalid_argument("--log-every must be >= 1");
    if (checkpoint_every < 0) throw std::invalid_argument("--checkpoint-every must be >= 0 (0: every epoch)");
    if (monitor_every < 0) throw std::invalid_argument("--monitor-every must be >= 0 (0: never)");
    if (monitor_every > 0 && monitor_patients < 1) throw std::invalid_argument("--monitor-patients must be >= 1");
    if (eval != "train,test" && eval != "test,train" && eval != "train" && eval != "test" && eval != "none")
      throw std::invalid_argument("--eval must be train,test, train, test or none (got '" + eval + "')");
    if (eval_batch < 1) throw std::invalid_argument("--eval-batch must be >= 1");
    if (!(eval_tol > 0 && std::isfinite(eval_tol))) throw std::invalid_argument("--eval-tol must be finite and > 0");
    if (eval_order < 0 || eval_order > 6) throw std::invalid_argument("--eval-order must be 0 (the run's K) or 1..6");
  }

  std::string checkpoint_path() const {
    if (checkpoint == "none") return {};
    return checkpoint.empty() ? (fs::path(out_dir) / "checkpoint.bin").string() : checkpoint;
  }
  std::string cache_path() const {
    if (cache == "none") return {};
    return cache.empty() ? (fs::temp_directory_path() / "taynode-physionet.cache").string() : cache;
  }
};

inline std::string settings_json(const Settings& s) {
  std::ostringstream o;
  o << "{\"data_dir\": \"" << json_escape(s.data_dir) << "\", \"normalization\": \"" << s.normalization
    << "\", \"split_seed\": " << s.split_seed << ", \"patients\": " << s.patients
    << ", \"test_patients\": " << s.test_patients << ", \"latent\": " << s.latent << ", \"hidden\": " << s.hidden
    << ", \"hidden_layers\": " << s.hidden_layers << ", \"samples\": " << s.samples << ", \"reg\": \"" << s.reg
    << "\", \"lambda\": " << num(s.lambda) << ", \"lambda_kin\": " << num(s.lambda_kin)
    << ", \"lambda_fro\": " << num(s.lambda_fro) << ", \"solver\": \"" << s.solver << "\", \"steps\": " << s.steps
    << ", \"rtol\": " << num(s.rtol) << ", \"atol\": " << num(s.atol) << ", \"gradient\": \"" << s.gradient
    << "\", \"epochs\": " << s.epochs << ", \"max_iterations\": " << s.max_iterations << ", \"batch\": " << s.batch
    << ", \"lr\": " << num(s.lr) << ", \"lr_decay\": " << num(s.lr_decay) << ", \"lr_floor\": " << num(s.lr_floor)
    << ", \"seed\": " << s.seed << ", \"threads\": " << s.threads
    << ", \"collective_timeout\": " << num(s.collective_timeout) << ", \"rank_steps\": \"" << s.rank_steps << "\"" << ", \"eval\": \"" << s.eval
    << "\", \"eval_batch\": " << s.eval_batch << ", \"eval_patients\": " << s.eval_patients
    << ", \"eval_tol\": " << num(s.eval_tol) << ", \"eval_order\": " << s.report_order() << ", \"label\": \""
    << json_escape(s.run_label()) << "\"}";
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// Data

struct Data {
  taynode::PhysionetData records;
  std::vector<std::size_t> train, test;  // record indices (subsets when asked)
  std::size_t train_part = 0, test_part = 0;  // sizes of the whole split's parts
  taynode::FeatureScaling scaling;
  std::string description;
};

inline taynode::PhysionetNormalization normalization_from_name(const std::string& n) {
  if (n == "min_max") return taynode::PhysionetNormalization::min_max;
  if (n == "standardize") return taynode::PhysionetNormalization::standardize;
  return taynode::PhysionetNormalization::reference;
}

inline Data load_data(const Settings& s) {
  const fs::path root(s.data_dir);
  std::vector<fs::path> dirs;
  for (const char* d : {"set-a", "set-b"})
    if (fs::is_directory(root / d)) dirs.push_back(root / d);
  if (dirs.empty())
    throw std::runtime_error("PhysioNet folder '" + s.data_dir +
                             "' has neither set-a/ nor set-b/ (pass --data DIR, the folder of the challenge's sets)");
  Data d;
  taynode::PhysionetLoadInfo info;
  d.records = taynode::load_physionet(dirs, {}, s.cache_path(), &info);
  auto split = taynode::split_patients(d.records.size(), s.split_seed);
  d.train_part = split.train.size();
  d.test_part = split.test.size();
  d.scaling = taynode::fit_feature_scaling(d.records, split.train, normalization_from_name(s.normalization));
  if (s.patients > 0 && s.patients < split.train.size()) split.train.resize(s.patients);
  if (s.test_patients > 0 && s.test_patients < split.test.size()) split.test.resize(s.test_patients);
  d.train = std::move(split.train);
  d.test = std::move(split.test);
  std::ostringstream o;
  o << d.records.size() << " records (" << (info.from_cache ? "from the cache" : "parsed") << "), split seed "
    << s.split_seed << ": " << d.train_part << " train / " << d.test_part << " test, using " << d.train.size() << " / "
    << d.test.size() << "; normalization " << s.normalization << " fitted on the " << d.train_part
    << " training patients";
  d.description = o.str();
  return d;
}

inline Batch make_batch(const Data& d, std::span<const std::size_t> idx) {
  return taynode::make_physionet_batch<double>(d.records, idx, &d.scaling);
}

// ---------------------------------------------------------------------------------------------
// Model

struct Model {
  taynode::nn::Sequential<double> dynamics;
  taynode::nn::LatentOdeModel<double> parts;  // recognition + decoder

  Model(const Settings& s, std::uint64_t seed)
      : dynamics(taynode::nn::latent_ode_dynamics<double>(s.latent, s.hidden, s.hidden_layers)),
        parts(taynode::nn::LatentOdeSizes{Index(taynode::physionet_feature_count), 40, s.latent, 50, 50}) {
    std::mt19937_64 rng(seed);
    taynode::nn::init_haiku(dynamics, rng);
    taynode::nn::init_latent_ode_model(parts, rng);
  }
  Model(const Model&) = delete;  // workspaces and optimizers keep pointers into the parameters
  Model& operator=(const Model&) = delete;
  // Every tensor: the dynamics ("layers.*"), then the recognition network and the decoder.
  taynode::nn::ParameterRefs<double> refs() {
    auto r = taynode::nn::parameter_refs(dynamics);
    taynode::nn::for_each_latent_ode_parameter(parts, [&](std::string n, auto& a) { r.add(std::move(n), a); });
    return r;
  }
  std::size_t parameter_count() const { return dynamics.parameter_count() + parts.parameter_count(); }
};

// A seeded engine for (seed, stream, counter): a resumed run draws the same noise.
inline std::mt19937_64 seeded_engine(std::uint64_t seed, std::uint32_t stream, std::int64_t counter) {
  std::seed_seq seq{std::uint32_t(seed), std::uint32_t(seed >> 32), std::uint32_t(counter),
                    std::uint32_t(std::uint64_t(counter) >> 32), stream};
  return std::mt19937_64(seq);
}

// ---------------------------------------------------------------------------------------------
// Data-parallel pieces (examples/common/ranks.hpp): a rank holds its patients of each global batch,
// on the global batch's times (every rank solves through the same output times), and its rows of
// the sampled z0 — drawn for the global batch, so the noise is one process's.

// Patients [first, first + count) of a batch, on its times.
inline Batch patients_of(const Batch& b, std::size_t first, std::size_t count) {
  Batch r;
  r.patients.assign(b.patients.begin() + std::ptrdiff_t(first), b.patients.begin() + std::ptrdiff_t(first + count));
  r.hours = b.hours;
  r.times = b.times;
  for (std::size_t i = 0; i < b.times.size(); ++i) {
    r.values.push_back(b.values[i].middleRows(Index(first), Index(count)));
    r.mask.push_back(b.mask[i].middleRows(Index(first), Index(count)));
  }
  return r;
}

// Rows of patients [first, first + count) of each of the S sample blocks of a sample-major
// (S·B) × L matrix (row k·B + b: sample k of patient b).
inline Mat sample_rows(const Mat& m, Index samples, Index first, Index count) {
  const Index B = m.rows() / samples;
  Mat out(samples * count, m.cols());
  for (Index k = 0; k < samples; ++k) out.middleRows(k * count, count) = m.middleRows(k * B + first, count);
  return out;
}

// z0 = mean + std ⊙ ε for this rank's patients [first, first + count) of a batch of B patients
// (mean, std: this rank's rows), ε drawn from rng for all S·B rows as one process draws them.
inline taynode::nn::Z0Samples<double> sample_z0_rows(const Mat& mean, const Mat& std_, Index samples, Index B,
                                                     Index first, std::mt19937_64& rng) {
  if (mean.rows() == B) return taynode::nn::sample_z0<double>(mean, std_, samples, rng);
  const auto all = taynode::nn::sample_z0<double>(Mat::Zero(B, mean.cols()), Mat::Ones(B, mean.cols()), samples, rng);
  return taynode::nn::sample_z0<double>(mean, std_, sample_rows(all.noise, samples, first, mean.rows()));
}

// The latent ODE objective's shard of a batch split over the ranks (get(): nullptr if not split).
struct ObjectiveShard {
  taynode::nn::LatentOdeShard shard;
  const taynode::nn::LatentOdeShard* get() const { return shard.batch ? &shard : nullptr; }
  ObjectiveShard(const Batch& global, bool split) {
    if (!split) return;
    shard.batch = Index(global.patients.size());
    shard.observed = global.observed();
    shard.sum = [](double* x, std::size_t n) { ranks().sum(x, n); };
  }
};

inline taynode::nn::Schedule make_schedule(const Settings& s) {
  return taynode::nn::exponential_decay_floor(s.lr, s.lr_decay, s.lr_floor);
}

// The unregularized decoder ODE z' = f(z) on a workspace of the state's batch.
inline auto plain_rhs(taynode::NetworkTaylor<double>& ws) {
  return [&ws](double t, const Mat& y, Mat& dy) {
    dy.resize(y.rows(), y.cols());
    ws.evaluate(t, y, dy);
  };
}

// ---------------------------------------------------------------------------------------------
// One training iteration

struct IterationResult {
  double loss = 0;            // the objective (annealed KL, + λ R)
  double log_likelihood = 0;  // mean over samples of ℓ_k without its constant offset
  double mse = 0, kl = 0, rk = 0, kl_weight = 0;
  std::size_t nfe_forward = 0, nfe_backward = 0;
  double seconds = 0;
};

class Trainer {
 public:
  Trainer(Model& model, const Settings& s)
      : model_(model),
        s_(s),
        K_(s.K()),
        ws_(model.dynamics, std::max(K_, 1), Index(s.samples * ranks().shard(s.batch).second)),
        adj_(ws_),
        refs_(model.refs()),
        opt_(make_schedule(s)),
        method_(method_from_name(s.solver)) {
    options_.fixed_steps = s.steps;
    options_.rtol = s.rtol;
    options_.atol = s.atol;
    options_.shards = example_ranks::training_shards(s.steps == 0, s.rank_steps);
    if (s.gradient == "adjoint") g_ = taynode::ad::Adjoint{};
    else g_ = taynode::ad::Backprop{};
  }

  // One Adamax step on the global batch at KL weight β(epoch): this rank's patients, gradients
  // summed over the ranks.
  IterationResult step(const Batch& global, std::int64_t epoch) {
    if (global.patients.size() != s_.batch)
      throw std::invalid_argument("Trainer::step: a batch must hold " + std::to_string(s_.batch) + " patients");
    const auto start = std::chrono::steady_clock::now();
    const auto [first, count] = ranks().shard(s_.batch);
    const bool split = ranks().size() > 1;
    const Batch mine = split ? patients_of(global, first, count) : Batch{};
    const Batch& batch = split ? mine : global;
    auto& parts = model_.parts;
    const auto enc = taynode::nn::recognition_forward(parts.recognition, batch.times, batch.values, batch.mask);
    auto rng = seeded_engine(s_.seed, 0x7a30u, iteration());  // fresh ε each iteration
    const Index S = Index(s_.samples), B = Index(s_.batch);
    const auto zs = sample_z0_rows(enc.mean, enc.std, S, B, Index(first), rng);
    const ObjectiveShard shard(global, split);
    taynode::nn::LatentOdeObjectiveOptions oo;
    oo.shard = shard.get();
    oo.kl_weight = taynode::nn::kl_annealing_weight(epoch);
    oo.rk_weight = s_.rnode() ? 1.0 : s_.lambda;  // RNODE's weights sit in its integrand
    const bool with_r = K_ > 0 || s_.rnode();
    taynode::nn::LatentOdeObjective<double> obj;
    auto head = [&](const std::vector<Mat>& z, const Vec& r, std::vector<Mat>& z_bar, Vec& r_bar) {
      obj = taynode::nn::latent_ode_objective(parts.decoder, z, batch.values, batch.mask, enc.mean, enc.std, oo,
                                              with_r ? std::span<const double>(r.data(), std::size_t(r.size()))
                                                     : std::span<const double>());
      for (std::size_t i = 0; i < z.size(); ++i) z_bar[i] = obj.z_bar[i];
      if (with_r) r_bar = obj.rk_bar;
    };
    std::vector<double> times(batch.times.begin(), batch.times.end());
    auto sg = std::visit(
        [&](auto m, const auto& g) {
          if (s_.rnode()) {
            auto erng = seeded_engine(s_.seed, 0x726eu, iteration());
            eps_ = taynode::ad::hutchinson_noise<double>(erng, S * B, zs.z0.cols());
            if (split) eps_ = sample_rows(eps_, S, Index(first), Index(count));
            return taynode::ad::solve_gradient(
                ws_, adj_, zs.z0, times, taynode::ad::RnodeRegularizer<double>{&eps_, s_.lambda_kin, s_.lambda_fro}, m,
                options_, g, head);
          }
          return taynode::ad::solve_gradient(ws_, adj_, zs.z0, times, K_, m, options_, g, head);
        },
        method_, g_);
    taynode::nn::LatentOdeModel<double> grad(parts.sizes());
    taynode::nn::latent_ode_backward(parts, enc, zs, sg.z0_bar, obj, grad);
    auto grads = taynode::nn::ParameterSet<double>::from_network(sg.theta_bar);
    taynode::nn::for_each_latent_ode_parameter(grad, [&](std::string n, auto& a) { grads.add(std::move(n), a); });
    ranks().sum(grads);  // one allreduce of every gradient tensor
    opt_.step(refs_, grads);
    if (const auto where = taynode::nn::first_non_finite(refs_); !where.empty())
      throw std::runtime_error("the update of iteration " + std::to_string(iteration()) +
                               " made the parameters non-finite (" + where + ", loss before it " +
                               std::to_string(obj.loss) + "); the last checkpoint is kept");
    IterationResult r;
    r.loss = obj.loss;
    for (double l : obj.log_likelihood) r.log_likelihood += (l - obj.log_likelihood_offset) / double(s_.samples);
    r.mse = obj.mse;
    r.kl = obj.kl;
    r.rk = obj.rk_mean;
    r.kl_weight = oo.kl_weight;
    // With --rank-steps own each rank picks its steps from its rows: the slowest rank's NFE.
    r.nfe_forward = ranks().maximum(sg.nfe_forward);
    r.nfe_backward = ranks().maximum(sg.nfe_backward);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  taynode::nn::Adamax<double>& optimizer() { return opt_; }
  taynode::nn::ParameterRefs<double>& parameters() { return refs_; }
  std::int64_t iteration() const { return opt_.state().step; }
  double learning_rate() const { return opt_.learning_rate(); }

 private:
  Model& model_;
  const Settings& s_;
  int K_;
  taynode::NetworkTaylor<double> ws_;
  taynode::ad::NetworkAdjoint<double> adj_;
  taynode::nn::ParameterRefs<double> refs_;
  taynode::nn::Adamax<double> opt_;
  AnyMethod method_;
  taynode::SolveOptions<double> options_;
  std::variant<taynode::ad::Backprop, taynode::ad::Adjoint> g_;
  Mat eps_;
};

// Full batches per epoch; a batch larger than the training subset is an error.
inline std::int64_t iterations_per_epoch(const Data& d, const Settings& s) {
  if (d.train.size() < s.batch)
    throw std::invalid_argument("--batch " + std::to_string(s.batch) + " exceeds the " + std::to_string(d.train.size()) +
                                " training patients");
  return std::int64_t(d.train.size() / s.batch);
}

// The batches of an epoch: `per_epoch` batches of the seeded permutation (the incomplete last dropped).
inline std::vector<std::size_t> batch_patients(const Data& d, const Settings& s, std::int64_t iteration,
                                               std::int64_t per_epoch) {
  if (per_epoch < 1) throw std::invalid_argument("batch_patients: no full batch in an epoch");
  const auto perm = epoch_permutation(d.train.size(), s.seed, iteration / per_epoch);
  const std::size_t pos = std::size_t(iteration % per_epoch) * s.batch;
  std::vector<std::size_t> idx(s.batch);
  for (std::size_t i = 0; i < s.batch; ++i) idx[i] = d.train[perm[pos + i]];
  return idx;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

struct EvalResult {
  std::string split;
  std::size_t patients = 0;
  double loss = NAN;             // the objective at β = 1 without R (mean over batches, patient-weighted)
  double log_likelihood = NAN;   // mean over samples of ℓ_k without its constant
  double mse = NAN, kl = NAN;
  double rk = NAN;               // mean R_K (K = report_order) of the sampled trajectories
  int rk_order = 0;
  double nfe_joint = NAN;        // mean NFE of one batch's S·B trajectories solved jointly
  double nfe_trajectory = NAN;   // mean NFE of one posterior-mean trajectory solved alone (the paper's)
  double seconds = 0;
};

inline taynode::SolveOptions<double> eval_options(const Settings& s) {
  taynode::SolveOptions<double> o;
  o.rtol = s.eval_tol;
  o.atol = s.eval_tol;
  return o;
}

// NFE of z' = f(z) from each row of z0 alone over [t0, t1] (Dopri5 at --eval-tol); summed. ws1: a
// workspace of batch 1 on the model's dynamics. (No collective: under mpirun each rank solves its
// patients' rows.)
inline std::size_t per_trajectory_nfe(const Mat& z0, double t0, double t1, const Settings& s,
                                      taynode::NetworkTaylor<double>& ws1) {
  std::size_t total = 0;
  for (Index b = 0; b < z0.rows(); ++b) {
    const Mat y0 = z0.row(b);
    total += taynode::solve(plain_rhs(ws1), y0, std::vector<double>{t0, t1}, taynode::Dopri5{}, eval_options(s)).stats.nfe;
  }
  return total;
}

inline EvalResult evaluate(Model& model, const Data& d, const std::vector<std::size_t>& split_idx, const Settings& s,
                           const std::string& split, bool full = true) {
  const auto start = std::chrono::steady_clock::now();
  const std::size_t N = s.eval_patients ? std::min(s.eval_patients, split_idx.size()) : split_idx.size();
  if (N == 0) throw std::invalid_argument("evaluate: the " + split + " split is empty");
  EvalResult e;
  e.split = split;
  e.patients = N;
  e.rk_order = s.report_order();
  double loss = 0, ll = 0, mse = 0, kl = 0, rk = 0, nfe_joint = 0;
  double nfe_traj = 0;  // this rank's patients' (summed over the ranks at the end, with rk)
  std::size_t batches = 0;
  taynode::NetworkTaylor<double> ws1(model.dynamics, 1, 1);
  std::unique_ptr<taynode::NetworkTaylor<double>> ws, wr;
  for (std::size_t b0 = 0; b0 < N; b0 += s.eval_batch) {
    const std::size_t n = std::min(s.eval_batch, N - b0);
    const std::span<const std::size_t> idx(split_idx.data() + b0, n);
    const Batch global = make_batch(d, idx);
    // This rank's patients of the batch, solved with the others' (all of them with one rank).
    const auto part = example_ranks::part_of(n);
    const Batch batch = part.split ? patients_of(global, part.first, part.count) : global;
    const auto enc =
        taynode::nn::recognition_forward(model.parts.recognition, batch.times, batch.values, batch.mask);
    const double t0 = batch.times.front(), t1 = batch.times.back();
    const std::size_t traj = per_trajectory_nfe(enc.mean, t0, t1, s, ws1);
    if (part.counted) nfe_traj += double(traj);
    ++batches;
    if (!full) continue;
    auto rng = seeded_engine(s.seed, 0x6576u, std::int64_t(b0));
    const auto zs = sample_z0_rows(enc.mean, enc.std, Index(s.samples), Index(n), Index(part.first), rng);
    const Index rows = zs.z0.rows();
    if (!ws || ws->batch() != rows) ws = std::make_unique<taynode::NetworkTaylor<double>>(model.dynamics, 1, rows);
    const auto sol = ranks().solve(plain_rhs(*ws), zs.z0, std::vector<double>(batch.times.begin(), batch.times.end()),
                                   taynode::Dopri5{}, eval_options(s), part.split);
    nfe_joint += double(sol.stats.nfe);
    const ObjectiveShard shard(global, part.split);
    const auto obj = taynode::nn::latent_ode_objective(model.parts.decoder, sol.y, batch.values, batch.mask, enc.mean,
                                                       enc.std, {0.01, 1.0, 0.0, shard.get()});
    const double w = double(n) / double(N);
    loss += w * obj.loss;
    for (double l : obj.log_likelihood) ll += w * (l - obj.log_likelihood_offset) / double(s.samples);
    mse += w * obj.mse;
    kl += w * obj.kl;
    // R_K of the same trajectories: [z, r] with the Taylor integrand (1/L)‖z^(K)‖².
    if (!wr || wr->batch() != rows)
      wr = std::make_unique<taynode::NetworkTaylor<double>>(model.dynamics, e.rk_order, rows);
    using A = taynode::Augmented<Mat, Vec>;
    auto rhs = [&](double t, const A& st, A& dy) {
      dy.z.resize(st.z.rows(), st.z.cols());
      dy.r.resize(st.r.size());
      taynode::reg::taylor_integrand(*wr, t, st.z, e.rk_order, dy.z, dy.r);
    };
    const auto aug = ranks().solve(rhs, A{zs.z0, Vec::Zero(rows), true}, std::vector<double>{t0, t1},
                                   taynode::Dopri5{}, eval_options(s), part.split);
    // The mean over the batch's S·n trajectories: this rank's part.
    if (part.counted) rk += w * aug.final_state().r.sum() / double(std::size_t(s.samples) * n);
  }
  double sums[2] = {nfe_traj, rk};
  ranks().sum(sums, 2);
  nfe_traj = sums[0];
  rk = sums[1];
  e.nfe_trajectory = nfe_traj / double(N);
  if (full) {
    e.loss = loss;
    e.log_likelihood = ll;
    e.mse = mse;
    e.kl = kl;
    e.rk = rk;
    e.nfe_joint = nfe_joint / double(batches);
  }
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return e;
}

// ---------------------------------------------------------------------------------------------
// Figure data

// The posterior-mean latent trajectories of test patients, each solved alone (Dopri5 at --eval-tol)
// with its accepted steps recorded, on a grid of `grid` points plus the step ends; all points
// projected on the first two principal components of the points together. CSV rows:
// patient,t,step,pc1,pc2,nfe (step = 1 at the end of an accepted step, 0 on the grid).
inline std::string trajectories_csv(Model& model, const Data& d, const Settings& s, std::size_t count,
                                    int grid = 100) {
  count = std::min(count, d.test.size());
  taynode::NetworkTaylor<double> ws1(model.dynamics, 1, 1);
  struct Point {
    std::size_t patient;
    double t;
    int step;
    Eigen::RowVectorXd z;
  };
  std::vector<Point> pts;
  std::vector<std::size_t> nfe;
  for (std::size_t p = 0; p < count; ++p) {
    const std::size_t idx[1] = {d.test[p]};
    const Batch b = make_batch(d, idx);
    const auto enc = taynode::nn::recognition_forward(model.parts.recognition, b.times, b.values, b.mask);
    const Mat z0 = enc.mean;
    const double t0 = b.times.front(), t1 = 1.0;  // the 48 h window
    auto o = eval_options(s);
    o.record_step_sizes = true;
    const auto first = taynode::solve(plain_rhs(ws1), z0, std::vector<double>{t0, t1}, taynode::Dopri5{}, o);
    std::vector<std::pair<double, int>> ts;
    for (int i = 0; i <= grid; ++i) ts.push_back({t0 + (t1 - t0) * double(i) / grid, 0});
    double t = t0;
    for (double h : first.stats.step_sizes) ts.push_back({t += h, 1});
    std::sort(ts.begin(), ts.end());
    std::vector<double> out_t;
    for (const auto& [tt, st] : ts)
      if (out_t.empty() || tt > out_t.back()) out_t.push_back(tt);
    if (out_t.back() > t1) out_t.back() = t1;
    const auto sol = taynode::solve(plain_rhs(ws1), z0, out_t, taynode::Dopri5{}, eval_options(s));
    for (std::size_t i = 0; i < out_t.size(); ++i) {
      const bool is_step = std::any_of(ts.begin(), ts.end(), [&](const auto& q) { return q.second == 1 && q.first == out_t[i]; });
      pts.push_back({p, out_t[i], is_step ? 1 : 0, sol.y[i].row(0)});
    }
    nfe.push_back(first.stats.nfe);
  }
  std::ostringstream o;
  o << "patient,t,step,pc1,pc2,nfe\n";
  if (pts.empty()) return o.str();
  const Index L = pts[0].z.size();
  Eigen::RowVectorXd mean = Eigen::RowVectorXd::Zero(L);
  for (const auto& q : pts) mean += q.z / double(pts.size());
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(L, L);
  for (const auto& q : pts) cov += (q.z - mean).transpose() * (q.z - mean);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  const Eigen::VectorXd v1 = eig.eigenvectors().col(L - 1), v2 = eig.eigenvectors().col(L - 2);
  for (const auto& q : pts)
    o << q.patient << "," << num(q.t) << "," << q.step << "," << num((q.z - mean).dot(v1)) << ","
      << num((q.z - mean).dot(v2)) << "," << nfe[q.patient] << "\n";
  return o.str();
}

// Observed values and decoded posterior-mean curves of test patients for four features (normalized
// units). CSV rows: patient,feature,kind,t_hours,value (kind: observed or decoded).
inline std::string reconstructions_csv(Model& model, const Data& d, const Settings& s, std::size_t count,
                                       int grid = 96) {
  static const std::vector<std::string> features{"HR", "MAP", "Temp", "GCS"};
  std::vector<Index> cols;
  for (const auto& f : features)
    cols.push_back(Index(std::find(taynode::physionet_features.begin(), taynode::physionet_features.end(), f) -
                         taynode::physionet_features.begin()));
  count = std::min(count, d.test.size());
  taynode::NetworkTaylor<double> ws1(model.dynamics, 1, 1);
  std::ostringstream o;
  o << "patient,feature,kind,t_hours,value\n";
  for (std::size_t p = 0; p < count; ++p) {
    const std::size_t idx[1] = {d.test[p]};
    const Batch b = make_batch(d, idx);
    const auto enc = taynode::nn::recognition_forward(model.parts.recognition, b.times, b.values, b.mask);
    for (std::size_t i = 0; i < b.times.size(); ++i)
      for (std::size_t f = 0; f < cols.size(); ++f)
        if (b.mask[i](0, cols[f]) != 0)
          o << p << "," << features[f] << ",observed," << num(b.hours[i]) << "," << num(b.values[i](0, cols[f])) << "\n";
    std::vector<double> ts;
    for (int i = 0; i <= grid; ++i) ts.push_back(b.times.front() + (1.0 - b.times.front()) * double(i) / grid);
    const auto sol = taynode::solve(plain_rhs(ws1), Mat(enc.mean), ts, taynode::Dopri5{}, eval_options(s));
    for (std::size_t i = 0; i < ts.size(); ++i) {
      const Mat x = taynode::nn::linear_forward(model.parts.decoder, sol.y[i]);
      for (std::size_t f = 0; f < cols.size(); ++f)
        o << p << "," << features[f] << ",decoded," << num(48.0 * ts[i]) << "," << num(x(0, cols[f])) << "\n";
    }
  }
  return o.str();
}

}  // namespace physionet_example

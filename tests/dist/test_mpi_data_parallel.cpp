// Data-parallel training over MPI against the single-process computation (run under mpirun with
// 1, 2 and 3 ranks: tests/dist/CMakeLists.txt). Every rank also computes the whole global batch
// on its own — the single-process result — so one mpirun compares the two at every step:
//
//   * broadcast: ranks start from different random parameters; after dp.broadcast(params) every
//     rank holds rank 0's, equal to a network built locally with rank 0's seed (bitwise);
//   * training: the MNIST dynamics (784 → 100 → 784) with its classifier head, R_2 (λ = 0.01),
//     backprop through RK4 on 2 steps, SGD with momentum, global batch 100, 4 iterations. The
//     sharded step (each rank its rows, cotangents scaled by 1/100, dp.sum of the gradients and
//     of the loss parts) against the whole-batch step: every gradient tensor within 1e-12 of the
//     whole-batch one (max-norm relative: the two sum the batch rows in different groupings), the
//     loss and the mean R_2 within 1e-12 relative, every iteration, on parameters updated by each
//     path's own optimizer;
//   * one adaptive solve across ranks (SolveOptions::shards = dist::across_ranks): Dopri5 at rtol = atol = 1e-8 on the trained
//     dynamics with 4× its weights and rows of growing amplitude, the shards as one system: the same NFE and accepted / rejected step counts as the
//     joint solve of the whole batch, and z(1) within 1e-12 (max-norm relative); the local solves
//     (each rank its own steps) are reported beside it;
//   * a training gradient through Dopri5 (ad::solve_gradient, backprop, R_2) with the same shards:
//     the whole batch's forward NFE and its gradient within 1e-10 (max-norm relative);
//   * shard(): contiguous, covering, balanced for n = 0..11;
//   * mismatched parameter counts on different ranks raise MpiError on every rank (no hang).
// Exit status 0 on success; failures are printed with the rank.
#include <taynode/ad.hpp>
#include <taynode/dist/mpi.hpp>
#include <taynode/dist/sharded.hpp>
#include <taynode/nn.hpp>
#include <taynode/ode.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

using namespace taynode;
using Mat = nn::RowMatrix<double>;

namespace {

int failures = 0;
int rank_id = 0;

void expect(bool ok, const char* what, double value = 0, double bound = 0) {
  if (!ok) {
    ++failures;
    std::printf("[rank %d] FAILED: %s (%.3e, bound %.1e)\n", rank_id, what, value, bound);
  }
}

struct Model {
  nn::Sequential<double> dynamics = nn::mnist_dynamics<double>();
  nn::Linear<double> head{784, 10};
  explicit Model(unsigned seed) {
    std::mt19937_64 rng(seed);
    nn::init_haiku(dynamics, rng);
    head = nn::make_classifier_head<double>(784, 10, rng);
  }
  nn::ParameterRefs<double> refs() {
    auto r = nn::parameter_refs(dynamics);
    nn::add_head_parameters(r, head);
    return r;
  }
};

struct StepResult {
  nn::ParameterSet<double> grads;
  double loss = 0, reg = 0;  // parts of the global means (this process's rows)
};

// The gradient of mean CE + λ·mean R_2 over the GLOBAL batch of `global` rows, from the rows x, y.
StepResult gradient(Model& m, const Mat& x, std::span<const int> y, std::size_t global) {
  const int K = 2;
  NetworkTaylor<double> ws(m.dynamics, K, x.rows());
  ad::NetworkAdjoint<double> adj(ws);
  SolveOptions<double> grid;
  grid.fixed_steps = 2;
  StepResult out;
  nn::ClassifierLoss<double> loss{m.head, y, Index(global)};  // this process's part of the means
  const ad::TaylorRegularizer<double> r2{K, 0.01};
  const auto g = ad::solve_gradient(ws, adj, x, 0.0, 1.0, r2, RK4{}, grid, ad::Backprop{ad::ForwardPass::augmented}, loss);
  out.grads = nn::ParameterSet<double>::from_network(g.theta_bar);
  nn::add_head_gradient(out.grads, loss.grad);
  out.loss = loss.loss;
  out.reg = loss.reg;
  return out;
}

double relative_max(const Mat& a, const Mat& b) {
  const double scale = std::max(b.cwiseAbs().maxCoeff(), 1e-300);
  return (a - b).cwiseAbs().maxCoeff() / scale;
}

}  // namespace

int main(int argc, char** argv) {
  dist::MpiSession session(argc, argv);
  dist::DataParallel dp;
  rank_id = dp.rank();

  // shard(): contiguous, covering, balanced.
  for (std::size_t n = 0; n < 12; ++n) {
    const auto [first, count] = dp.shard(n);
    const auto next = dp.total(static_cast<long long>(count));
    expect(next == static_cast<long long>(n), "shard counts sum to n");
    const std::size_t lo = n / std::size_t(dp.size());
    expect(count == lo || count == lo + 1, "shard balanced");
    // first = Σ counts of the lower ranks
    std::vector<long long> counts(std::size_t(dp.size()), 0);
    counts[std::size_t(dp.rank())] = static_cast<long long>(count);
    dp.sum(counts.data(), counts.size());
    long long before = 0;
    for (int r = 0; r < dp.rank(); ++r) before += counts[std::size_t(r)];
    expect(static_cast<long long>(first) == before, "shard contiguous in rank order");
  }

  // Mismatched parameter counts raise on every rank.
  {
    nn::ParameterSet<double> odd;
    odd.add("a", Mat::Ones(1, 3 + dp.rank()));
    bool raised = false;
    try {
      dp.sum(odd);
    } catch (const dist::MpiError& e) {
      raised = std::string(e.what()).find("different parameter counts") != std::string::npos;
    }
    expect(dp.size() == 1 || raised, "mismatched parameter counts raise MpiError");
  }

  // Broadcast: each rank starts from its own seed; afterwards all hold rank 0's parameters.
  Model shared(11 + unsigned(dp.rank()));
  auto shared_refs = shared.refs();
  dp.broadcast(shared_refs);
  Model reference(11);  // the single-process model, built locally with rank 0's seed
  auto reference_refs = reference.refs();
  for (std::size_t i = 0; i < reference_refs.size(); ++i)
    expect((shared_refs.value(i).array() == reference_refs.value(i).array()).all(), "broadcast gives rank 0's parameters");

  // The data: one global batch per iteration, the same on every rank (a seed, not a rank).
  const std::size_t global = 100;
  const auto [first, count] = dp.shard(global);
  nn::SgdMomentum<double> opt_shared(nn::constant(0.01)), opt_reference(nn::constant(0.01));
  double worst_grad = 0, worst_loss = 0;
  for (int it = 0; it < 4; ++it) {
    std::mt19937_64 data_rng(1000 + std::uint64_t(it));
    std::uniform_real_distribution<double> pixel(0.0, 1.0);
    Mat x(global, 784);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = pixel(data_rng);
    std::vector<int> y(global);
    for (auto& label : y) label = int(data_rng() % 10);

    const StepResult whole = gradient(reference, x, y, global);
    const Mat rows = x.middleRows(Eigen::Index(first), Eigen::Index(count));
    StepResult part = gradient(shared, rows, std::span<const int>(y).subspan(first, count), global);
    dp.sum(part.grads);
    const double loss = dp.total(part.loss), reg = dp.total(part.reg);

    for (std::size_t i = 0; i < whole.grads.size(); ++i) {
      const double d = relative_max(part.grads.value(i), whole.grads.value(i));
      worst_grad = std::max(worst_grad, d);
      expect(d <= 1e-12, "sharded gradient equals the whole-batch gradient", d, 1e-12);
    }
    const double dl = std::abs(loss - whole.loss) / std::abs(whole.loss);
    const double dr = std::abs(reg - whole.reg) / std::abs(whole.reg);
    worst_loss = std::max({worst_loss, dl, dr});
    expect(dl <= 1e-12, "sharded loss equals the whole-batch loss", dl, 1e-12);
    expect(dr <= 1e-12, "sharded mean R_2 equals the whole-batch one", dr, 1e-12);
    if (dp.rank() == 0)
      std::printf("iteration %d: loss %.12f  mean R_2 %.6e  worst gradient rel. diff %.2e\n", it, whole.loss, whole.reg,
                  worst_grad);
    opt_shared.step(shared_refs, part.grads);
    auto whole_grads = whole.grads;
    opt_reference.step(reference_refs, whole_grads);
  }

  // One adaptive solve across the ranks against the joint solve of the whole batch.
  {
    std::mt19937_64 data_rng(77);
    std::uniform_real_distribution<double> pixel(0.0, 1.0);
    // Rows of growing amplitude and a network with 4× the weights: a solve that takes some steps,
    // and shards that would pick different steps on their own.
    Mat x(global, 784);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = pixel(data_rng);
    for (Eigen::Index b = 0; b < x.rows(); ++b) x.row(b) *= 1.0 + 9.0 * double(b) / double(global);
    auto stiff = reference.dynamics;
    nn::for_each_parameter(stiff, [](auto& p) { p *= 4.0; });
    SolveOptions<double> tight;
    tight.rtol = tight.atol = 1e-8;
    NetworkTaylor<double> whole_ws(stiff, 0, Index(global));
    auto joint = solve([&](double t, const Mat& z, Mat& dz) { dz = whole_ws.evaluate(t, z); }, x,
                       std::vector<double>{0.0, 1.0}, Dopri5{}, tight);
    NetworkTaylor<double> part_ws(stiff, 0, Index(count));
    const Mat rows = x.middleRows(Eigen::Index(first), Eigen::Index(count));
    const auto shards = dist::across_ranks(dp);
    SolveOptions<double> across = tight;
    across.shards = &shards;
    auto f_rows = [&](double t, const Mat& z, Mat& dz) { dz = part_ws.evaluate(t, z); };
    auto sharded = solve(f_rows, rows, std::vector<double>{0.0, 1.0}, Dopri5{}, across);
    auto local = solve(f_rows, rows, std::vector<double>{0.0, 1.0}, Dopri5{}, tight);
    expect(sharded.stats.nfe == joint.stats.nfe, "sharded solve: the joint solve's NFE", double(sharded.stats.nfe));
    expect(sharded.stats.accepted_steps == joint.stats.accepted_steps && sharded.stats.rejected_steps == joint.stats.rejected_steps,
           "sharded solve: the joint solve's steps");
    const Mat joint_rows = joint.y.back().middleRows(Eigen::Index(first), Eigen::Index(count));
    const double dz = relative_max(sharded.y.back(), joint_rows);
    expect(dz <= 1e-12, "sharded solve: z(1) of the joint solve", dz, 1e-12);
    const auto local_max = dp.maximum(static_cast<long long>(local.stats.nfe));
    const auto local_min = -dp.maximum(-static_cast<long long>(local.stats.nfe));
    if (dp.rank() == 0)
      std::printf("Dopri5 1e-8: joint NFE %zu (%zu accepted, %zu rejected); sharded NFE %zu, z(1) rel. diff %.2e; "
                  "local solves NFE %lld..%lld\n",
                  joint.stats.nfe, joint.stats.accepted_steps, joint.stats.rejected_steps, sharded.stats.nfe, dz, local_min, local_max);
  }

  // A training gradient through an adaptive solve across the ranks (ad::solve_gradient with
  // SolveOptions::shards): the forward Dopri5 takes the joint system's steps and backprop replays
  // them, so the summed gradient is the whole batch's, with the whole batch's NFE.
  {
    std::mt19937_64 data_rng(78);
    std::uniform_real_distribution<double> pixel(0.0, 1.0);
    Mat x(global, 784);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = pixel(data_rng);
    for (Eigen::Index b = 0; b < x.rows(); ++b) x.row(b) *= 1.0 + 9.0 * double(b) / double(global);
    std::vector<int> y(global);
    for (auto& label : y) label = int(data_rng() % 10);
    Model stiff(12);
    nn::for_each_parameter(stiff.dynamics, [](auto& p) { p *= 4.0; });
    SolveOptions<double> tol;
    tol.rtol = tol.atol = 1e-8;
    const auto shards = dist::across_ranks(dp);
    auto grad = [&](const Mat& rows, std::span<const int> labels, const SolveOptions<double>& o, std::size_t* nfe) {
      NetworkTaylor<double> ws(stiff.dynamics, 2, rows.rows());
      ad::NetworkAdjoint<double> adj(ws);
      nn::ClassifierLoss<double> loss{stiff.head, labels, Index(global)};
      const ad::TaylorRegularizer<double> r2{2, 0.01};
      const auto g = ad::solve_gradient(ws, adj, rows, 0.0, 1.0, r2, Dopri5{}, o, ad::Backprop{}, loss);
      *nfe = g.nfe_forward;
      auto grads = nn::ParameterSet<double>::from_network(g.theta_bar);
      nn::add_head_gradient(grads, loss.grad);
      return grads;
    };
    std::size_t whole_nfe = 0, part_nfe = 0, own_nfe = 0;
    const auto whole = grad(x, y, tol, &whole_nfe);
    SolveOptions<double> across = tol;
    across.shards = &shards;
    const Mat rows = x.middleRows(Eigen::Index(first), Eigen::Index(count));
    const std::span<const int> labels = std::span<const int>(y).subspan(first, count);
    auto part = grad(rows, labels, across, &part_nfe);
    dp.sum(part);
    (void)grad(rows, labels, tol, &own_nfe);  // each rank its own steps, for the report
    expect(part_nfe == whole_nfe, "solve_gradient across ranks: the whole batch's forward NFE", double(part_nfe));
    double worst = 0;
    for (std::size_t i = 0; i < whole.size(); ++i) worst = std::max(worst, relative_max(part.value(i), whole.value(i)));
    expect(worst <= 1e-10, "solve_gradient across ranks: the whole batch's gradient", worst, 1e-10);
    const auto own_max = dp.maximum(static_cast<long long>(own_nfe));
    const auto own_min = -dp.maximum(-static_cast<long long>(own_nfe));
    // The test has teeth: on their own the shards would take different steps.
    expect(dp.size() == 1 || own_min != own_max, "the shards alone take different steps (the test's premise)");
    if (dp.rank() == 0)
      std::printf("solve_gradient, Dopri5 1e-8, backprop: whole-batch forward NFE %zu; across ranks %zu, gradient rel. "
                  "diff %.2e; own steps per rank NFE %lld..%lld\n",
                  whole_nfe, part_nfe, worst, own_min, own_max);
  }

  const int total_failures = dp.total(failures);
  if (dp.rank() == 0)
    std::printf("%d ranks × %zu rows (rank 0), 4 iterations: worst gradient difference %.2e, loss %.2e; %s\n", dp.size(),
                count, worst_grad, worst_loss, total_failures == 0 ? "PASSED" : "FAILED");
  return total_failures == 0 ? 0 : 1;
}

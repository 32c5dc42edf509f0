#pragma once
// A continuous normalizing flow (FFJORD, Grathwohl et al. 2019) as a GradientDynamics
// (ad/dynamics.hpp), so ad::solve_gradient (Backprop or Adjoint) trains it unchanged: the network
// f(t, z; θ) of a NetworkTaylor workspace, the log-density change Δlogp and a speed regularizer R
// integrated together, as the reference's ffjord_tabular.py does (REFERENCE.md §3a).
//
//   z'      = f(t, z; θ)
//   Δlogp'  = −tr(∂f/∂z)                     (Hutchinson: −εᵀ(∂f/∂z)ε, or the exact trace)
//   R'      = the regularizer's integrand of z alone (the jet goes through f only, not through
//             the trace term, as the reference): TaylorRegularizer{K, λ} (λ·R_K integrand, any
//             K ≥ 1; K = 0: no R), RnodeRegularizer{&ε_R, λ_K, λ_B} (RNODE's kinetic + Frobenius)
//
// Convention (the reference's): with Δlogp(t0) = 0,
//   log p(x) = log N(z(t1); 0, I) − Δlogp(t1),   x = z(t0),
// i.e. Δlogp(t1) = −∫ tr J dt and log p(x) = log N(z1) + ∫ tr J dt (instantaneous change of
// variables). A linear f = A z gives Δlogp(t) = −t·tr(A).
//
// The integrand r (the drivers' "r", a backend Vector) is laid out channel by channel:
//   r[0 .. B)    Δlogp of examples 0 .. B−1
//   r[B .. 2B)   R of examples 0 .. B−1 (only when the regularizer is active; else r has B entries)
// so a loss sets r̄[0..B) = ∂L/∂Δlogp and r̄[B..2B) = ∂L/∂R (the weights live in R's integrand,
// regularizer.hpp: a mean adds 1/B). zero_integrand() gives this shape to the drivers.
//
// Trace estimators (TraceEstimator):
//   hutchinson  εᵀ(J ε) per example from ONE order-1 push of the series (ws.jvp, t held fixed);
//               ε (batch × dim) is the caller's: set_noise(eps) keeps a REFERENCE, held fixed for
//               a whole solve (forward and backward); redraw it in place between solves
//               (hutchinson_noise: Gaussian, as the reference's tabular model, or Rademacher).
//               Unbiased: E[εᵀJε] = tr J for E[εεᵀ] = I.
//   exact       all D unit directions in one order-1 push of a second workspace of batch D·B
//               (built here: row b·D + d holds example b with direction e_d), tr J = Σ_d (J e_d)_d.
//               For evaluation (NLL in nats of a test set) and for training small D: its VJP is
//               the reverse of that push seeded with (J e_d)‾ = −r̄_b e_d on row b·D + d and f̄_b
//               on row b·D, z̄_b = Σ_d of example b's rows (a second NetworkAdjoint, built here;
//               θ̄ = the sum of both adjoints'). Its workspaces hold D·B rows of every layer
//               (MINIBOONE: 43× the batch's memory): size the batch for that.
//
// Cost of one augmented evaluation (Hutchinson): the regularizer's push (K passes for R_K, one
// order-1 push for RNODE) plus one order-1 push for the trace; RNODE whose ε_R IS the trace's ε
// (the same matrix, as Finlay et al.) shares its push: no extra forward pass. The VJP is the
// regularizer's VJP (regularizer.hpp, carrying f̄) plus the reverse of the trace push seeded with
// (J ε)‾ = −r̄_Δ·ε (NetworkAdjoint::jvp), z̄ and θ̄ summed (NetworkAdjoint's accumulate).
//
// log_density(z1, r1) and CnfLoss (the mean negative log-likelihood in nats + the mean of R, with
// the cotangents for ad::solve_gradient) are at the end of this header.
//
// Holds references: ws, adj (built on ws), the network and ε must outlive it. Generic over the
// backend (every state operation a Backend call); the loss head downloads z1, r1 to the host.

#include <cmath>
#include <cstddef>
#include <memory>
#include <numbers>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "taynode/ad/dynamics.hpp"
#include "taynode/ad/network_adjoint.hpp"
#include "taynode/ad/regularizer.hpp"
#include "taynode/backend/matrix.hpp"
#include "taynode/reg/integrands.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::ad {

enum class TraceEstimator { hutchinson, exact };
inline const char* to_string(TraceEstimator e) { return e == TraceEstimator::hutchinson ? "hutchinson" : "exact"; }

// The distribution of Hutchinson's ε.
enum class Noise { gaussian, rademacher };

// A fresh ε (batch × dim) in B's memory: standard Gaussian (default, the reference's tabular
// FFJORD) or Rademacher ±1 (its FFJORD-MNIST).
template <class T, class B = backend::Cpu, class Rng>
typename B::template Matrix<T> hutchinson_noise(Rng& rng, Index batch, Index dim, Noise kind = Noise::gaussian) {
  if (batch < 1 || dim < 1) throw std::invalid_argument("taynode::ad::hutchinson_noise: batch, dim >= 1");
  return backend::to_backend<B>(kind == Noise::gaussian ? reg::gaussian_noise<T>(rng, batch, dim)
                                                        : reg::rademacher_noise<T>(rng, batch, dim));
}

namespace cnf_detail {
// r[b] = −Σ_c u[b, c]·v[b, c]   (−εᵀ(J ε) of example b)
template <class T>
struct NegativeRowDotKernel {
  const T *u, *v;
  T* r;
  Index cols;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index b) const {
    T s(0);
    for (Index c = 0; c < cols; ++c) s += u[b * cols + c] * v[b * cols + c];
    r[b] = -s;
  }
};
// r[b] = −Σ_d jv[b·D + d, d]   (−tr J of example b from its D unit-direction rows)
template <class T>
struct NegativeTraceKernel {
  const T* jv;
  T* r;
  Index dim;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index b) const {
    T s(0);
    for (Index d = 0; d < dim; ++d) s += jv[(b * dim + d) * dim + d];
    r[b] = -s;
  }
};
// out[b, c] = −r̄[b]·ε[b, c]   (the cotangent of J ε from Δlogp_b = −ε_bᵀ(J ε)_b + …)
template <class T>
struct NegativeRowScaleKernel {
  const T *rb, *eps;
  T* out;
  Index cols;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const { out[r * cols + c] = -rb[r] * eps[r * cols + c]; }
};
// dst row b·D + d = z row b (every example repeated D times)
template <class T>
struct RepeatRowsKernel {
  const T* z;
  T* dst;
  Index dim;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const { dst[r * dim + c] = z[(r / dim) * dim + c]; }
};
// dst row b·D + d = e_d
template <class T>
struct UnitDirectionsKernel {
  T* dst;
  Index dim;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const { dst[r * dim + c] = r % dim == c ? T(1) : T(0); }
};
// f row b = x row b·D (the first of example b's D rows)
template <class T>
struct EveryDthRowKernel {
  const T* x;
  T* f;
  Index dim;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const { f[r * dim + c] = x[(r * dim) * dim + c]; }
};
// The exact trace's output cotangents, row r = b·D + d: f̄ = f̄_b on d = 0 (if given), else 0;
// (J e_d)‾ = −r̄_b e_d.
template <class T>
struct ExactSeedKernel {
  const T *f_bar, *r_bar;
  T *fb, *jvb;
  Index dim;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const {
    const Index b = r / dim, d = r % dim;
    fb[r * dim + c] = f_bar && d == 0 ? f_bar[b * dim + c] : T(0);
    jvb[r * dim + c] = d == c ? -r_bar[b] : T(0);
  }
};
// z̄ row b (+)= Σ_d x row b·D + d
template <class T>
struct SumRowBlocksKernel {
  const T* x;
  T* zb;
  Index dim;
  bool add;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index b, Index c) const {
    T s(0);
    for (Index d = 0; d < dim; ++d) s += x[(b * dim + d) * dim + c];
    zb[b * dim + c] = add ? zb[b * dim + c] + s : s;
  }
};
}  // namespace cnf_detail

template <class T, class B = backend::Cpu, class Reg = TaylorRegularizer<T>>
class CnfDynamics {
 public:
  using Real = T;
  using Backend = B;
  using Matrix = typename B::template Matrix<T>;
  using Vector = typename B::template Vector<T>;
  using Regularizer = Reg;

  // Forward and reverse: adj must be NetworkAdjoint(ws).
  CnfDynamics(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj, Reg reg = {},
              TraceEstimator trace = TraceEstimator::hutchinson)
      : CnfDynamics(NetworkDynamics<T, B, Reg>(ws, adj, std::move(reg)), trace) {
    adj_ = &adj;
    if (exact_) {
      adj_exact_ = std::make_unique<NetworkAdjoint<T, B>>(*exact_);
      f_bar_exact_.resize(exact_->batch(), dim());
      jv_bar_exact_.resize(exact_->batch(), dim());
    }
  }
  // Forward only (evaluate; vjp throws).
  explicit CnfDynamics(NetworkTaylor<T, B>& ws, Reg reg = {}, TraceEstimator trace = TraceEstimator::hutchinson)
      : CnfDynamics(NetworkDynamics<T, B, Reg>(ws, std::move(reg)), trace) {}

  // The workspace's batch may not change under it (an exact-trace workspace is sized from it).
  CnfDynamics(const CnfDynamics&) = delete;
  CnfDynamics& operator=(const CnfDynamics&) = delete;

  Index batch() const { return net_.batch(); }
  Index dim() const { return net_.dim(); }
  bool integrand_active() const { return true; }  // Δlogp is always integrated
  bool regularized() const { return net_.integrand_active(); }
  TraceEstimator trace_estimator() const { return trace_; }
  const Reg& regularizer() const { return net_.regularizer(); }
  // Entries of r: B (Δlogp), or 2B (Δlogp, R) with an active regularizer.
  Index integrand_size() const { return regularized() ? 2 * batch() : batch(); }
  Vector zero_integrand() const {
    Vector r(integrand_size());
    B::fill(r.size(), T(0), r.data());
    return r;
  }

  // Hutchinson's ε (batch × dim), held by reference: it must outlive every solve that uses it and
  // stay fixed during one; redraw it in place between solves.
  void set_noise(const Matrix& eps) {
    if (Index(eps.rows()) != batch() || Index(eps.cols()) != dim())
      throw std::invalid_argument("taynode::ad::CnfDynamics: the noise eps must be batch × dim (" +
                                  std::to_string(batch()) + " × " + std::to_string(dim()) + "), got " +
                                  std::to_string(eps.rows()) + " × " + std::to_string(eps.cols()));
    eps_ = &eps;
  }
  const Matrix* noise() const { return eps_; }

  // After the network's parameters changed on the host (an optimizer step): the backend's copies
  // in ws AND in the exact trace's own workspace take the new values (no-op for backend::Cpu).
  void refresh_parameters() {
    net_.workspace().refresh_parameters();
    if (exact_) exact_->refresh_parameters();
  }

  void evaluate(T t, const Matrix& z, Matrix& f) const { net_.evaluate(t, z, f); }

  // f, and r = [Δlogp', R'] (the layout above).
  void evaluate(T t, const Matrix& z, Matrix& f, Vector& r) const {
    check(z, f, r, "evaluate");
    const Index rows = batch(), D = dim();
    NetworkTaylor<T, B>& ws = net_.workspace();
    if (regularized()) {
      backend::MatrixView<T> r_reg(r.data() + rows, rows, 1);
      net_.regularizer().evaluate(ws, t, z, f, r_reg);
    }
    if (trace_ == TraceEstimator::exact) {
      B::for_each_2d(rows * D, D, cnf_detail::RepeatRowsKernel<T>{z.data(), repeated_.data(), D});
      exact_->jvp(t, repeated_, directions_);
      const auto& out = exact_->output();
      B::for_each(rows, cnf_detail::NegativeTraceKernel<T>{out.coefficient(1), r.data(), D});
      if (!regularized()) B::for_each_2d(rows, D, cnf_detail::EveryDthRowKernel<T>{out.coefficient(0), f.data(), D});
      return;
    }
    const Matrix& eps = noise_for("evaluate");
    if (!shares_push()) ws.jvp(t, z, eps);  // else the regularizer's push was this one
    const auto& out = ws.output();
    B::for_each(rows, cnf_detail::NegativeRowDotKernel<T>{eps.data(), out.coefficient(1), r.data(), D});
    if (!regularized()) B::copy(rows * D, out.coefficient(0), f.data());
  }

  // The VJP of [f, Δlogp', R'] with cotangents (f̄, r̄): z̄ in z_bar(), θ̄ added to (accumulate) or
  // written over the adjoints'; f(t, z) into *f if asked.
  void vjp(T t, const Matrix& z, const Matrix& f_bar, const Vector& r_bar, bool accumulate, Matrix* f = nullptr) const {
    if (!adj_) throw std::logic_error("taynode::ad::CnfDynamics: built without a NetworkAdjoint, cannot pull back");
    check(z, f_bar, r_bar, "vjp");
    if (trace_ == TraceEstimator::exact) return vjp_exact(t, z, f_bar, r_bar, accumulate, f);
    const Matrix& eps = noise_for("vjp");
    const Index rows = batch(), D = dim();
    NetworkTaylor<T, B>& ws = net_.workspace();
    B::for_each_2d(rows, D, cnf_detail::NegativeRowScaleKernel<T>{r_bar.data(), eps.data(), jv_bar_.data(), D});
    if (regularized()) {
      // The regularizer's VJP carries f̄ and writes *f; then the trace's reverse, accumulated.
      net_.regularizer().vjp(ws, *adj_, t, z, f_bar, backend::MatrixView<const T>(r_bar.data() + rows, rows, 1),
                             accumulate, f);
      copy_z_bar(false);
      if (!shares_push()) ws.jvp(t, z, eps);
      adj_->jvp(t, zeros_, jv_bar_, true);
      copy_z_bar(true);
    } else {
      ws.jvp(t, z, eps);
      adj_->jvp(t, f_bar, jv_bar_, accumulate);
      copy_z_bar(false);
      if (f) backend::assign<B>(*f, backend::MatrixView<const T>(ws.output().coefficient(0), rows, D));
    }
  }
  const Matrix& z_bar() const { return z_bar_; }

  std::size_t parameter_count() const { return net_.parameter_count(); }
  void store_gradient(T* out, T alpha) const {
    if (!adj_exact_) return net_.store_gradient(out, alpha);
    if (regularized()) net_.store_gradient(out, alpha);
    store_network_gradient(*adj_exact_, out, alpha, regularized());
  }
  const nn::Sequential<T>& gradient() const {
    if (!adj_exact_) return net_.gradient();
    if (!regularized()) return adj_exact_->gradient();
    gradient_sum_ = net_.gradient();
    std::vector<const T*> exact;
    nn::for_each_parameter(adj_exact_->gradient(), [&](const auto& p) { exact.push_back(p.data()); });
    std::size_t i = 0;
    nn::for_each_parameter(gradient_sum_, [&](auto& p) {
      for (Index j = 0; j < p.size(); ++j) p.data()[j] += exact[i][j];
      ++i;
    });
    return gradient_sum_;
  }

 private:
  CnfDynamics(NetworkDynamics<T, B, Reg> net, TraceEstimator trace)
      : net_(std::move(net)),
        trace_(trace),
        z_bar_(net_.batch(), net_.dim()),
        jv_bar_(net_.batch(), net_.dim()),
        zeros_(net_.batch(), net_.dim()) {
    const Index rows = batch(), D = dim();
    NetworkTaylor<T, B>& ws = net_.workspace();
    if (const auto* k = taylor_order(); k && *k < 0)
      throw std::invalid_argument("taynode::ad::CnfDynamics: the regularizer's order K must be >= 0, got " +
                                  std::to_string(*k));
    if (trace == TraceEstimator::hutchinson && ws.max_order() < 1)
      throw std::invalid_argument("taynode::ad::CnfDynamics: Hutchinson's trace needs a workspace of order >= 1");
    B::fill(zeros_.size(), T(0), zeros_.data());
    if (trace == TraceEstimator::exact) {
      exact_ = std::make_unique<NetworkTaylor<T, B>>(ws.network(), 1, rows * D);
      repeated_.resize(rows * D, D);
      directions_.resize(rows * D, D);
      B::for_each_2d(rows * D, D, cnf_detail::UnitDirectionsKernel<T>{directions_.data(), D});
    }
  }
  const int* taylor_order() const {
    if constexpr (requires { net_.regularizer().K; }) return &net_.regularizer().K;
    else return nullptr;
  }
  // RNODE with the trace's own ε: its order-1 push is the trace's.
  bool shares_push() const {
    if constexpr (requires { net_.regularizer().eps; }) return net_.regularizer().eps == eps_;
    else return false;
  }
  const Matrix& noise_for(const char* what) const {
    if (!eps_)
      throw std::invalid_argument(std::string("taynode::ad::CnfDynamics::") + what +
                                  ": Hutchinson's trace needs the noise eps (set_noise) first");
    return *eps_;
  }
  template <class F, class R>
  void check(const Matrix& z, const F& f, const R& r, const char* what) const {
    auto fail = [&](const std::string& m) {
      throw std::invalid_argument(std::string("taynode::ad::CnfDynamics::") + what + ": " + m);
    };
    if (Index(z.rows()) != batch() || Index(z.cols()) != dim()) fail("z must be batch × dim");
    if (Index(f.rows()) != batch() || Index(f.cols()) != dim()) fail("f (or f_bar) must be batch × dim");
    if (Index(r.size()) != integrand_size())
      fail("the integrand needs " + std::to_string(integrand_size()) + " entries ([Δlogp, R] per example), got " +
           std::to_string(r.size()));
  }
  // The exact trace's VJP (see the header comment); the regularizer's VJP carries f̄ if active.
  void vjp_exact(T t, const Matrix& z, const Matrix& f_bar, const Vector& r_bar, bool accumulate, Matrix* f) const {
    const Index rows = batch(), D = dim();
    if (regularized()) {
      net_.regularizer().vjp(net_.workspace(), *adj_, t, z, f_bar,
                             backend::MatrixView<const T>(r_bar.data() + rows, rows, 1), accumulate, f);
      copy_z_bar(false);
    }
    B::for_each_2d(rows * D, D,
                   cnf_detail::ExactSeedKernel<T>{regularized() ? nullptr : f_bar.data(), r_bar.data(),
                                                  f_bar_exact_.data(), jv_bar_exact_.data(), D});
    B::for_each_2d(rows * D, D, cnf_detail::RepeatRowsKernel<T>{z.data(), repeated_.data(), D});
    exact_->jvp(t, repeated_, directions_);
    adj_exact_->jvp(t, f_bar_exact_, jv_bar_exact_, accumulate);
    const auto zb = adj_exact_->z_bar();
    B::for_each_2d(rows, D, cnf_detail::SumRowBlocksKernel<T>{zb.data(), z_bar_.data(), D, regularized()});
    if (f && !regularized()) {
      f->resize(rows, D);
      B::for_each_2d(rows, D, cnf_detail::EveryDthRowKernel<T>{exact_->output().coefficient(0), f->data(), D});
    }
  }
  void copy_z_bar(bool add) const {
    const auto zb = adj_->z_bar();
    if (add) B::axpy(z_bar_.size(), T(1), zb.data(), z_bar_.data());
    else B::copy(z_bar_.size(), zb.data(), z_bar_.data());
  }

  NetworkDynamics<T, B, Reg> net_;
  NetworkAdjoint<T, B>* adj_ = nullptr;
  TraceEstimator trace_;
  const Matrix* eps_ = nullptr;
  mutable Matrix z_bar_, jv_bar_;
  Matrix zeros_;
  // The exact trace: a workspace of batch D·B and order 1, its adjoint (if adj was given), the
  // repeated state, the unit directions and the output cotangents; θ̄ summed for gradient().
  std::unique_ptr<NetworkTaylor<T, B>> exact_;
  std::unique_ptr<NetworkAdjoint<T, B>> adj_exact_;
  mutable Matrix repeated_;
  Matrix directions_;
  mutable Matrix f_bar_exact_, jv_bar_exact_;
  mutable nn::Sequential<T> gradient_sum_;
};

// log p(x_b) = log N(z1_b; 0, I) − Δlogp_b(t1) = −½||z1_b||² − (D/2)·log 2π − Δlogp_b(t1), per
// example, on the host; r1 is a CnfDynamics integrand (Δlogp = its first batch entries).
template <class B = backend::Cpu, class M, class V>
auto log_density(const M& z1, const V& r1) {
  using T = std::remove_cvref_t<decltype(*z1.data())>;
  const Index rows = Index(z1.rows()), D = Index(z1.cols());
  if (Index(r1.size()) != rows && Index(r1.size()) != 2 * rows)
    throw std::invalid_argument("taynode::ad::log_density: r1 must have batch or 2·batch entries ([Δlogp, R])");
  const auto z = backend::to_host<B>(z1);
  Eigen::Matrix<T, Eigen::Dynamic, 1> r(r1.size());
  B::download(r.size(), r1.data(), r.data());
  const T log_norm = T(0.5) * T(D) * std::log(T(2) * std::numbers::pi_v<T>);
  Eigen::Matrix<T, Eigen::Dynamic, 1> lp(rows);
  for (Index b = 0; b < rows; ++b) lp[b] = -T(0.5) * z.row(b).squaredNorm() - log_norm - r[b];
  return lp;
}

// The CNF training objective as ad::solve_gradient's loss head:
//   L = −(1/B) Σ_b log p(x_b)  (nats)  +  (1/B) Σ_b R_b(t1)
// (R's weights live in its integrand; 0 without a regularizer). Fills the cotangents
// z̄1_b = z1_b/B, r̄ = 1/B on both channels, and records the two terms of the forward solve.
// (With ForwardPass::plain the forward does not integrate r: nll then lacks the Δlogp term and
// penalty is 0, as the reference's logged value; the gradient is the full one.)
// B is the batch's row count unless `batch` says otherwise: the rows solved here are then one
// shard of a global batch of `batch` rows (data-parallel training, dist/mpi.hpp), and nll,
// penalty and the gradient are this shard's parts of the global means — summed over the shards
// they are the whole batch's.
template <class T, class B = backend::Cpu>
struct CnfLoss {
  T nll = 0;        // mean negative log-likelihood, nats
  T penalty = 0;    // mean R(t1)
  Index batch = 0;  // the rows the means are over (0: the rows of z1)
  T value() const { return nll + penalty; }

  void operator()(const typename B::template Matrix<T>& z1, const typename B::template Vector<T>& r1,
                  typename B::template Matrix<T>& z1_bar, typename B::template Vector<T>& r1_bar) {
    const Index rows = Index(z1.rows());
    if (Index(r1_bar.size()) != Index(r1.size()) || Index(z1_bar.rows()) != rows || z1_bar.cols() != z1.cols())
      throw std::invalid_argument("taynode::ad::CnfLoss: cotangents shaped unlike (z1, r1)");
    if (batch != 0 && batch < rows)
      throw std::invalid_argument("taynode::ad::CnfLoss: batch " + std::to_string(batch) + " is less than the " +
                                  std::to_string(rows) + " rows solved");
    const T inv = T(1) / T(batch != 0 ? batch : rows);
    nll = -log_density<B>(z1, r1).sum() * inv;
    penalty = 0;
    if (Index(r1.size()) == 2 * rows) {
      std::vector<T> r(static_cast<std::size_t>(r1.size()));
      B::download(r1.size(), r1.data(), r.data());
      for (Index b = 0; b < rows; ++b) penalty += r[std::size_t(rows + b)] * inv;
    }
    B::copy(z1.size(), z1.data(), z1_bar.data());  // ∂(½||z||²)/∂z = z
    B::scale(z1_bar.size(), inv, z1_bar.data());
    B::fill(r1_bar.size(), inv, r1_bar.data());
  }
};

}  // namespace taynode::ad

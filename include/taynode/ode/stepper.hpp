#pragma once
// One generic explicit Runge–Kutta stepper, driven by a tableau (tableaus.hpp).
//
// The stepper owns the stage buffers (allocated once by init()), computes one step from (t, y)
// with step h, the scaled error of that step, and dense output inside it. It knows nothing about
// step-size policy or output times; solve() drives it. All coefficient loops are unrolled at
// compile time over the nonzero tableau entries, and every combination of stages is one fused
// pass of VectorSpace<State>::add_scaled, so the per-step work beyond f is a handful of passes
// over the state and no allocation.

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "taynode/config.hpp"
#include "taynode/ode/tableau.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode {

namespace ode_detail {

template <class Real, std::size_t N, std::size_t L>
constexpr std::array<Real, N> gather(const std::array<Coef, L>& v,
                                     const std::array<std::size_t, N>& idx) {
  std::array<Real, N> out{};
  for (std::size_t j = 0; j < N; ++j) out[j] = v[idx[j]].template as<Real>();
  return out;
}

// Nonzero pattern of the dense-output weights over the extended stage layout.
template <class M>
constexpr std::array<Coef, StageLayout<M>::total> dense_mask() {
  constexpr std::size_t T = StageLayout<M>::total;
  std::array<Coef, T> mask{};
  for (std::size_t j = 0; j < T; ++j) {
    bool nz = (j == 0) || (j == StageLayout<M>::endpoint);
    if (j < M::stages && !M::b[j].is_zero()) nz = true;
    for (const auto& drow : M::d)
      if (j < drow.size() && !drow[j].is_zero()) nz = true;
    mask[j] = nz ? Coef{1.0, 1.0} : Coef{0.0, 1.0};
  }
  return mask;
}

// The weights of a method's dense output over the extended stage layout: at t0 + θh of a step,
// y0 + h Σ w_j(θ) k_j, in Hairer's form y0 + θΔ + θ(1−θ)(hf0 − Δ) + θ²(1−θ)(2Δ − hf1 − hf0) +
// θ²(1−θ)²·P(θ) (P = 0: cubic Hermite interpolation). The forward interpolates with them and the
// reverse of a step pulls an output's cotangent back with them (the same bits).
template <class M, class Real>
struct DenseWeights {
  static constexpr auto mask = dense_mask<M>();
  static constexpr std::size_t n = count_nonzero(mask);
  static constexpr auto idx = nonzero_indices<n>(mask);
  static std::array<Real, n> at(Real theta) {
    constexpr std::size_t endpoint = StageLayout<M>::endpoint;
    const Real s = theta, s1 = Real(1) - theta;
    const Real a1 = s, a2 = s * s1, a3 = s * s * s1, a4 = s * s * s1 * s1;
    std::array<Real, M::d.size()> p{};
    if constexpr (M::d.size() > 0) {
      p[0] = a4;
      for (std::size_t m = 1; m < p.size(); ++m) p[m] = p[m - 1] * ((m % 2 == 1) ? s : s1);
    }
    std::array<Real, n> w{};
    for (std::size_t jj = 0; jj < n; ++jj) {
      const std::size_t j = idx[jj];
      const Real bj = j < M::stages ? M::b[j].template as<Real>() : Real(0);
      const Real d0 = j == 0 ? Real(1) : Real(0);
      const Real de = j == endpoint ? Real(1) : Real(0);
      Real wj = a1 * bj + a2 * (d0 - bj) + a3 * (Real(2) * bj - de - d0);
      for (std::size_t m = 0; m < p.size(); ++m)
        if (j < M::d[m].size()) wj += p[m] * M::d[m][j].template as<Real>();
      w[jj] = wj;
    }
    return w;
  }
};

// The stages of one step and of its dense output as one graph, for the reverse of a step whose
// dense output is read: over the extended layout (StageLayout), stage i has the input
// Y_i = y + h Σ_j a_ij k_j at t + c_i h — the method's stages, then f(t + h, y1) (a non-FSAL
// method's endpoint: row b, c = 1) and the extra dense stages (dense_a, dense_c: DOP853's) —
// y1 = y + h Σ b_i k_i, and `output[i]`: k_i enters the dense output. The method itself is the
// graph of a step whose dense output is not read (no `output`).
template <class M>
struct DenseStageGraph {
  static constexpr std::size_t stages = StageLayout<M>::total;
  struct Data {
    std::array<std::array<Coef, stages>, stages> a{};
    std::array<Coef, stages> b{}, c{};
    std::array<bool, stages> output{};
  };
  static constexpr Data data = [] {
    Data g;
    for (std::size_t i = 0; i < M::stages; ++i) {
      for (std::size_t j = 0; j < i; ++j) g.a[i][j] = M::a[i][j];
      g.b[i] = M::b[i];
      g.c[i] = M::c[i];
    }
    constexpr std::size_t e = StageLayout<M>::endpoint;
    if (!M::fsal) {
      for (std::size_t j = 0; j < M::stages; ++j) g.a[e][j] = M::b[j];
      g.c[e] = q(1);
    }
    for (std::size_t x = 0; x < M::dense_extra_stages; ++x) {
      for (std::size_t j = 0; j < M::dense_a[x].size() && j < stages; ++j) g.a[e + 1 + x][j] = M::dense_a[x][j];
      g.c[e + 1 + x] = M::dense_c[x];
    }
    const auto mask = dense_mask<M>();
    for (std::size_t j = 0; j < stages; ++j) g.output[j] = !mask[j].is_zero();
    return g;
  }();
  static constexpr auto a = data.a;
  static constexpr auto b = data.b;
  static constexpr auto c = data.c;
  static constexpr auto output = data.output;
};

// Whether stage i of graph G enters the dense output (false for a method's own graph).
template <class G>
constexpr bool enters_output(std::size_t i) {
  if constexpr (requires { G::output; })
    return G::output[i];
  else
    return false;
}

// The nonzero pattern of DOP853's 3rd-order error weights b − b̂3.
template <class M>
constexpr std::array<Coef, M::stages> dop853_e3_mask() {
  std::array<Coef, M::stages> mask{};
  for (std::size_t j = 0; j < M::stages; ++j)
    mask[j] = (!M::b[j].is_zero() || !M::b_hat3[j].is_zero()) ? Coef{1.0, 1.0} : Coef{0.0, 1.0};
  return mask;
}

// The input of stage I, Y_I = y + h Σ_{j<I} a_Ij k_j, over the nonzero a_Ij (the forward step
// and its reverse form it with the same coefficients, so the same bits).
template <class M, std::size_t I, class Real>
struct StageRow {
  static constexpr std::size_t n = count_nonzero(M::a[I], I);
  static constexpr auto idx = nonzero_indices<n>(M::a[I], I);
  static constexpr auto coef = gather<Real>(M::a[I], idx);
};

// Which stages the reverse of a step needs: stage i is needed if its k enters y1 (b_i ≠ 0), the
// dense output (a DenseStageGraph's `output`) or the input of a later needed stage (then it
// "feeds"). Dopri5's FSAL stage (b_7 = 0, read by no later stage) is none of them in the
// method's own graph.
template <class M>
struct StageUse {
  struct Flags {
    std::array<bool, M::stages> needed{}, feeds{};
  };
  static constexpr Flags flags = [] {
    Flags f;
    for (std::size_t i = M::stages; i-- > 0;) {
      bool fd = false;
      for (std::size_t j = i + 1; j < M::stages; ++j)
        if (f.needed[j] && !M::a[j][i].is_zero()) fd = true;
      f.feeds[i] = fd;
      f.needed[i] = fd || !M::b[i].is_zero() || enters_output<M>(i);
    }
    return f;
  }();
  static constexpr auto needed = flags.needed;
  static constexpr auto feeds = flags.feeds;
};

// The terms of k̄_I = h (b_I ȳ1 + Σ_{j>I needed} a_jI Ȳ_j + ō_I): index j < stages for Ȳ_j,
// index `stages` for ȳ1, index `stages + 1` for ō_I = Σ_outputs w_I(θ) ō, the cotangent the
// dense outputs read into k_I (DenseStageGraph only).
template <class M, std::size_t I, class Real>
struct StageCotangentTerms {
  static constexpr auto mask = [] {
    std::array<Coef, M::stages + 2> m{};
    for (std::size_t j = I + 1; j < M::stages; ++j)
      if (StageUse<M>::needed[j]) m[j] = M::a[j][I];
    m[M::stages] = M::b[I];
    if (enters_output<M>(I)) m[M::stages + 1] = q(1);
    return m;
  }();
  static constexpr std::size_t n = count_nonzero(mask);
  static constexpr auto idx = nonzero_indices<n>(mask);
  static constexpr auto coef = gather<Real>(mask, idx);
};

// sum / count. For a power-of-two count (2, 4, 8, … components) the product with the exact
// reciprocal: the same correctly rounded value, without a division's latency on the path from
// the error estimate to the next step size.
template <class Real>
TAYNODE_ODE_INLINE TAYNODE_HD Real mean_of(Real sum, std::ptrdiff_t count) {
  if (count > 0 && (count & (count - 1)) == 0) return sum * (Real(1) / Real(count));
  return sum / Real(count);
}

}  // namespace ode_detail

template <class Method, class State>
class RungeKuttaStepper {
 public:
  using VS = VectorSpace<State>;
  using Real = typename VS::Real;
  using Layout = StageLayout<Method>;
  static constexpr std::size_t stages = Method::stages;
  static constexpr std::size_t endpoint = Layout::endpoint;
  static constexpr std::size_t total = Layout::total;
  static constexpr bool adaptive = Method::error_estimate != ErrorEstimate::none;

  // Storage of the stages: k[0..stages-1]: stages; k[endpoint]: f(t+h, y1); after it: extra
  // dense-output stages. Stage 0 and the endpoint stage rotate between the slots k[0] and
  // k[endpoint] (rotate()), so always reach them through stage0() / endpoint_stage() (or
  // stage(j)); until the first rotate() they are k[0] and k[endpoint].
  std::array<State, total> k;
  // Storage of y1, the end point of the last step; reach it through y1() (it rotates with the
  // caller's state, see rotate()).
  State y_new;

  RungeKuttaStepper() = default;
  // The rotation pointers refer to this object's own buffers.
  RungeKuttaStepper(const RungeKuttaStepper&) = delete;
  RungeKuttaStepper& operator=(const RungeKuttaStepper&) = delete;

  void init(const State& y0) {
    for (auto& ki : k) VS::resize_like(ki, y0);
    VS::resize_like(y_new, y0);
    VS::resize_like(stage_input_, y0);
    // Scalar states are not resized: give them a defined value.
    for (auto& ki : k) ki = y0;
    y_new = y0;
    stage_input_ = y0;
    k0_ = &k[0];
    kend_ = &k[endpoint];
    y1_ = &y_new;
  }

  // Stage j of the last step (j = 0: f(t, y); j = endpoint: f(t+h, y1)).
  TAYNODE_ODE_INLINE State& stage(std::size_t j) {
    return j == 0 ? *k0_ : j == endpoint ? *kend_ : k[j];
  }
  TAYNODE_ODE_INLINE const State& stage(std::size_t j) const {
    return j == 0 ? *k0_ : j == endpoint ? *kend_ : k[j];
  }
  TAYNODE_ODE_INLINE State& stage0() { return *k0_; }
  TAYNODE_ODE_INLINE State& endpoint_stage() { return *kend_; }
  TAYNODE_ODE_INLINE State& y1() { return *y1_; }
  TAYNODE_ODE_INLINE const State& y1() const { return *y1_; }

  // Moves to the next step after an accepted one without copying states: `y` (a pointer to the
  // caller's current state) and y1() trade buffers, so *y is the new state and the old one
  // becomes the next y1 buffer; with `endpoint_ready` (f(t+h, y1) computed: FSAL, or on demand)
  // it also becomes the next step's stage 0. The caller's state must have the shape of y0.
  TAYNODE_ODE_INLINE void rotate(State*& y, bool endpoint_ready) {
    State* const old = y;
    y = y1_;
    y1_ = old;
    if (endpoint_ready) {
      State* const k0 = k0_;
      k0_ = kend_;
      kend_ = k0;
    }
  }

  // One step from (t, y) with step h: stages 2..s and y1(). stage0() must hold f(t, y).
  // f(t, y, dy) writes the derivative.
  template <class F>
  TAYNODE_ODE_INLINE void step(F& f, Real t, const State& y, Real h) {
    [&]<std::size_t... I>(std::index_sequence<I...>) TAYNODE_ODE_INLINE_LAMBDA {
      (stage<I + 1>(f, t, y, h), ...);
    }(std::make_index_sequence<stages - 1>{});
    if constexpr (!Method::fsal) {
      constexpr std::size_t n = count_nonzero(Method::b);
      static constexpr auto idx = nonzero_indices<n>(Method::b);
      static constexpr auto coef = ode_detail::gather<Real>(Method::b, idx);
      combine(*y1_, y, h, coef, idx);
    }
  }

  // The scaled error of the last step: Hairer's RMS norm with sk_i = atol_i + rtol_i·max(|y0_i|,
  // |y1_i|) for embedded pairs, and DOP853's stretched 5th/3rd-order estimate. `count` is the
  // number of components in the norm.
  TAYNODE_ODE_INLINE Real error(const State& y, Real h, const Tolerances<Real>& tol,
                                std::ptrdiff_t count) const {
    using std::abs;
    using std::sqrt;
    if constexpr (Method::error_estimate == ErrorEstimate::embedded) {
      constexpr std::size_t n = count_nonzero(Method::e);
      static constexpr auto idx = nonzero_indices<n>(Method::e);
      static constexpr auto coef = ode_detail::gather<Real>(Method::e, idx);
      const Real sum = error_sum(y, h, tol, coef, idx);
      return sqrt(ode_detail::mean_of(sum, count));
    } else if constexpr (Method::error_estimate == ErrorEstimate::dop853) {
      constexpr std::size_t n5 = count_nonzero(Method::e);
      static constexpr auto idx5 = nonzero_indices<n5>(Method::e);
      static constexpr auto coef5 = ode_detail::gather<Real>(Method::e, idx5);
      constexpr auto mask3 = ode_detail::dop853_e3_mask<Method>();
      constexpr std::size_t n3 = count_nonzero(mask3);
      static constexpr auto idx3 = nonzero_indices<n3>(mask3);
      static constexpr auto coef3 = [] {
        std::array<Real, n3> c{};
        for (std::size_t j = 0; j < n3; ++j)
          c[j] = Method::b[idx3[j]].template as<Real>() -
                 Method::b_hat3[idx3[j]].template as<Real>();
        return c;
      }();
      const Real err5 = error_sum(y, Real(1), tol, coef5, idx5);
      const Real err3 = error_sum(y, Real(1), tol, coef3, idx3);
      Real deno = err5 + Real(0.01) * err3;
      if (deno <= Real(0)) deno = Real(1);
      return abs(h) * err5 * sqrt(Real(1) / (Real(count) * deno));
    } else {
      return Real(0);
    }
  }

  // f(t+h, y1) into endpoint_stage() (free for FSAL methods: already there).
  template <class F>
  void compute_endpoint(F& f, Real t_new) {
    if constexpr (!Method::fsal) f(t_new, *y1_, *kend_);
  }

  // The extra stages a method's interpolant needs (DOP853: 3); needs k[endpoint].
  template <class F>
  void compute_dense_stages(F& f, Real t, const State& y, Real h) {
    if constexpr (Layout::dense_extra > 0) {
      [&]<std::size_t... I>(std::index_sequence<I...>) TAYNODE_ODE_INLINE_LAMBDA {
        (dense_stage<I>(f, t, y, h), ...);
      }(std::make_index_sequence<Layout::dense_extra>{});
    }
  }

  // Dense output at t0 + θh of the last step from y0 (needs k[endpoint] and the dense stages):
  // y0 + h Σ w_j(θ) k_j with the weights of ode_detail::DenseWeights.
  void interpolate(State& out, const State& y0, Real h, Real theta) const {
    using W = ode_detail::DenseWeights<Method, Real>;
    combine(out, y0, h, W::at(theta), W::idx);
  }

  // out = y + h Σ_j c_j k[idx_j], one fused pass (for step rules and interpolants of their own).
  template <std::size_t N>
  TAYNODE_ODE_INLINE void combine(State& out, const State& y, Real h, const std::array<Real, N>& c,
                                  const std::array<std::size_t, N>& idx) const {
    [&]<std::size_t... J>(std::index_sequence<J...>) TAYNODE_ODE_INLINE_LAMBDA {
      VS::add_scaled(out, y, h, c, stage(idx[J])...);
    }(std::make_index_sequence<N>{});
  }

  // Σ_i ((h Σ_j c_j k[idx_j])_i / sk_i)² with sk_i = atol_i + rtol_i·max(|y_i|, |y_new,i|): the
  // squared scaled error of the last step for error weights c (one fused pass; over all shards
  // of a split system).
  template <std::size_t N>
  TAYNODE_ODE_INLINE Real error_sum(const State& y, Real h, const Tolerances<Real>& tol,
                                    const std::array<Real, N>& c,
                                    const std::array<std::size_t, N>& idx) const {
    return tol.over_shards([&]<std::size_t... J>(std::index_sequence<J...>) TAYNODE_ODE_INLINE_LAMBDA {
      return VS::error_sq_sum(y, *y1_, h, tol, c, stage(idx[J])...);
    }(std::make_index_sequence<N>{}));
  }

 private:
  State stage_input_;
  State* k0_ = &k[0];
  State* kend_ = &k[endpoint];
  State* y1_ = &y_new;

  template <std::size_t I, class F>
  TAYNODE_ODE_INLINE void stage(F& f, Real t, const State& y, Real h) {
    using Row = ode_detail::StageRow<Method, I, Real>;
    // An FSAL method's last stage input is y1 itself.
    State& input = (Method::fsal && I == stages - 1) ? *y1_ : stage_input_;
    combine(input, y, h, Row::coef, Row::idx);
    f(t + Method::c[I].template as<Real>() * h, input, stage(I));
  }

  template <std::size_t I, class F>
  void dense_stage(F& f, Real t, const State& y, Real h) {
    constexpr auto& arow = Method::dense_a[I];
    constexpr std::size_t n = count_nonzero(arow);
    static constexpr auto idx = nonzero_indices<n>(arow);
    static constexpr auto coef = ode_detail::gather<Real>(arow, idx);
    combine(stage_input_, y, h, coef, idx);
    f(t + Method::dense_c[I].template as<Real>() * h, stage_input_, k[endpoint + 1 + I]);
  }
};

// The reverse of one step of RungeKuttaStepper (discretize-then-optimize): the stage inputs are
// recomputed from the step's start with the forward's combinations, then the cotangent of y1 is
// pulled back through the stages, last to first:
//   y1 = y + h Σ b_i k_i,  k_i = f(t + c_i h, Y_i),  Y_i = y + h Σ_{j<i} a_ij k_j
//   k̄_i = h (b_i ȳ1 + Σ_{j>i} a_ji Ȳ_j),  Ȳ_i = (∂f/∂Y at Y_i)ᵀ k̄_i,  ȳ = ȳ1 + Σ_i Ȳ_i
// (one fused VectorSpace pass per k̄_i and one for ȳ). Stages that neither enter y1 nor feed a
// needed stage (Dopri5's FSAL stage) are skipped; f is evaluated only at stages whose k a later
// needed stage reads. The step sizes are constants (the controller is not differentiated).
//
// With DenseOutput the step's dense output y + h Σ w_j(θ) k_j (RungeKuttaStepper::interpolate)
// is read as well, at any number of θ in the step: add_output_cotangent(θ, ō) for each, between
// recompute and reverse. The reverse then runs over the stages of DenseStageGraph (the endpoint
// f(t + h, y1) and DOP853's extra stages included) with k̄_i += h Σ w_i(θ) ō and ȳ += Σ ō.
template <class Method, class State, bool DenseOutput = false>
class RungeKuttaStepAdjoint {
 public:
  using VS = VectorSpace<State>;
  using Real = typename VS::Real;
  using Graph = std::conditional_t<DenseOutput, ode_detail::DenseStageGraph<Method>, Method>;
  static constexpr std::size_t stages = Graph::stages;
  using Use = ode_detail::StageUse<Graph>;

  // Buffers shaped like `like` (a state or a cotangent).
  void init(const State& like) {
    for (auto* group : {&Y_, &k_, &Ybar_})
      for (auto& x : *group) {
        VS::resize_like(x, like);
        x = like;
      }
    VS::resize_like(kbar_, like);
    kbar_ = like;
    if constexpr (DenseOutput) {
      for (auto& x : output_bar_) {
        VS::resize_like(x, like);
        x = like;
      }
      VS::resize_like(y_output_bar_, like);
      y_output_bar_ = like;
    }
  }

  // The inputs of the needed stages of the step (t, y, h), and f(t_i, Y_i, k_i) at the stages
  // that feed later ones. Returns the number of f calls.
  template <class F>
  std::size_t recompute(F& f, Real t, const State& y, Real h) {
    outputs_ = 0;
    std::size_t calls = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (recompute_stage<I>(f, t, y, h, calls), ...);
    }(std::make_index_sequence<stages>{});
    return calls;
  }

  // The same from the stage derivatives the forward sweep kept: k(j) for every stage j that feeds
  // a later one (StageUse::feeds; RungeKuttaStepper::stage(j) after the step), so f is not
  // evaluated again. Not with DenseOutput (its graph has stages the forward step did not compute).
  template <class K>
    requires(!DenseOutput)
  void restore(const State& y, Real h, K&& k) {
    outputs_ = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (restore_stage<I>(y, h, k), ...);
    }(std::make_index_sequence<stages>{});
  }

  // The dense output at t + θh of the step gets the cotangent ō (DenseOutput only; after
  // recompute, before reverse): ō_j += w_j(θ) ō per stage and ȳ's extra term += ō.
  void add_output_cotangent(Real theta, const State& out_bar)
    requires DenseOutput
  {
    using W = ode_detail::DenseWeights<Method, Real>;
    const auto w = W::at(theta);
    for (std::size_t jj = 0; jj < W::n; ++jj) {
      State& o = output_bar_[W::idx[jj]];
      if (outputs_ == 0)
        VS::scaled_sum(o, w[jj], std::array<Real, 1>{Real(1)}, out_bar);
      else
        VS::add_scaled(o, o, w[jj], std::array<Real, 1>{Real(1)}, out_bar);
    }
    if (outputs_ == 0)
      VS::scaled_sum(y_output_bar_, Real(1), std::array<Real, 1>{Real(1)}, out_bar);
    else
      VS::add_scaled(y_output_bar_, y_output_bar_, Real(1), std::array<Real, 1>{Real(1)}, out_bar);
    ++outputs_;
  }

  // After recompute(f, t, y, h): ybar holds ȳ1 on entry and ȳ (the cotangent of y) on exit.
  // vjp(t_i, Y_i, k̄_i, Ȳ_i) writes Ȳ_i = (∂f/∂Y at (t_i, Y_i))ᵀ k̄_i (and accumulates any
  // parameter cotangents itself). Returns the number of vjp calls.
  template <class Vjp>
  std::size_t reverse(Vjp& vjp, Real t, const State& y, Real h, State& ybar) {
    if constexpr (DenseOutput)
      if (outputs_ == 0)
        throw std::logic_error("taynode::RungeKuttaStepAdjoint: a dense-output reverse without an output cotangent");
    std::size_t calls = 0;
    [&]<std::size_t... R>(std::index_sequence<R...>) {
      (reverse_stage<stages - 1 - R>(vjp, t, y, h, ybar, calls), ...);
    }(std::make_index_sequence<stages>{});
    constexpr auto mask = [] {
      std::array<Coef, stages> m{};
      for (std::size_t j = 0; j < stages; ++j) m[j] = Use::needed[j] ? Coef{1.0, 1.0} : Coef{0.0, 1.0};
      return m;
    }();
    constexpr std::size_t n = count_nonzero(mask);
    static constexpr auto idx = nonzero_indices<n>(mask);
    if constexpr (DenseOutput) {
      static constexpr auto ones1 = [] {
        std::array<Real, n + 1> o{};
        for (auto& x : o) x = Real(1);
        return o;
      }();
      [&]<std::size_t... J>(std::index_sequence<J...>) {
        VS::add_scaled(ybar, ybar, Real(1), ones1, Ybar_[idx[J]]..., y_output_bar_);
      }(std::make_index_sequence<n>{});
    } else {
      static constexpr auto ones = ode_detail::gather<Real>(mask, idx);
      [&]<std::size_t... J>(std::index_sequence<J...>) {
        VS::add_scaled(ybar, ybar, Real(1), ones, Ybar_[idx[J]]...);
      }(std::make_index_sequence<n>{});
    }
    return calls;
  }

 private:
  struct NoOutputs {};
  std::array<State, stages> Y_, k_, Ybar_;  // stage inputs, derivatives, input cotangents
  State kbar_;
  // ō_j per stage and Σ ō (DenseOutput), and how many outputs the step has.
  [[no_unique_address]] std::conditional_t<DenseOutput, std::array<State, stages>, NoOutputs> output_bar_;
  [[no_unique_address]] std::conditional_t<DenseOutput, State, NoOutputs> y_output_bar_;
  std::size_t outputs_ = 0;

  static Real stage_time(std::size_t i, Real t, Real h) {
    return i == 0 ? t : t + Graph::c[i].template as<Real>() * h;
  }

  // Y_I = y + h Σ_j a_Ij k(j), the forward's combination (k: the stage derivatives).
  template <std::size_t I, class K>
  void stage_input(const State& y, Real h, K&& k) {
    using Row = ode_detail::StageRow<Graph, I, Real>;
    [&]<std::size_t... J>(std::index_sequence<J...>) {
      VS::add_scaled(Y_[I], y, h, Row::coef, k(Row::idx[J])...);
    }(std::make_index_sequence<Row::n>{});
  }

  template <std::size_t I, class F>
  void recompute_stage(F& f, Real t, const State& y, Real h, std::size_t& calls) {
    if constexpr (Use::needed[I]) {
      if constexpr (I > 0) stage_input<I>(y, h, [&](std::size_t j) -> const State& { return k_[j]; });
      if constexpr (Use::feeds[I]) {
        f(stage_time(I, t, h), I == 0 ? y : Y_[I], k_[I]);
        ++calls;
      }
    }
  }

  template <std::size_t I, class K>
  void restore_stage(const State& y, Real h, K& k) {
    if constexpr (Use::needed[I] && I > 0) stage_input<I>(y, h, k);
  }

  template <std::size_t I, std::size_t J>
  const State& cotangent_term(const State& ybar) const {
    if constexpr (J == stages)
      return ybar;
    else if constexpr (J == stages + 1)
      return output_bar_[I];
    else
      return Ybar_[J];
  }

  template <std::size_t I, class Vjp>
  void reverse_stage(Vjp& vjp, Real t, const State& y, Real h, const State& ybar,
                     std::size_t& calls) {
    if constexpr (Use::needed[I]) {
      using Terms = ode_detail::StageCotangentTerms<Graph, I, Real>;
      [&]<std::size_t... J>(std::index_sequence<J...>) {
        VS::scaled_sum(kbar_, h, Terms::coef, cotangent_term<I, Terms::idx[J]>(ybar)...);
      }(std::make_index_sequence<Terms::n>{});
      vjp(stage_time(I, t, h), I == 0 ? y : Y_[I], std::as_const(kbar_), Ybar_[I]);
      ++calls;
    }
  }
};

}  // namespace taynode

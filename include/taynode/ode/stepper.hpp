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
#include <utility>

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

// Which stages the reverse of a step needs: stage i is needed if its k enters y1 (b_i ≠ 0) or
// the input of a later needed stage (then it "feeds"). Dopri5's FSAL stage (b_7 = 0, read by no
// later stage) is neither.
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
      f.needed[i] = fd || !M::b[i].is_zero();
    }
    return f;
  }();
  static constexpr auto needed = flags.needed;
  static constexpr auto feeds = flags.feeds;
};

// The terms of k̄_I = h (b_I ȳ1 + Σ_{j>I needed} a_jI Ȳ_j): index j < stages for Ȳ_j, index
// `stages` for ȳ1.
template <class M, std::size_t I, class Real>
struct StageCotangentTerms {
  static constexpr auto mask = [] {
    std::array<Coef, M::stages + 1> m{};
    for (std::size_t j = I + 1; j < M::stages; ++j)
      if (StageUse<M>::needed[j]) m[j] = M::a[j][I];
    m[M::stages] = M::b[I];
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
TAYNODE_ODE_INLINE Real mean_of(Real sum, std::ptrdiff_t count) {
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
  // Hairer's form y0 + θΔ + θ(1−θ)(hf0 − Δ) + θ²(1−θ)(2Δ − hf1 − hf0) + θ²(1−θ)²·P(θ), written
  // as y0 + h Σ w_j(θ) k_j. P = 0 gives cubic Hermite interpolation.
  void interpolate(State& out, const State& y0, Real h, Real theta) const {
    constexpr auto mask = ode_detail::dense_mask<Method>();
    constexpr std::size_t n = count_nonzero(mask);
    static constexpr auto idx = nonzero_indices<n>(mask);
    const Real s = theta, s1 = Real(1) - theta;
    const Real a1 = s, a2 = s * s1, a3 = s * s * s1, a4 = s * s * s1 * s1;
    std::array<Real, Method::d.size()> p{};
    if constexpr (Method::d.size() > 0) {
      p[0] = a4;
      for (std::size_t m = 1; m < p.size(); ++m) p[m] = p[m - 1] * ((m % 2 == 1) ? s : s1);
    }
    std::array<Real, n> w{};
    for (std::size_t jj = 0; jj < n; ++jj) {
      const std::size_t j = idx[jj];
      const Real bj = j < stages ? Method::b[j].template as<Real>() : Real(0);
      const Real d0 = j == 0 ? Real(1) : Real(0);
      const Real de = j == endpoint ? Real(1) : Real(0);
      Real wj = a1 * bj + a2 * (d0 - bj) + a3 * (Real(2) * bj - de - d0);
      for (std::size_t m = 0; m < p.size(); ++m)
        if (j < Method::d[m].size()) wj += p[m] * Method::d[m][j].template as<Real>();
      w[jj] = wj;
    }
    combine(out, y0, h, w, idx);
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
  // squared scaled error of the last step for error weights c (one fused pass).
  template <std::size_t N>
  TAYNODE_ODE_INLINE Real error_sum(const State& y, Real h, const Tolerances<Real>& tol,
                                    const std::array<Real, N>& c,
                                    const std::array<std::size_t, N>& idx) const {
    return [&]<std::size_t... J>(std::index_sequence<J...>) TAYNODE_ODE_INLINE_LAMBDA {
      return VS::error_sq_sum(y, *y1_, h, tol, c, stage(idx[J])...);
    }(std::make_index_sequence<N>{});
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
template <class Method, class State>
class RungeKuttaStepAdjoint {
 public:
  using VS = VectorSpace<State>;
  using Real = typename VS::Real;
  static constexpr std::size_t stages = Method::stages;
  using Use = ode_detail::StageUse<Method>;

  // Buffers shaped like `like` (a state or a cotangent).
  void init(const State& like) {
    for (auto* group : {&Y_, &k_, &Ybar_})
      for (auto& x : *group) {
        VS::resize_like(x, like);
        x = like;
      }
    VS::resize_like(kbar_, like);
    kbar_ = like;
  }

  // The inputs of the needed stages of the step (t, y, h), and f(t_i, Y_i, k_i) at the stages
  // that feed later ones. Returns the number of f calls.
  template <class F>
  std::size_t recompute(F& f, Real t, const State& y, Real h) {
    std::size_t calls = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (recompute_stage<I>(f, t, y, h, calls), ...);
    }(std::make_index_sequence<stages>{});
    return calls;
  }

  // After recompute(f, t, y, h): ybar holds ȳ1 on entry and ȳ (the cotangent of y) on exit.
  // vjp(t_i, Y_i, k̄_i, Ȳ_i) writes Ȳ_i = (∂f/∂Y at (t_i, Y_i))ᵀ k̄_i (and accumulates any
  // parameter cotangents itself). Returns the number of vjp calls.
  template <class Vjp>
  std::size_t reverse(Vjp& vjp, Real t, const State& y, Real h, State& ybar) {
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
    static constexpr auto ones = ode_detail::gather<Real>(mask, idx);
    [&]<std::size_t... J>(std::index_sequence<J...>) {
      VS::add_scaled(ybar, ybar, Real(1), ones, Ybar_[idx[J]]...);
    }(std::make_index_sequence<n>{});
    return calls;
  }

 private:
  std::array<State, stages> Y_, k_, Ybar_;  // stage inputs, derivatives, input cotangents
  State kbar_;

  static Real stage_time(std::size_t i, Real t, Real h) {
    return i == 0 ? t : t + Method::c[i].template as<Real>() * h;
  }

  template <std::size_t I, class F>
  void recompute_stage(F& f, Real t, const State& y, Real h, std::size_t& calls) {
    if constexpr (Use::needed[I]) {
      if constexpr (I > 0) {
        using Row = ode_detail::StageRow<Method, I, Real>;
        [&]<std::size_t... J>(std::index_sequence<J...>) {
          VS::add_scaled(Y_[I], y, h, Row::coef, k_[Row::idx[J]]...);
        }(std::make_index_sequence<Row::n>{});
      }
      if constexpr (Use::feeds[I]) {
        f(stage_time(I, t, h), I == 0 ? y : Y_[I], k_[I]);
        ++calls;
      }
    }
  }

  template <std::size_t J>
  const State& cotangent_term(const State& ybar) const {
    if constexpr (J == stages)
      return ybar;
    else
      return Ybar_[J];
  }

  template <std::size_t I, class Vjp>
  void reverse_stage(Vjp& vjp, Real t, const State& y, Real h, const State& ybar,
                     std::size_t& calls) {
    if constexpr (Use::needed[I]) {
      using Terms = ode_detail::StageCotangentTerms<Method, I, Real>;
      [&]<std::size_t... J>(std::index_sequence<J...>) {
        VS::scaled_sum(kbar_, h, Terms::coef, cotangent_term<Terms::idx[J]>(ybar)...);
      }(std::make_index_sequence<Terms::n>{});
      vjp(stage_time(I, t, h), I == 0 ? y : Y_[I], std::as_const(kbar_), Ybar_[I]);
      ++calls;
    }
  }
};

}  // namespace taynode

#pragma once
// The state concept of the solvers: a few fused vector-space operations.
//
// VectorSpace<State> provides
//   Real                                   the real type of time, step sizes and tolerances
//   size(x)                                number of scalar components (the RMS divisor)
//   resize_like(dst, src)                  allocate dst with the shape of src (once per solve)
//   add_scaled(out, y, h, c, k...)         out = y + h·(Σ c_j k_j)  — one fused pass
//   scaled_sum(out, h, c, k...)            out = h·(Σ c_j k_j)  — one fused pass (the reverse
//                                          sweep of a step, RungeKuttaStepAdjoint, only)
//   error_sq_sum(y0, y1, h, tol, c, k...)  Σ_i ((Σ_j c_j k_j,i)·h / sk_i)², sk_i = atol_i +
//                                          rtol_i·max(|y0_i|, |y1_i|)   — one fused pass
//   scaled_sq_norm(x, y0, tol)             Σ_i (x_i / sk_i)²,  sk_i = atol_i + rtol_i·|y0_i|
//   scaled_sq_norm_diff(a, b, y0, tol)     Σ_i ((a_i − b_i) / sk_i)²
//   all_finite(x)                          no NaN or Inf
// A backend (e.g. device arrays) implements these; the stepper never touches components.
//
// Implemented here for arithmetic scalars, scalar-like types with .value() (Jet, Dual), and
// dense Eigen matrices/arrays of those (vectors, and batch × features matrices solved as one
// system). Augmented states are in augmented.hpp.

#include <array>
#include <cmath>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "taynode/backend/cpu_threads.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Forces inlining of the per-stage vector operations into the step: with the coefficients known
// at compile time they become broadcast constants instead of loads through a std::array.
// TAYNODE_ODE_INLINE_LAMBDA does the same for the index-sequence lambdas inside them (placed
// after the lambda's parameter list).
#if defined(__GNUC__) || defined(__clang__)
#define TAYNODE_ODE_INLINE inline __attribute__((always_inline))
#define TAYNODE_ODE_INLINE_LAMBDA __attribute__((always_inline))
#elif defined(_MSC_VER)
#define TAYNODE_ODE_INLINE __forceinline
#define TAYNODE_ODE_INLINE_LAMBDA
#else
#define TAYNODE_ODE_INLINE inline
#define TAYNODE_ODE_INLINE_LAMBDA
#endif

namespace taynode {

// One system split over processes (data-parallel training; dist/sharded.hpp makes one for MPI
// ranks): each process holds a shard of the state's components, and `sum` adds n numbers over
// the shards in place (one collective). Given in SolveOptions::shards, every reduction the
// solvers make — the error norm's sum and its component count, the initial step size's norms,
// the finiteness checks of the initial state and the result — is summed over the shards, so
// every shard accepts and rejects the same steps as the joint system would.
struct ShardReduction {
  std::function<void(double*, std::size_t)> sum;
};

// Tolerances, scalar or per component (flattened in the state's storage order).
template <class Real>
struct Tolerances {
  Real rtol{};
  Real atol{};
  const Real* rtol_vec = nullptr;
  const Real* atol_vec = nullptr;
  const ShardReduction* shards = nullptr;  // the state is one shard of a split system

  // A reduction of this shard's components (a sum of squares, a count) over all shards.
  Real over_shards(Real local) const { return Real(sum_over_shards<1>({double(local)})[0]); }
  std::ptrdiff_t over_shards(std::ptrdiff_t local) const {
    return std::ptrdiff_t(sum_over_shards<1>({double(local)})[0]);
  }
  // Two such reductions in one collective.
  std::pair<Real, Real> over_shards(Real a, Real b) const {
    const auto v = sum_over_shards<2>({double(a), double(b)});
    return {Real(v[0]), Real(v[1])};
  }
  // Whether every shard's components are finite.
  bool all_over_shards(bool local) const { return sum_over_shards<1>({local ? 0.0 : 1.0})[0] == 0.0; }

  // The elementwise sum of v over the shards (v itself without shards): one collective.
  template <std::size_t N>
  std::array<double, N> sum_over_shards(std::array<double, N> v) const {
    if (shards) shards->sum(v.data(), N);
    return v;
  }

  // The tolerances of the components from `offset` on (for composite states).
  Tolerances shifted(std::ptrdiff_t offset) const {
    Tolerances t = *this;
    if (t.rtol_vec) t.rtol_vec += offset;
    if (t.atol_vec) t.atol_vec += offset;
    return t;
  }
  Real rtol_at(std::ptrdiff_t i) const { return rtol_vec ? rtol_vec[i] : rtol; }
  Real atol_at(std::ptrdiff_t i) const { return atol_vec ? atol_vec[i] : atol; }
};

namespace ode_detail {

template <class S>
concept HasValue = requires(const S& s) { s.value(); };

// Real part of a scalar: itself for arithmetic types, the value (0-th coefficient) of a Jet or
// Dual, recursively for nested types. Error norms and step sizes live in this type.
template <class S>
struct RealOf {
  using type = S;
};
template <class S>
  requires(!std::is_arithmetic_v<S> && HasValue<S>)
struct RealOf<S> {
  using type = typename RealOf<std::decay_t<decltype(std::declval<const S&>().value())>>::type;
};

template <class S>
constexpr auto real_part(const S& s) {
  if constexpr (std::is_arithmetic_v<S>)
    return s;
  else
    return real_part(s.value());
}

template <class S>
concept ScalarLike =
    std::is_floating_point_v<S> || (HasValue<S> && !std::is_base_of_v<Eigen::EigenBase<S>, S>);

template <class S>
concept EigenDense = std::is_base_of_v<Eigen::PlainObjectBase<S>, S>;

template <class S>
inline constexpr bool dependent_false = false;

// A scalar read the vectorizer may not merge with its neighbours into one packet load (an empty
// asm that claims to modify the value in an SSE register; no instruction is emitted).
template <class T>
TAYNODE_ODE_INLINE T scalar_load(T v) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float>) asm("" : "+x"(v));
#endif
  return v;
}

#if defined(__SSE2__)
// Two adjacent doubles as one packet: one 16-byte load, or (Fresh) two 8-byte loads, which store
// forwarding serves from two pending 8-byte stores.
template <bool Fresh>
TAYNODE_ODE_INLINE __m128d load_pair(const double* p) {
  if constexpr (Fresh) {
    // Written as asm: the compiler would otherwise merge the two loads into one 16-byte load.
    __m128d v = _mm_load_sd(p);
#if defined(__AVX__)
    asm("vmovhpd %1, %0, %0" : "+x"(v) : "m"(p[1]));
#else
    asm("movhpd %1, %0" : "+x"(v) : "m"(p[1]));
#endif
    return v;
  } else
    return _mm_loadu_pd(p);
}
#endif

}  // namespace ode_detail

template <class State>
struct VectorSpace {
  static_assert(ode_detail::dependent_false<State>,
                "taynode::VectorSpace: no vector-space operations for this state type; use a "
                "floating-point scalar, a Jet, a dense Eigen matrix or array, or specialize "
                "taynode::VectorSpace");
};

// ---- scalars: double, float, Jet, Dual ------------------------------------------------------
template <ode_detail::ScalarLike S>
struct VectorSpace<S> {
  using Scalar = S;
  using Real = typename ode_detail::RealOf<S>::type;

  static std::ptrdiff_t size(const S&) { return 1; }
  static void resize_like(S&, const S&) {}

  template <std::size_t N, class... K>
  TAYNODE_ODE_INLINE static void add_scaled(S& out, const S& y, Real h, const std::array<Real, N>& c, const K&... k) {
    static_assert(N == sizeof...(K));
    if constexpr (N == 0) {
      out = y;
    } else if constexpr (N == 1) {
      out = y + (h * c[0]) * (k, ...);  // Hairer's Y + H*A21*K1 association
    } else {
      [&]<std::size_t... I>(std::index_sequence<I...>) TAYNODE_ODE_INLINE_LAMBDA {
        out = y + h * (... + (c[I] * k));
      }(std::make_index_sequence<N>{});
    }
  }

  template <std::size_t N, class... K>
  static void scaled_sum(S& out, Real h, const std::array<Real, N>& c, const K&... k) {
    static_assert(N == sizeof...(K) && N > 0);
    if constexpr (N == 1) {
      out = (h * c[0]) * (k, ...);
    } else {
      [&]<std::size_t... I>(std::index_sequence<I...>) { out = h * (... + (c[I] * k)); }(
          std::make_index_sequence<N>{});
    }
  }

  template <std::size_t N, class... K>
  TAYNODE_ODE_INLINE static Real error_sq_sum(const S& y0, const S& y1, Real h, const Tolerances<Real>& tol,
                           const std::array<Real, N>& c, const K&... k) {
    using std::abs;
    using std::max;
    Real err{};
    [&]<std::size_t... I>(std::index_sequence<I...>) TAYNODE_ODE_INLINE_LAMBDA {
      err = (... + (c[I] * ode_detail::real_part(k))) * h;
    }(std::make_index_sequence<N>{});
    const Real sk = tol.atol_at(0) + tol.rtol_at(0) * max(abs(ode_detail::real_part(y0)),
                                                          abs(ode_detail::real_part(y1)));
    const Real ratio = err / sk;
    return ratio * ratio;
  }

  static Real scaled_sq_norm(const S& x, const S& y0, const Tolerances<Real>& tol) {
    using std::abs;
    const Real sk = tol.atol_at(0) + tol.rtol_at(0) * abs(ode_detail::real_part(y0));
    const Real ratio = ode_detail::real_part(x) / sk;
    return ratio * ratio;
  }
  static Real scaled_sq_norm_diff(const S& a, const S& b, const S& y0,
                                  const Tolerances<Real>& tol) {
    using std::abs;
    const Real sk = tol.atol_at(0) + tol.rtol_at(0) * abs(ode_detail::real_part(y0));
    const Real ratio = (ode_detail::real_part(a) - ode_detail::real_part(b)) / sk;
    return ratio * ratio;
  }
  static bool all_finite(const S& x) {
    if constexpr (std::is_arithmetic_v<S>) {
      return std::isfinite(x);
    } else {
      using std::isfinite;
      return isfinite(x);
    }
  }
};

// ---- dense Eigen matrices and arrays ----------------------------------------------------------
template <ode_detail::EigenDense S>
struct VectorSpace<S> {
  using Scalar = typename S::Scalar;
  using Real = typename ode_detail::RealOf<Scalar>::type;
  static constexpr bool plain = std::is_same_v<Scalar, Real>;
  // Small fixed-size states of plain reals: stage combinations component by component (where
  // sse2_pairs does not apply: odd sizes, float, no SSE2).
  static constexpr bool scalar_loop =
      plain && S::SizeAtCompileTime != Eigen::Dynamic && S::SizeAtCompileTime <= 8;
#if defined(__SSE2__)
  // Small fixed-size states of an even number of doubles: stage combinations in SSE2 packets
  // written out (add_scaled). (Larger states keep Eigen's loop: fully unrolled packets were not
  // faster on the 28-component Pleiades problem.)
  static constexpr bool sse2_pairs = scalar_loop && std::is_same_v<Real, double> &&
                                     S::SizeAtCompileTime % 2 == 0;
  // Small states: the most recent stage is read with two 8-byte loads (add_scaled).
  static constexpr bool split_fresh = S::SizeAtCompileTime <= 8;
#else
  static constexpr bool sse2_pairs = false;
#endif
  // Dynamic-size states of plain reals in contiguous storage: stage combinations as one loop.
  static constexpr bool dynamic_plain =
      plain && S::SizeAtCompileTime == Eigen::Dynamic && bool(S::Flags & Eigen::DirectAccessBit) &&
      bool(S::Flags & Eigen::LinearAccessBit);
  using RealArray = Eigen::Array<Real, Eigen::Dynamic, Eigen::Dynamic,
                                 (S::IsRowMajor ? Eigen::RowMajor : Eigen::ColMajor)>;
  using TolMap = Eigen::Map<const RealArray>;

  static std::ptrdiff_t size(const S& x) { return static_cast<std::ptrdiff_t>(x.size()); }
  static void resize_like(S& dst, const S& src) { dst.resizeLike(src); }

  template <std::size_t N, class... K>
  TAYNODE_ODE_INLINE static void add_scaled(S& out, const S& y, Real h, const std::array<Real, N>& c, const K&... k) {
    static_assert(N == sizeof...(K));
    if constexpr (N == 0) {
      out = y;
    } else if constexpr (sse2_pairs) {
      // SSE2 packets of two components with the same operations per component as the Eigen
      // expressions below (so the same bits), fully unrolled. On small states the most recent
      // stage — the last one in the pack, just written by f component by component — is read
      // with two 8-byte loads: a 16-byte load of two pending 8-byte stores cannot be forwarded
      // and waits for them (≈ 15–30 % of the time per step on 2- and 4-component problems).
      Real* const o = out.data();
      const Real* const yp = y.data();
      const Real* const ptr[] = {k.data()...};
      const __m128d hv = _mm_set1_pd(N == 1 ? h * c[0] : h);
      auto packet = [&](std::size_t i) TAYNODE_ODE_INLINE_LAMBDA {
        __m128d acc;
        if constexpr (N == 1) {
          acc = ode_detail::load_pair<split_fresh>(ptr[0] + i);  // y + (h·c0)·k (Hairer's order)
        } else {
          [&]<std::size_t... I>(std::index_sequence<I...>) TAYNODE_ODE_INLINE_LAMBDA {
            ((acc = I == 0 ? _mm_mul_pd(_mm_set1_pd(c[I]),
                                        ode_detail::load_pair<split_fresh && I + 1 == N>(ptr[I] + i))
                           : _mm_add_pd(acc, _mm_mul_pd(_mm_set1_pd(c[I]),
                                                        ode_detail::load_pair<split_fresh && I + 1 == N>(
                                                            ptr[I] + i)))),
             ...);
          }(std::make_index_sequence<N>{});
        }
        _mm_storeu_pd(o + i, _mm_add_pd(_mm_loadu_pd(yp + i), _mm_mul_pd(hv, acc)));
      };
      [&]<std::size_t... J>(std::index_sequence<J...>) TAYNODE_ODE_INLINE_LAMBDA {
        (packet(2 * J), ...);
      }(std::make_index_sequence<std::size_t(S::SizeAtCompileTime) / 2>{});
    } else if constexpr (scalar_loop) {
      // The same operations per component as the Eigen expressions below, one component at a
      // time: f usually writes a small state component by component, and a packet load of the
      // stage it has just written would wait for store forwarding to fail (≈ 15–30 % of the
      // time per step on 2- and 4-component problems).
      Real* const o = out.data();
      const Real* const yp = y.data();
      for (Eigen::Index i = 0; i < S::SizeAtCompileTime; ++i) {
        if constexpr (N == 1)
          o[i] = yp[i] + (h * c[0]) * ode_detail::scalar_load((k.data()[i], ...));
        else
          [&]<std::size_t... I>(std::index_sequence<I...>) TAYNODE_ODE_INLINE_LAMBDA {
            o[i] = yp[i] + h * (... + (c[I] * ode_detail::scalar_load(k.data()[i])));
          }(std::make_index_sequence<N>{});
      }
    } else if constexpr (dynamic_plain) {
      // Dynamic states of plain reals (a batch × features matrix): one loop over the components
      // with the same operations as the Eigen expression below, so the same bits, without an
      // expression type (and its evaluator instantiations) per stage shape: those cost a training
      // program ≈ 3 s and 130 MB of compile time per translation unit (benchmarks/RESULTS.md,
      // "Compile cost"), for passes that are a few per mille of a network evaluation's work.
      combine_loop<false>(out.data(), y.data(), y.size(), h, c, k.data()...);
    } else if constexpr (N == 1) {
      out.array() = y.array() + (h * c[0]) * (k.array(), ...);
    } else {
      [&]<std::size_t... I>(std::index_sequence<I...>) TAYNODE_ODE_INLINE_LAMBDA {
        out.array() = y.array() + h * (... + (c[I] * k.array()));
      }(std::make_index_sequence<N>{});
    }
  }

  // out_i = (y_i +) h·(Σ_j c_j k_j,i), or (y_i +) (h·c_0)·k_0,i for one stage: the operations of the
  // Eigen expressions of add_scaled / scaled_sum, component by component.
  // Split over taynode::cpu_threads() (components independent: the same bits for any count). The
  // body takes its operands as parameters, not from a closure (see backend::Cpu::axpy).
  template <bool ScaledSum, std::size_t N, class... P>
  static void combine_loop(Real* out, const Real* y, Eigen::Index n, Real h, const std::array<Real, N>& c,
                           const P*... k) {
    const std::array<const Real*, N> ptr{k...};
    backend::cpu_detail::parallel_ranges(n, 64, double(N + 1), 16384.0, [=](Eigen::Index i0, Eigen::Index i1) {
      combine_range<ScaledSum, N>(i0, i1, out, y, h, c, ptr);
    });
  }
  template <bool ScaledSum, std::size_t N>
  static void combine_range(Eigen::Index i0, Eigen::Index i1, Real* out, const Real* y, Real h, std::array<Real, N> c,
                            std::array<const Real*, N> ptr) {
    if constexpr (N == 1) {
      const Real hc = h * c[0];
      const Real* const k0 = ptr[0];
      for (Eigen::Index i = i0; i < i1; ++i) {
        if constexpr (ScaledSum)
          out[i] = hc * k0[i];
        else
          out[i] = y[i] + hc * k0[i];
      }
    } else {
      for (Eigen::Index i = i0; i < i1; ++i) {
        Real acc = c[0] * ptr[0][i];
        for (std::size_t j = 1; j < N; ++j) acc = acc + c[j] * ptr[j][i];
        if constexpr (ScaledSum)
          out[i] = h * acc;
        else
          out[i] = y[i] + h * acc;
      }
    }
  }

  template <std::size_t N, class... K>
  static void scaled_sum(S& out, Real h, const std::array<Real, N>& c, const K&... k) {
    static_assert(N == sizeof...(K) && N > 0);
    if constexpr (dynamic_plain) {
      combine_loop<true>(out.data(), nullptr, out.size(), h, c, k.data()...);
    } else if constexpr (N == 1) {
      out.array() = (h * c[0]) * (k.array(), ...);
    } else {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        out.array() = h * (... + (c[I] * k.array()));
      }(std::make_index_sequence<N>{});
    }
  }

  template <class X>
  static auto real_array(const X& x) {
    if constexpr (plain)
      return x.array();
    else
      return x.array().unaryExpr([](const Scalar& v) { return ode_detail::real_part(v); });
  }

  // sk_i = atol_i + rtol_i · m_i as an expression (scalar or per-component tolerances).
  template <class M>
  TAYNODE_ODE_INLINE static Real sq_sum_over(const auto& num, const M& m, const S& shape, const Tolerances<Real>& tol) {
    const auto rows = shape.rows(), cols = shape.cols();
    if (tol.rtol_vec && tol.atol_vec)
      return (num / (TolMap(tol.atol_vec, rows, cols) + TolMap(tol.rtol_vec, rows, cols) * m))
          .square()
          .sum();
    if (tol.rtol_vec)
      return (num / (tol.atol + TolMap(tol.rtol_vec, rows, cols) * m)).square().sum();
    if (tol.atol_vec)
      return (num / (TolMap(tol.atol_vec, rows, cols) + tol.rtol * m)).square().sum();
    return (num / (tol.atol + tol.rtol * m)).square().sum();
  }

  template <std::size_t N, class... K>
  TAYNODE_ODE_INLINE static Real error_sq_sum(const S& y0, const S& y1, Real h, const Tolerances<Real>& tol,
                           const std::array<Real, N>& c, const K&... k) {
    static_assert(N == sizeof...(K) && N > 0);
    return [&]<std::size_t... I>(std::index_sequence<I...>) TAYNODE_ODE_INLINE_LAMBDA {
      const auto err = (... + (c[I] * real_array(k))) * h;
      const auto m = real_array(y0).abs().max(real_array(y1).abs());
#if defined(__SSE2__)
      if constexpr (plain && std::is_same_v<Real, double> && S::SizeAtCompileTime != Eigen::Dynamic &&
                    S::SizeAtCompileTime % 2 == 0) {
        using Expr = std::decay_t<decltype((err / (tol.atol + tol.rtol * m)).square())>;
        using Traits = Eigen::internal::redux_traits<Eigen::internal::scalar_sum_op<Real, Real>,
                                                     Eigen::internal::redux_evaluator<Expr>>;
        if constexpr (int(Traits::PacketSize) == 2 &&
                      int(Traits::Traversal) == int(Eigen::LinearVectorizedTraversal)) {
          if (!tol.rtol_vec && !tol.atol_vec)
            return sse2_error_sq_sum<int(Traits::Unrolling) == int(Eigen::CompleteUnrolling)>(
                y0, y1, h, tol, c, k...);
        }
      }
#endif
      return sq_sum_over(err, m, y0, tol);
    }(std::make_index_sequence<N>{});
  }

#if defined(__SSE2__)
  // The scalar-tolerance error expression of error_sq_sum with SSE2 packets written out: the same
  // operations per component, summed in the order of Eigen's reduction of that expression (its
  // recursive halving when Eigen unrolls the sum, else two interleaved accumulators), so the
  // same bits; tests/ode/test_solve.cpp checks this. It is inline (Eigen keeps its evaluator of
  // the expression out of line for larger states, a call per packet), and for small states
  // reads the most recent stage with two 8-byte loads (see add_scaled).
  template <std::size_t P, std::size_t Start, std::size_t Len>
  TAYNODE_ODE_INLINE static __m128d halving_sum(const __m128d (&q)[P]) {
    if constexpr (Len == 1)
      return q[Start];
    else
      return _mm_add_pd(halving_sum<P, Start, Len / 2>(q),
                        halving_sum<P, Start + Len / 2, Len - Len / 2>(q));
  }

  template <bool Unrolled, std::size_t N, class... K>
  TAYNODE_ODE_INLINE static Real sse2_error_sq_sum(const S& y0, const S& y1, Real h,
                                                   const Tolerances<Real>& tol,
                                                   const std::array<Real, N>& c, const K&... k) {
    constexpr std::size_t P = std::size_t(S::SizeAtCompileTime) / 2;
    constexpr bool split = split_fresh;
    const Real* const ptr[] = {k.data()...};
    const __m128d sign = _mm_set1_pd(-0.0), atol = _mm_set1_pd(tol.atol),
                  rtol = _mm_set1_pd(tol.rtol), hv = _mm_set1_pd(h);
    auto term = [&](std::size_t j) TAYNODE_ODE_INLINE_LAMBDA {
      const std::size_t i = 2 * j;
      __m128d acc;
      [&]<std::size_t... I>(std::index_sequence<I...>) TAYNODE_ODE_INLINE_LAMBDA {
        ((acc = I == 0
                    ? _mm_mul_pd(_mm_set1_pd(c[I]), ode_detail::load_pair<split && I + 1 == N>(ptr[I] + i))
                    : _mm_add_pd(acc, _mm_mul_pd(_mm_set1_pd(c[I]),
                                                 ode_detail::load_pair<split && I + 1 == N>(ptr[I] + i)))),
         ...);
      }(std::make_index_sequence<N>{});
      const __m128d err = _mm_mul_pd(acc, hv);
      const __m128d a0 = _mm_andnot_pd(sign, _mm_loadu_pd(y0.data() + i));
      const __m128d a1 = _mm_andnot_pd(sign, _mm_loadu_pd(y1.data() + i));
      const __m128d m = _mm_max_pd(a1, a0);  // Eigen's pmax(a0, a1)
      const __m128d r = _mm_div_pd(err, _mm_add_pd(atol, _mm_mul_pd(rtol, m)));
      return _mm_mul_pd(r, r);
    };
    __m128d sum;
    if constexpr (Unrolled || P == 1) {
      __m128d q[P];
      for (std::size_t j = 0; j < P; ++j) q[j] = term(j);
      sum = halving_sum<P, 0, P>(q);
    } else {
      // Eigen's LinearVectorizedTraversal without unrolling: packets 0, 2, 4, … and 1, 3, 5, …
      // in two accumulators, then their sum, then an odd last packet.
      __m128d s0 = term(0), s1 = term(1);
      for (std::size_t j = 2; j + 1 < P; j += 2) {
        s0 = _mm_add_pd(s0, term(j));
        s1 = _mm_add_pd(s1, term(j + 1));
      }
      sum = _mm_add_pd(s0, s1);
      if constexpr (P % 2 == 1) sum = _mm_add_pd(sum, term(P - 1));
    }
    return _mm_cvtsd_f64(_mm_add_sd(sum, _mm_unpackhi_pd(sum, sum)));
  }
#endif

  static Real scaled_sq_norm(const S& x, const S& y0, const Tolerances<Real>& tol) {
    return sq_sum_over(real_array(x), real_array(y0).abs(), y0, tol);
  }
  static Real scaled_sq_norm_diff(const S& a, const S& b, const S& y0,
                                  const Tolerances<Real>& tol) {
    return sq_sum_over(real_array(a) - real_array(b), real_array(y0).abs(), y0, tol);
  }
  static bool all_finite(const S& x) {
    if constexpr (plain) {
      return x.allFinite();
    } else {
      for (Eigen::Index i = 0; i < x.size(); ++i) {
        using std::isfinite;
        if (!isfinite(x.data()[i])) return false;
      }
      return true;
    }
  }
};

}  // namespace taynode

#pragma once
// Reverse mode through a NetworkTaylor pass: VJPs of f(t, z), of the R_K integrand
// (1/D)·||z^(K)||², of the kinetic integrand (1/D)·||f||² and of the Jacobian-Frobenius integrand
// (1/D)·||J ε||², and of any cotangent of an order-1 push (f, J v) (`jvp`), with respect to the
// state z, every parameter of the network and the time t.
//
// The "tape" is the network's structure plus the NetworkTaylor workspace, which already keeps
// every layer's coefficients (the saved intermediates); NetworkAdjoint holds a cotangent series
// for each of them and replays the adjoint steps (ad/series_adjoint.hpp) in reverse: orders
// k = top..0, and within an order the layers last to first. In ODE-coefficient mode the closure
// z_{k+1} = f_k/(k+1) is reversed between orders: f̄_k += z̄_{k+1}/(k+1).
//
// Cost: per order and linear layer one GEMM x̄_k += ȳ_k W, plus ONE stacked GEMM per layer for
// W̄ over all orders; elementwise adjoints O(k) per element. No allocation after construction
// (beyond what Eigen's GEMM blocking may take for large products).
//
// Results (overwritten by each call unless `accumulate`): z_bar() (batch × dim), gradient()
// (an nn::Sequential of the network's shape holding ∂L/∂θ for every parameter array), t_bar()
// (∂L/∂t, summed over the batch). Generic over the backend: every operation is a Backend call on
// the workspace's series, its parameter mirrors and gradient buffers in backend memory; for
// backend::Cpu the gradient buffers are the arrays of gradient() itself, for other backends
// gradient() downloads them (gradient_data(i) points at them in backend memory).

#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "taynode/ad/series_adjoint.hpp"
#include "taynode/backend/matrix.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::ad {

namespace detail {
// x̄[r, c] += (s·r̄[r])·x[r, c]: the cotangent of r_r = s/2·||x_r||² seeded into x̄.
template <class T>
struct RowScaledAxpyKernel {
  T scale;
  const T *rb, *x;
  T* xb;
  Index cols;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const {
    xb[r * cols + c] += (scale * rb[r]) * x[r * cols + c];
  }
};

// Zeroes up to `capacity` buffers in one launch: thread (b, i) writes element i of buffer b.
template <class T>
struct ZeroBuffersKernel {
  static constexpr int capacity = 24;
  T* p[capacity];
  Index n[capacity];
  TAYNODE_INLINE TAYNODE_HD void operator()(Index b, Index i) const {
    if (i < n[b]) p[b][i] = T(0);
  }
};
// Buffers to zero, collected then zeroed together: on a host backend one fill each (a vectorized
// memset), on a device one launch per `capacity` buffers — what matters there is the launch
// count (a VJP of the MNIST dynamics zeroes 7 cotangent series: 6 launches fewer per VJP).
template <class T, class Backend>
class ZeroBatch {
 public:
  void add(T* p, Index n) {
    if (n <= 0) return;
    if constexpr (backend::eigen_host<Backend>) {
      Backend::fill(n, T(0), p);
    } else {
      if (count_ == ZeroBuffersKernel<T>::capacity) flush();
      kernel_.p[count_] = p;
      kernel_.n[count_] = n;
      longest_ = n > longest_ ? n : longest_;
      ++count_;
    }
  }
  void flush() {
    if (count_ == 0) return;
    Backend::for_each_2d(count_, longest_, kernel_);
    *this = ZeroBatch{};
  }

 private:
  ZeroBuffersKernel<T> kernel_{};
  Index count_ = 0, longest_ = 0;
};
}  // namespace detail

template <class T, class Backend = backend::Cpu>
class NetworkAdjoint {
 public:
  using SeriesType = Series<T, Backend>;
  using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using Workspace = NetworkTaylor<T, Backend>;
  using ConstView = typename Backend::template ConstView<T>;
  using Input = backend::InputMatrix<Backend, T>;

  // Cotangent storage shaped like the workspace's series; ws (and its network) must outlive this.
  // (Defined below the class: an in-class definition is inline, which TAYNODE_EXTERN_INSTANCES's
  // `extern template` could not keep out of a user's translation unit.)
  explicit NetworkAdjoint(const Workspace& ws);
  // Buffers hold pointers into themselves (grad_, buffers_): not copyable or movable.
  NetworkAdjoint(const NetworkAdjoint&) = delete;
  NetworkAdjoint& operator=(const NetworkAdjoint&) = delete;

  ConstView z_bar() const { return input_bar_.view(0); }
  // Cotangent of the input series' coefficient k (k = 1 after a Frobenius VJP: ε̄).
  const SeriesType& input_bar() const { return input_bar_; }
  // ∂L/∂θ shaped like the network, on the host (downloaded from backend memory where that differs).
  const nn::Sequential<T>& gradient() const {
    if constexpr (!backend::eigen_host<Backend>) {
      std::size_t i = 0;
      nn::for_each_parameter(grad_, [&](auto& p) {
        Backend::download(p.size(), arrays_[i].data, p.data());
        ++i;
      });
    }
    return grad_;
  }
  // ∂L/∂θ where the VJPs accumulate it (backend memory; names as nn::parameter_refs): what an
  // optimizer on the backend takes as gradients with no host copy. Valid while this object lives.
  nn::ParameterViews<T, Backend> backend_gradient() const {
    nn::ParameterViews<T, Backend> views;
    std::size_t i = 0;
    nn::for_each_named_parameter(grad_, [&](std::string name, const auto& a) {
      views.add(std::move(name), arrays_[i++].data, a.rows(), a.cols());
    });
    return views;
  }
  // Parameter array i (the order of nn::for_each_parameter) of ∂L/∂θ in backend memory, and its size.
  std::size_t gradient_arrays() const { return arrays_.size(); }
  const T* gradient_data(std::size_t i) const { return arrays_.at(i).data; }
  Index gradient_size(std::size_t i) const { return arrays_.at(i).size; }
  // ∂L/∂t, accumulated in backend memory (a device backend would otherwise copy a scalar back,
  // and wait for the device, in every VJP): read back here only. Computed only after
  // compute_t_bar(true): no solver needs it, and it costs every VJP a row-dot GEMM and a sum per
  // time-dependent layer (on a device, 2 of the MNIST dynamics' 27 launches each).
  void compute_t_bar(bool on) { t_bar_on_ = on; }
  bool computes_t_bar() const { return t_bar_on_; }
  T t_bar() const {
    if (!t_bar_on_)
      throw std::logic_error("taynode::ad::NetworkAdjoint::t_bar: not computed; call compute_t_bar(true) before the VJPs");
    T v;
    Backend::download(1, t_bar_.data(), &v);
    return v;
  }

  // VJP of f(t, z), after ws.evaluate(t, z): L = Σ f̄ ⊙ f.
  void dynamics(T t, const Input& f_bar, bool accumulate = false) {
    check_state(f_bar, "f_bar");
    begin(0, accumulate);
    Backend::axpy(f_bar.size(), T(1), f_bar.data(), adj_.back().out.coefficient(0));
    reverse_pass(0, ws_->time_series(t));
    parameters(0, ws_->time_series(t));
  }

  // VJP of the R_K integrand r_b = (1/D)·||z_b^(K)||² and of f = z', after ws.ode_coefficients(t, z, K)
  // (as reg::taylor_integrand runs it): L = Σ f̄ ⊙ f + Σ_b r̄_b r_b.
  void taylor_integrand(T t, int K, const Input& f_bar, const Input& r_bar, bool accumulate = false) {
    if (K < 1 || K > ws_->max_order()) throw std::invalid_argument("taynode::ad::taylor_integrand: 1 <= K <= max_order");
    check_state(f_bar, "f_bar");
    check_batch(r_bar);
    begin(K, accumulate);
    const auto& c = ws_->state();
    T factorial(1);
    for (int j = 2; j <= K; ++j) factorial *= T(j);
    const T scale = T(2) * factorial * factorial / T(c.cols());
    seed_squares(scale, r_bar, c.coefficient(K), input_bar_.coefficient(K));
    Backend::axpy(f_bar.size(), T(1), f_bar.data(), input_bar_.coefficient(1));
    const TimeSeries<T> ts = ws_->time_series(t);
    SeriesType& yb = adj_.back().out;
    for (int k = K - 1; k >= 0; --k) {
      // z_{k+1} = f_k/(k+1)
      Backend::axpy(yb.size(), rules::inverse<T>(k + 1), input_bar_.coefficient(k + 1), yb.coefficient(k));
      reverse_pass(k, ts);
    }
    parameters(K - 1, ts);
  }

  // VJP of the kinetic integrand r_b = (1/D)·||f_b||² and of f, after ws.evaluate(t, z).
  void kinetic_integrand(T t, const Input& f_bar, const Input& r_bar, bool accumulate = false) {
    check_state(f_bar, "f_bar");
    check_batch(r_bar);
    const auto& out = ws_->output();
    begin(0, accumulate);
    SeriesType& yb = adj_.back().out;
    Backend::axpy(f_bar.size(), T(1), f_bar.data(), yb.coefficient(0));
    seed_squares(T(2) / T(out.cols()), r_bar, out.coefficient(0), yb.coefficient(0));
    reverse_pass(0, ws_->time_series(t));
    parameters(0, ws_->time_series(t));
  }

  // VJP of the Frobenius integrand r_b = (1/D)·||(J ε)_b||² and of f, after ws.jvp(t, z, ε)
  // (an order-1 push with t1 = 0). ε̄ is left in input_bar() (coefficient 1).
  void jacobian_frobenius_integrand(T t, const Input& f_bar, const Input& r_bar, bool accumulate = false) {
    check_state(f_bar, "f_bar");
    check_batch(r_bar);
    const auto& out = ws_->output();
    begin(1, accumulate);
    SeriesType& yb = adj_.back().out;
    Backend::axpy(f_bar.size(), T(1), f_bar.data(), yb.coefficient(0));
    seed_squares(T(2) / T(out.cols()), r_bar, out.coefficient(1), yb.coefficient(1));
    reverse_jvp(t);
  }

  // VJP of (f, J v), after ws.jvp(t, z, v) (an order-1 push with t1 = 0), for any cotangents:
  // L = Σ f̄ ⊙ f + Σ jv̄ ⊙ (J v). v̄ is left in input_bar() (coefficient 1). (A CNF's Hutchinson
  // trace εᵀ(J ε) seeds jv̄ = r̄·ε here.)
  void jvp(T t, const Input& f_bar, const Input& jv_bar, bool accumulate = false) {
    check_state(f_bar, "f_bar");
    check_state(jv_bar, "jv_bar");
    begin(1, accumulate);
    SeriesType& yb = adj_.back().out;
    Backend::axpy(f_bar.size(), T(1), f_bar.data(), yb.coefficient(0));
    Backend::axpy(jv_bar.size(), T(1), jv_bar.data(), yb.coefficient(1));
    reverse_jvp(t);
  }

 private:
  struct LayerAdjoint {
    SeriesType out, aux1, aux2, gate_u, gate_s, gate_e;
  };
  struct Array {
    T* data;
    Index size;
  };
  struct LayerGradient {
    T *w = nullptr, *b = nullptr, *gw = nullptr, *gb = nullptr, *tw = nullptr;
    Index ldw = 0;
  };

  void check_state(const Input& x, const char* what) const {
    if (x.rows() != ws_->batch() || x.cols() != ws_->dim())
      throw std::invalid_argument(std::string("taynode::ad::NetworkAdjoint: ") + what + " must be batch × dim");
  }
  void check_batch(const Input& r) const {
    if (r.size() != ws_->batch())
      throw std::invalid_argument("taynode::ad::NetworkAdjoint: r_bar must have batch entries");
  }
  // x̄ += (s·r̄_b)·x per row b, x and x̄ batch × dim.
  void seed_squares(T scale, const Input& r_bar, const T* x, T* xb) {
    Backend::for_each_2d(ws_->batch(), ws_->dim(),
                         detail::RowScaledAxpyKernel<T>{scale, r_bar.data(), x, xb, ws_->dim()});
  }

  void zero_gradient() {
    for (const Array& a : arrays_) Backend::fill(a.size, T(0), a.data);
  }
  // Orders 0..top of every cotangent series (and, unless accumulating, θ̄ and t̄) = 0.
  void begin(int top, bool accumulate) {
    detail::ZeroBatch<T, Backend> zero;
    auto series = [&](SeriesType& x) {
      if (x.cols() > 0) zero.add(x.data(), (top + 1) * x.size());
    };
    series(input_bar_);
    for (auto& a : adj_)
      for (SeriesType* x : {&a.out, &a.aux1, &a.aux2, &a.gate_u, &a.gate_s, &a.gate_e}) series(*x);
    if (!accumulate) {
      for (const Array& a : arrays_) zero.add(a.data, a.size);
      zero.add(t_bar_.data(), 1);
    }
    zero.flush();
  }
  // The reverse of an order-1 push with t held fixed (ws.jvp), its output cotangents seeded.
  void reverse_jvp(T t) {
    const TimeSeries<T> ts = ws_->time_series(t, T(0));
    reverse_pass(1, ts);
    reverse_pass(0, ts);
    parameters(1, ts);
  }
  // The time enters only through its coefficients t_0 = t (every order) and t_1 (fixed): keep t̄_0.
  // t̄ += Σ_i Σ_j x(i, j)·v_j (x rows × cols, v at increment incv): row dots by a GEMM, then their
  // sum added in row order (deterministic, no copy to the host).
  void add_t_bar(Index rows, Index cols, const T* x, Index ldx, const T* v, Index incv) {
    if (!t_bar_on_) return;
    if (row_dots_.size() < std::size_t(rows)) row_dots_.resize(std::size_t(rows));
    Backend::gemm_nn(rows, 1, cols, x, ldx, v, incv, row_dots_.data(), 1, T(1), T(0));
    Backend::column_sums(rows, 1, T(1), row_dots_.data(), 1, t_bar_.data(), 1);
  }

  // Adjoint of pass k: layers last to first, each layer's adjoint step of order k.
  void reverse_pass(int k, TimeSeries<T> t) {
    const auto& net = ws_->network();
    for (std::size_t l = net.layers.size(); l-- > 0;) {
      const SeriesType& x = l == 0 ? ws_->input() : ws_->layer_output(l - 1);
      SeriesType& xb = l == 0 ? input_bar_ : adj_[l - 1].out;
      LayerAdjoint& a = adj_[l];
      const auto p = ws_->layer_parameters(l);
      std::visit(
          [&](const auto& layer) {
            using L = std::remove_cvref_t<decltype(layer)>;
            if constexpr (std::is_same_v<L, nn::Linear<T>>) {
              linear_input_adjoint_step(k, a.out, p.w, p.ldw, xb);
            } else if constexpr (std::is_same_v<L, nn::ConcatLinear<T>>) {
              linear_input_adjoint_step(k, a.out, p.w + 1, p.ldw, xb);
              if (k == 0) add_t_bar(a.out.rows(), a.out.cols(), a.out.coefficient(0), a.out.cols(), p.w, p.ldw);
            } else if constexpr (std::is_same_v<L, nn::ConcatSquash<T>>) {
              concat_squash_adjoint_step(k, t, l, xb);
            } else if constexpr (std::is_same_v<L, nn::Sigmoid>) {
              sigmoid_adjoint_step(k, x, ws_->layer_output(l), ws_->layer_aux1(l), xb, a.out, a.aux1);
            } else if constexpr (std::is_same_v<L, nn::Tanh>) {
              tanh_adjoint_step(k, x, ws_->layer_output(l), ws_->layer_aux1(l), xb, a.out, a.aux1);
            } else {
              static_assert(std::is_same_v<L, nn::Softplus>);
              softplus_adjoint_step(k, x, ws_->layer_output(l), ws_->layer_aux1(l), ws_->layer_aux2(l), xb, a.out,
                                    a.aux1, a.aux2);
            }
          },
          net.layers[l]);
    }
  }

  // y = (W x + b) ⊙ σ(u) + w_b t,  u = w_g t + b_g  (one row, broadcast over the batch)
  void concat_squash_adjoint_step(int k, TimeSeries<T> t, std::size_t l, SeriesType& xb) {
    LayerAdjoint& a = adj_[l];
    const auto p = ws_->layer_parameters(l);
    const LayerGradient& g = grads_[l];
    const bool with_t = t.may_be_nonzero(k);
    const Index rows = a.out.rows(), out = a.out.cols();
    const T* yb = a.out.coefficient(k);
    if (with_t) time_column_sums<T, Backend>(rows, out, t, k, yb, out, g.tw, Index(1));
    if (k == 0) add_t_bar(rows, out, yb, out, p.tw, Index(1));
    product_broadcast_row_adjoint_step(k, ws_->layer_aux1(l), ws_->layer_gate_s(l), a.aux1, a.gate_s, a.out);
    sigmoid_adjoint_step(k, ws_->layer_gate_u(l), ws_->layer_gate_s(l), ws_->layer_gate_e(l), a.gate_u, a.gate_s,
                         a.gate_e);
    const T* ub = a.gate_u.coefficient(k);  // 1 × out
    if (with_t) time_axpy<T, Backend>(out, t, k, ub, g.gw);
    if (k == 0) {
      Backend::axpy(out, T(1), ub, g.gb);
      add_t_bar(Index(1), out, ub, out, p.gw, Index(1));
    }
    linear_input_adjoint_step(k, a.aux1, p.w, p.ldw, xb);
  }

  // Weight and bias cotangents, one stacked GEMM per layer over orders 0..top.
  void parameters(int top, TimeSeries<T> t) {
    const auto& net = ws_->network();
    for (std::size_t l = 0; l < net.layers.size(); ++l) {
      const SeriesType& x = l == 0 ? ws_->input() : ws_->layer_output(l - 1);
      const LayerGradient& g = grads_[l];
      std::visit(
          [&](const auto& layer) {
            using L = std::remove_cvref_t<decltype(layer)>;
            if constexpr (std::is_same_v<L, nn::Linear<T>>) {
              linear_parameter_adjoint(top, x, adj_[l].out, g.w, g.ldw, g.b);
            } else if constexpr (std::is_same_v<L, nn::ConcatLinear<T>>) {
              concat_time_linear_parameter_adjoint(top, t, x, adj_[l].out, g.w, g.ldw, g.b);
            } else if constexpr (std::is_same_v<L, nn::ConcatSquash<T>>) {
              linear_parameter_adjoint(top, x, adj_[l].aux1, g.w, g.ldw, g.b);
            }
          },
          net.layers[l]);
    }
  }

  const Workspace* ws_;
  mutable nn::Sequential<T> grad_;  // host backends: the gradient itself; others: its download
  std::vector<typename Backend::template Buffer<T>> buffers_;  // other backends: the gradient
  std::vector<Array> arrays_;
  std::vector<LayerGradient> grads_;
  std::vector<LayerAdjoint> adj_;
  SeriesType input_bar_;
  typename Backend::template Buffer<T> t_bar_{zero_scalar()};  // ∂L/∂t (one element)
  typename Backend::template Buffer<T> row_dots_;               // scratch of add_t_bar
  bool t_bar_on_ = false;
  static typename Backend::template Buffer<T> zero_scalar() {
    typename Backend::template Buffer<T> b(1);
    Backend::fill(1, T(0), b.data());
    return b;
  }
};

template <class T, class Backend>
NetworkAdjoint<T, Backend>::NetworkAdjoint(const Workspace& ws) : ws_(&ws), grad_(ws.network()) {
  const auto& net = ws.network();
  const int K = ws.max_order();
  const Index batch = ws.batch();
  input_bar_.resize(K, batch, ws.dim());
  adj_.resize(net.layers.size());
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    auto shape = [&](SeriesType& dst, const SeriesType& src) {
      if (src.cols() > 0) dst.resize(K, src.rows(), src.cols());
    };
    shape(adj_[l].out, ws.layer_output(l));
    shape(adj_[l].aux1, ws.layer_aux1(l));
    shape(adj_[l].aux2, ws.layer_aux2(l));
    shape(adj_[l].gate_u, ws.layer_gate_u(l));
    shape(adj_[l].gate_s, ws.layer_gate_s(l));
    shape(adj_[l].gate_e, ws.layer_gate_e(l));
  }
  // Gradient storage: the arrays of grad_ (host backends) or one buffer per array; per layer
  // the pointers the reverse sweep accumulates into (the order of nn::for_each_parameter).
  std::size_t count = 0;
  nn::for_each_parameter(grad_, [&](auto&) { ++count; });
  buffers_.reserve(count);
  nn::for_each_parameter(grad_, [&](auto& p) {
    if constexpr (backend::eigen_host<Backend>) {
      arrays_.push_back({p.data(), p.size()});
    } else {
      buffers_.emplace_back(std::size_t(p.size()));
      arrays_.push_back({buffers_.back().data(), p.size()});
    }
  });
  std::size_t i = 0;
  grads_.resize(net.layers.size());
  for (std::size_t l = 0; l < net.layers.size(); ++l)
    std::visit(
        [&](const auto& layer) {
          if constexpr (requires { layer.weight; }) {
            grads_[l].w = arrays_[i++].data;
            grads_[l].b = arrays_[i++].data;
            grads_[l].ldw = layer.weight.cols();
          }
          if constexpr (requires { layer.gate_weight; }) {
            grads_[l].gw = arrays_[i++].data;
            grads_[l].gb = arrays_[i++].data;
            grads_[l].tw = arrays_[i++].data;
          }
        },
        net.layers[l]);
  zero_gradient();
}

// Forward and backward in one call: the workspace runs the forward pass, adj the reverse.
template <class T, class B, class Z, class F>
void vjp_dynamics(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj, std::type_identity_t<T> t, const Z& z,
                  const F& f_bar, bool accumulate = false) {
  ws.evaluate(t, z);
  adj.dynamics(t, f_bar, accumulate);
}
template <class T, class B, class Z, class F, class R>
void vjp_taylor_integrand(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj, std::type_identity_t<T> t, const Z& z,
                          int K, const F& f_bar, const R& r_bar, bool accumulate = false) {
  if (K < 1 || K > ws.max_order()) throw std::invalid_argument("taynode::ad::vjp_taylor_integrand: 1 <= K <= max_order");
  ws.ode_coefficients(t, z, K);
  adj.taylor_integrand(t, K, f_bar, r_bar, accumulate);
}
template <class T, class B, class Z, class F, class R>
void vjp_kinetic_integrand(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj, std::type_identity_t<T> t, const Z& z,
                           const F& f_bar, const R& r_bar, bool accumulate = false) {
  ws.evaluate(t, z);
  adj.kinetic_integrand(t, f_bar, r_bar, accumulate);
}
template <class T, class B, class Z, class E, class F, class R>
void vjp_jacobian_frobenius_integrand(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj, std::type_identity_t<T> t,
                                      const Z& z, const E& eps, const F& f_bar, const R& r_bar,
                                      bool accumulate = false) {
  ws.jvp(t, z, eps);
  adj.jacobian_frobenius_integrand(t, f_bar, r_bar, accumulate);
}

}  // namespace taynode::ad

#pragma once
// Incremental Taylor coefficients of z' = f(t, z) for a neural network f (nn::Sequential), on
// batched series (series/): pass k computes ONLY coefficient k of every layer, reusing the
// layers' stored coefficients 0..k−1, and z_{k+1} = f_k/(k+1) (normalized coefficients) closes
// the loop (Kelly et al. 2020, Algorithm 1, in the O(K²) form of Taylor-series integrators).
//
// Work for z^(1..K): K passes; each pass is one GEMM batch × in × out per layer (the same GEMMs
// as one plain evaluation) plus, per element of each nonlinear layer, one rule step of order k
// (O(k) flops). In total K GEMM passes and O(K²) elementwise work, against the K full jets,
// O(K³), of the reference implementation.
//
// NetworkTaylor is a workspace: it owns the series of every layer for a given maximal order and
// batch size and keeps pointers to the network's parameters (via Backend::Mirror), so the network
// must outlive it and must not be resized while it is used. Allocation happens in the
// constructor only. Not thread-safe; use one workspace per thread.
//
// Conventions: the state is a batch × dim row-major matrix, one example per row, in the
// backend's memory: for backend::Cpu any Eigen matrix or expression, for other backends a
// Backend::Matrix or view (backend/matrix.hpp). Results are Backend::ConstView views into the
// workspace (for Cpu Eigen maps). Every API takes and returns NORMALIZED coefficients
// c_k = z^(k)/k!, except `derivative(k)` (k!·c_k).

#include <cassert>
#include <optional>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "taynode/backend/matrix.hpp"
#include "taynode/jet/rules.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/nn/parameter_buffers.hpp"
#include "taynode/series/clock.hpp"
#include "taynode/series/ops.hpp"
#include "taynode/series/series.hpp"

namespace taynode {

namespace taylor_detail {
template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

// u_k of the ConcatSquash gate input u = w_g·t + b_g: [w_g t0 + b_g, w_g t1, 0, …].
template <class T>
struct GateInputKernel {
  const T *gw, *gb;
  T* uk;
  TimeSeries<T> t;
  int k;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    uk[i] = gw[i] * t.coefficient(k) + (k == 0 ? gb[i] : T(0));
  }
};
}  // namespace taylor_detail

template <class T, class Backend = backend::Cpu>
class NetworkTaylor {
 public:
  using SeriesType = Series<T, Backend>;
  using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Matrix = typename Backend::template Matrix<T>;        // a state in backend memory
  using ConstView = typename Backend::template ConstView<T>;  // a view into the workspace
  using Input = backend::InputMatrix<Backend, T>;             // what a state argument accepts
  // A layer's parameters as the kernels see them (Backend::Mirror; null where the layer has none).
  struct LayerParameters {
    const T *w = nullptr, *b = nullptr, *gw = nullptr, *gb = nullptr, *tw = nullptr;
    Index ldw = 0;
  };

  // (Defined below the class: an in-class definition is inline, which TAYNODE_EXTERN_INSTANCES's
  // `extern template` could not keep out of a user's translation unit.)
  NetworkTaylor(const nn::Sequential<T>& net, int max_order, Index batch);

  // With a clock, every time argument is read from the clock's memory when the kernels run
  // (series/clock.hpp): passes captured in a graph replay at the clock's new time. nullptr (the
  // default): the time enters the kernels by value. The NetworkAdjoint of this workspace follows.
  void use_clock(const Clock<T, Backend>* clock) { clock_ = clock; }
  // The time series of t (t1: its coefficient 1) as this workspace's kernels take it.
  TimeSeries<T> time_series(T t, T t1 = T(1)) const { return clock_ ? clock_->series(t, t1) : TimeSeries<T>{t, t1}; }

  int max_order() const { return max_order_; }
  Index batch() const { return batch_; }
  Index dim() const { return dim_; }

  // The series of the network's input (the state path). Set its coefficients 0..k before pass(k).
  SeriesType& input() { return input_; }
  const SeriesType& input() const { return input_; }
  // The series of the network's output, f(t(τ), z(τ)), after pass / push_forward / evaluate / jvp.
  // (ode_coefficients leaves the Taylor coefficients in state() instead.)
  const SeriesType& output() const { return work_.back().out; }

  // Coefficient k of every layer's output, from the input's coefficients 0..k, the layers'
  // coefficients 0..k−1 (from the earlier passes) and the time series t.
  void pass(int k, TimeSeries<T> t) { run_pass(k, t, nullptr, T(1)); }
  // Passes 0..order: the output's series from the input's coefficients 0..order (all set).
  void push_forward(TimeSeries<T> t, int order) {
    for (int k = 0; k <= order; ++k) pass(k, t);
  }

  // Plain evaluation f(t, z) (pass 0); z is batch × dim. Returns the output's coefficient 0.
  ConstView evaluate(T t, const Input& z) {
    run_pass(0, time_series(t), nullptr, T(1), take_input(0, z));
    return output().view(0);
  }

  // The same into `out` (batch × dim, the caller's storage): a last linear layer writes there
  // directly, which saves the copy of a solver's right-hand side (output() then does not hold that
  // layer's result; the reverse passes do not read it).
  void evaluate(T t, const Input& z, backend::OutputMatrix<Backend, T> out) {
    if (out.rows() != batch_ || out.cols() != dim_) throw std::invalid_argument("taynode::NetworkTaylor: output shape");
    if (!run_pass(0, time_series(t), out.data(), T(1), take_input(0, z)))
      Backend::copy(out.size(), output().coefficient(0), out.data());
  }

  // Taylor coefficients of the solution of z' = f(t, z), z(t0) = z0 (batch × dim), up to order
  // K ≤ max_order: K passes. Afterwards state() holds the normalized coefficients c_0..c_K of z,
  // derivative(k) = z^(k)(t0) = k!·c_k, and f(t0, z0) = state().matrix(1).
  void ode_coefficients(T t0, const Input& z0, int K) {
    check_order(K);
    if (K == 0)
      set_coefficient(0, z0);
    else
      ode_coefficients(t0, K, take_input(0, z0));
  }
  // The same with coefficient 0 of input() already set.
  void ode_coefficients(T t0, int K) {
    check_order(K);
    ode_coefficients(t0, K, nullptr);
  }
  const SeriesType& state() const { return input_; }
  Matrix derivative(int k) const {
    T factorial(1);
    for (int j = 2; j <= k; ++j) factorial *= T(j);
    Matrix d(batch_, dim_);
    Backend::for_each(input_.size(), series::ScaleKernel<T>{factorial, input_.coefficient(k), d.data()});
    return d;
  }

  // Jacobian-vector product J·v with J = ∂f/∂z at (t, z), by an order-1 push with t held fixed
  // (t1 = 0): returns J v (batch × dim); f(t, z) is output().matrix(0) afterwards.
  ConstView jvp(T t, const Input& z, const Input& v) {
    if (max_order_ < 1) throw std::invalid_argument("taynode::NetworkTaylor::jvp needs max_order >= 1");
    set_coefficient(0, z);
    set_coefficient(1, v);
    push_forward(time_series(t, T(0)), 1);
    return output().view(1);
  }

  // Read access to the network and to the stored series of layer l (reverse mode, ad/): its
  // output, its auxiliaries (sigmoid/tanh: aux1 = e resp. w; softplus: aux1 = s, aux2 = e;
  // ConcatSquash: aux1 = W x + b) and the ConcatSquash gate series. After ode_coefficients the
  // output of a LAST linear layer is not stored (it went straight to state()).
  const nn::Sequential<T>& network() const { return *net_; }
  const SeriesType& layer_output(std::size_t l) const { return work_[l].out; }
  const SeriesType& layer_aux1(std::size_t l) const { return work_[l].aux1; }
  const SeriesType& layer_aux2(std::size_t l) const { return work_[l].aux2; }
  const SeriesType& layer_gate_u(std::size_t l) const { return work_[l].gate_u; }
  const SeriesType& layer_gate_s(std::size_t l) const { return work_[l].gate_s; }
  const SeriesType& layer_gate_e(std::size_t l) const { return work_[l].gate_e; }
  LayerParameters layer_parameters(std::size_t l) const {
    const LayerWork& w = work_[l];
    return {w.w, w.b, w.gw, w.gb, w.tw, w.ldw};
  }

  // Copies a batch × dim matrix (backend memory) into coefficient k of the input.
  void set_coefficient(int k, const Input& x) {
    check_state(x);
    if (k < 0 || k > max_order_) throw std::invalid_argument("taynode::NetworkTaylor: coefficient beyond max_order");
    if (x.data() != input_.coefficient(k)) Backend::copy(x.size(), x.data(), input_.coefficient(k));
  }

  // After the network's parameters changed on the host (an optimizer step): the backend's copies
  // take the new values (backend::Cpu reads the network's arrays directly: nothing to do there).
  void refresh_parameters() {
    for (std::size_t i = 0; i < mirrors_.size(); ++i) mirrors_[i].update(mirror_sources_[i].first, mirror_sources_[i].second);
  }

  // The parameters the kernels read, in the backend's memory (names as nn::parameter_refs): the
  // network's copies there, for an optimizer on the backend to update in place — a training step
  // with no host copy of θ̄ and no upload (ad::Backprop::theta_bar_to_host = false). The host
  // network is then stale until its values are copied back from download(); refresh_parameters()
  // would overwrite the device's with them. (backend::Cpu has no copies: its kernels read the
  // network's own arrays, which nn::parameter_refs(net) updates.)
  nn::ParameterViews<T, Backend> backend_parameters()
    requires(!backend::eigen_host<Backend>)
  {
    nn::ParameterViews<T, Backend> views;
    nn::for_each_named_parameter(const_cast<nn::Sequential<T>&>(*net_), [&](std::string name, const auto& a) {
      for (std::size_t i = 0; i < mirrors_.size(); ++i)
        if (mirror_sources_[i].first == a.data()) return views.add(std::move(name), mirrors_[i].data(), a.rows(), a.cols());
      throw std::logic_error("taynode::NetworkTaylor::backend_parameters: parameter " + name + " has no copy");
    });
    return views;
  }

 private:
  struct LayerWork {
    const T *w = nullptr, *b = nullptr, *gw = nullptr, *gb = nullptr, *tw = nullptr;
    Index ldw = 0;
    SeriesType out, aux1, aux2, gate_u, gate_s, gate_e;
  };

  const T* mirror(const T* host, Index n) {
    mirrors_.emplace_back(host, n);
    mirror_sources_.emplace_back(host, n);
    return mirrors_.back().data();
  }
  static void check_in(Index in, Index features) {
    if (in != features) throw std::invalid_argument("taynode::NetworkTaylor: layer input features do not match");
  }
  void check_state(const Input& x) const {
    if (x.rows() != batch_ || x.cols() != dim_) throw std::invalid_argument("taynode::NetworkTaylor: state shape");
  }
  void check_order(int K) const {
    if (K < 0 || K > max_order_) throw std::invalid_argument("taynode::NetworkTaylor: order beyond max_order");
  }

  // Passes 0..K−1 of ode_coefficients; `input_from` as in run_pass (for pass 0).
  void ode_coefficients(T t0, int K, const T* input_from) {
    for (int k = 0; k < K; ++k) {
      // z_{k+1} = f_k/(k+1): a last linear layer writes it directly (its own series is not needed
      // by any later layer); otherwise it is copied from the output series.
      const bool direct = run_pass(k, time_series(t0), input_.coefficient(k + 1), rules::inverse<T>(k + 1),
                                   k == 0 ? input_from : nullptr);
      if (!direct) series::scale_coefficient(rules::inverse<T>(k + 1), output(), k, input_, k + 1);
    }
  }

  // Coefficient k of the input from x, for the pass of order k that follows at once: copied now
  // (returns null), or — on a backend that fuses elementwise passes, with an activation as the
  // first layer — left to that activation's kernel, which copies each element before it reads it
  // (returns the source for run_pass): one launch fewer per evaluation, and input() holds x
  // afterwards either way.
  const T* take_input(int k, const Input& x) {
    if constexpr (backend::fuse_elementwise<Backend>) {
      check_state(x);
      if (!work_.empty() && fusable_activation(net_->layers[0]) && x.data() != input_.coefficient(k)) return x.data();
    }
    set_coefficient(k, x);
    return nullptr;
  }

  // One pass. With `final` set and a last layer that is linear, that layer writes α·(its
  // coefficient k) to `final` (batch × dim) instead of its own series; returns whether it did.
  //
  // On a backend that fuses elementwise passes (backend::fuse_elementwise: backend::Cuda) a
  // ConcatLinear layer followed by an activation leaves its bias and time term to the activation's
  // kernel (series::BiasTimeInput + apply_rule_after: one launch fewer per such pair and pass); the
  // layer's stored series is the same. `input_from` (take_input): the first layer's kernel copies
  // the input's coefficient k from there (series::CopyInput).
  bool run_pass(int k, TimeSeries<T> t, T* final, T alpha, const T* input_from = nullptr) {
    assert(k >= 0 && k <= max_order_);
    const SeriesType* x = &input_;
    bool direct = false;
    // What the next activation's kernel does first: the input's coefficient k copied in (the first
    // layer), or the previous ConcatLinear layer's bias and time term.
    std::optional<std::variant<series::CopyInput<T>, series::BiasTimeInput<T>>> prestep;
    if (input_from) prestep = series::CopyInput<T>{input_from, input_.coefficient(k)};
    auto fused = [&](auto step, LayerWork& w, auto&... aux) {
      if constexpr (backend::fuse_elementwise<Backend>) {
        if (prestep) {
          std::visit([&](const auto& pre) { series::detail::apply_rule_after(k, pre, step, *x, w.out, aux...); },
                     *prestep);
          prestep.reset();
          return true;
        }
      }
      return false;
    };
    for (std::size_t l = 0; l < work_.size(); ++l) {
      LayerWork& w = work_[l];
      const bool last = final && l + 1 == work_.size();
      if constexpr (backend::fuse_elementwise<Backend>) {
        if (!last && l + 1 < work_.size() && std::holds_alternative<nn::ConcatLinear<T>>(net_->layers[l]) &&
            fusable_activation(net_->layers[l + 1]) && ((k == 0 && w.b) || t.may_be_nonzero(k))) {
          series::linear_coefficient(k, *x, w.w + 1, w.ldw, static_cast<const T*>(nullptr), w.out.cols(), T(1),
                                     w.out.coefficient(k), w.out.cols());
          assert(!prestep);
          prestep = series::BiasTimeInput<T>{
              {w.out.coefficient(k), w.out.cols(), k == 0 ? w.b : nullptr, w.w, w.ldw, T(1), t, k}};
          x = &w.out;
          continue;
        }
      }
      std::visit(taylor_detail::overloaded{
                     [&](const nn::Linear<T>&) {
                       if (last) {
                         series::linear_coefficient(k, *x, w.w, w.ldw, w.b, w.out.cols(), alpha, final, w.out.cols());
                         direct = true;
                       } else {
                         series::linear_step(k, *x, w.w, w.ldw, w.b, w.out);
                       }
                     },
                     [&](const nn::ConcatLinear<T>&) {
                       if (last) {
                         series::concat_time_linear_coefficient(k, t, *x, w.w, w.ldw, w.b, w.out.cols(), alpha, final,
                                                                w.out.cols());
                         direct = true;
                       } else {
                         series::concat_time_linear_step(k, t, *x, w.w, w.ldw, w.b, w.out);
                       }
                     },
                     [&](const nn::ConcatSquash<T>&) { concat_squash_step(k, t, *x, w); },
                     [&](nn::Sigmoid) {
                       if (!fused(rules::steps::sigmoid{}, w, w.aux1)) series::sigmoid_step(k, *x, w.out, w.aux1);
                     },
                     [&](nn::Tanh) {
                       if (!fused(rules::steps::tanh{}, w, w.aux1)) series::tanh_step(k, *x, w.out, w.aux1);
                     },
                     [&](nn::Softplus) {
                       if (!fused(rules::steps::softplus{}, w, w.aux1, w.aux2))
                         series::softplus_step(k, *x, w.out, w.aux1, w.aux2);
                     },
                 },
                 net_->layers[l]);
      x = &w.out;
    }
    assert(!prestep);  // taken by an activation's kernel
    return direct;
  }

  static bool fusable_activation(const nn::Layer<T>& layer) {
    return std::holds_alternative<nn::Sigmoid>(layer) || std::holds_alternative<nn::Tanh>(layer) ||
           std::holds_alternative<nn::Softplus>(layer);
  }

  // y = (W x + b) ⊙ σ(w_g t + b_g) + w_b t
  void concat_squash_step(int k, TimeSeries<T> t, const SeriesType& x, LayerWork& w) {
    series::linear_step(k, x, w.w, w.ldw, w.b, w.aux1);
    const Index out = w.out.cols();
    Backend::for_each(out, taylor_detail::GateInputKernel<T>{w.gw, w.gb, w.gate_u.coefficient(k), t, k});
    series::sigmoid_step(k, w.gate_u, w.gate_s, w.gate_e);
    series::product_broadcast_row_step(k, w.aux1, w.gate_s, w.out);
    if (t.may_be_nonzero(k)) series::add_time_row<T, Backend>(w.out.rows(), out, t, k, w.tw, Index(1), w.out.coefficient(k), out);
  }

  const nn::Sequential<T>* net_;
  const Clock<T, Backend>* clock_ = nullptr;
  int max_order_;
  Index batch_, dim_;
  std::vector<typename Backend::template Mirror<T>> mirrors_;
  std::vector<std::pair<const T*, Index>> mirror_sources_;  // the network's arrays they mirror
  std::vector<LayerWork> work_;
  SeriesType input_;
};

template <class T, class Backend>
NetworkTaylor<T, Backend>::NetworkTaylor(const nn::Sequential<T>& net, int max_order, Index batch)
    : net_(&net), max_order_(max_order), batch_(batch), dim_(net.in_features()) {
  if (max_order < 0 || batch < 1) throw std::invalid_argument("taynode::NetworkTaylor: max_order >= 0, batch >= 1");
  if (net.out_features() != dim_)
    throw std::invalid_argument("taynode::NetworkTaylor: the network's output features differ from its input features");
  input_.resize(max_order, batch, dim_);
  mirrors_.reserve(5 * net.layers.size());
  work_.resize(net.layers.size());
  Index features = dim_;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    LayerWork& w = work_[l];
    std::visit(taylor_detail::overloaded{
                   [&](const nn::Linear<T>& layer) {
                     check_in(layer.in(), features);
                     w.w = mirror(layer.weight.data(), layer.weight.size());
                     w.b = mirror(layer.bias.data(), layer.bias.size());
                     w.ldw = layer.weight.cols();
                     features = layer.out();
                   },
                   [&](const nn::ConcatLinear<T>& layer) {
                     check_in(layer.in(), features);
                     w.w = mirror(layer.weight.data(), layer.weight.size());
                     w.b = mirror(layer.bias.data(), layer.bias.size());
                     w.ldw = layer.weight.cols();
                     features = layer.out();
                   },
                   [&](const nn::ConcatSquash<T>& layer) {
                     check_in(layer.in(), features);
                     w.w = mirror(layer.weight.data(), layer.weight.size());
                     w.b = mirror(layer.bias.data(), layer.bias.size());
                     w.gw = mirror(layer.gate_weight.data(), layer.gate_weight.size());
                     w.gb = mirror(layer.gate_bias.data(), layer.gate_bias.size());
                     w.tw = mirror(layer.time_weight.data(), layer.time_weight.size());
                     w.ldw = layer.weight.cols();
                     features = layer.out();
                     w.aux1.resize(max_order, batch, features);  // W x + b
                     w.gate_u.resize(max_order, 1, features);
                     w.gate_s.resize(max_order, 1, features);
                     w.gate_e.resize(max_order, 1, features);
                   },
                   [&](nn::Sigmoid) { w.aux1.resize(max_order, batch, features); },
                   [&](nn::Tanh) { w.aux1.resize(max_order, batch, features); },
                   [&](nn::Softplus) {
                     w.aux1.resize(max_order, batch, features);
                     w.aux2.resize(max_order, batch, features);
                   },
               },
               net.layers[l]);
    w.out.resize(max_order, batch, features);
  }
}

}  // namespace taynode

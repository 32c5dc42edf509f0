#pragma once
// ad::Tape: reverse mode over any sequence of series/ operations.
//
// Each recording call runs the forward op at once for all orders 0..K (series/ops.hpp) and
// appends a node holding the output series, its auxiliaries (σ's e, tanh's w, …) and cotangent
// storage of the same shapes. backward(out, seed) seeds the cotangent of every coefficient of
// `out` and replays the adjoint steps of ad/series_adjoint.hpp over the nodes in reverse order of
// recording, k = K..0 within a node. That order is what the adjoint steps need: when node i's
// step k runs, every consumer of node i (recorded later) has finished, and node i's own steps
// k' > k have added their terms to ȳ_k. Weight cotangents are one stacked GEMM per linear op after
// its input steps. No recurrence is written here; this file is bookkeeping only.
//
// Storage: nodes are kept across clear(), and Series::resize reallocates only when growing, so
// after the first iteration of a loop recording the same graph nothing is allocated (beyond
// Eigen's GEMM blocking buffers). Parameters are NOT copied: the tape keeps pointers to W and b,
// which must outlive backward(). Generic over the backend: series, parameters (pointers into
// backend memory) and cotangents all live in Backend memory; the Eigen overloads (input(x0) of an
// expression, parameter(W, b) of Eigen matrices) are those of backend::Cpu's Matrix/Vector types.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "taynode/ad/series_adjoint.hpp"
#include "taynode/backend/matrix.hpp"
#include "taynode/series/ops.hpp"
#include "taynode/series/series.hpp"

namespace taynode::ad {

// Handles into a tape (plain indices; valid until the tape's clear()).
struct Var {
  std::size_t id;
};
struct Param {
  std::size_t id;
};
struct Time {
  std::size_t id;
};

template <class T, class Backend = backend::Cpu>
class Tape {
 public:
  using SeriesType = Series<T, Backend>;
  using Matrix = typename Backend::template Matrix<T>;  // Cpu: the row-major Eigen matrix
  using Vector = typename Backend::template Vector<T>;  // Cpu: the Eigen column vector
  using RowMatrix = Matrix;
  using Input = backend::InputMatrix<Backend, T>;

  explicit Tape(int order) : order_(order) {
    if (order < 0) throw std::invalid_argument("taynode::ad::Tape: order >= 0");
  }
  int order() const { return order_; }
  std::size_t size() const { return n_nodes_; }

  // Forgets the recorded graph (handles become invalid) but keeps every buffer for the next one.
  void clear() { n_nodes_ = n_params_ = n_times_ = 0; }

  // ---- leaves -------------------------------------------------------------------------------
  // An input series, all coefficients given (its order must be the tape's).
  Var input(const SeriesType& x) {
    if (x.order() != order_) throw std::invalid_argument("taynode::ad::Tape::input: order mismatch");
    const Var v = push(Op::input, x.rows(), x.cols());
    Backend::copy((order_ + 1) * x.size(), x.data(), node(v).value.data());
    return v;
  }
  // An input constant in τ: coefficient 0 = x0, higher coefficients 0.
  Var input(const Input& x0) {
    const Var v = push(Op::input, x0.rows(), x0.cols());
    SeriesType& y = node(v).value;
    zero(y);
    Backend::copy(x0.size(), x0.data(), y.coefficient(0));
    return v;
  }
  // A weight W (out × in, row-major, leading dimension ldw) and an optional bias (out), used in
  // place; their cotangents live on the tape (grad_weight, grad_bias).
  Param parameter(const T* w, Index out, Index in, Index ldw, const T* bias = nullptr) {
    if (ldw < in) throw std::invalid_argument("taynode::ad::Tape::parameter: ldw < in");
    if (n_params_ == params_.size()) params_.emplace_back();
    ParamRecord& p = params_[n_params_];
    p.w = w;
    p.bias = bias;
    p.ldw = ldw;
    p.w_bar.resize(out, in);
    p.b_bar.resize(out);
    return Param{n_params_++};
  }
  Param parameter(const Matrix& W, const Vector& b) {
    if (b.size() != W.rows()) throw std::invalid_argument("taynode::ad::Tape::parameter: bias size");
    return parameter(W.data(), W.rows(), W.cols(), W.cols(), b.data());
  }
  Param parameter(const Matrix& W) { return parameter(W.data(), W.rows(), W.cols(), W.cols()); }
  // Temporaries would dangle: the tape reads W and b again in backward().
  Param parameter(Matrix&&, const Vector&) = delete;
  Param parameter(const Matrix&, Vector&&) = delete;
  Param parameter(Matrix&&) = delete;
  // The time series t(τ) = t0 + t1·τ; its cotangents (t̄0, t̄1) are grad_time.
  Time time(TimeSeries<T> t) {
    if (n_times_ == times_.size()) times_.emplace_back();
    times_[n_times_] = TimeRecord{t, {T(0), T(0)}};
    return Time{n_times_++};
  }

  // ---- operations (forward runs now, orders 0..K) -------------------------------------------
  // y = x Wᵀ + b
  Var linear(Var x, Param p) {
    const ParamRecord& pr = param(p);
    if (node(x).value.cols() != pr.w_bar.cols()) throw std::invalid_argument("taynode::ad::Tape::linear: shapes");
    const Var v = push(Op::linear, node(x).value.rows(), pr.w_bar.rows(), x, x, p.id);
    series::linear(node(x).value, pr.w, pr.ldw, pr.bias, node(v).value);
    return v;
  }
  // y = [t, x] Wᵀ + b, time column first: W = [w_t | W_x] is out × (1 + in).
  Var concat_time_linear(Time t, Var x, Param p) {
    const ParamRecord& pr = param(p);
    if (node(x).value.cols() + 1 != pr.w_bar.cols())
      throw std::invalid_argument("taynode::ad::Tape::concat_time_linear: shapes");
    const Var v = push(Op::concat_time_linear, node(x).value.rows(), pr.w_bar.rows(), x, x, p.id, time_record(t).t,
                       t.id);
    for (int k = 0; k <= order_; ++k)
      series::concat_time_linear_step(k, times_[t.id].t, node(x).value, pr.w, pr.ldw, pr.bias, node(v).value);
    return v;
  }
  Var sigmoid(Var u) { return unary(Op::sigmoid, u, [](auto& x, auto& n) { series::sigmoid(x, n.value, n.aux1); }); }
  Var tanh(Var u) { return unary(Op::tanh, u, [](auto& x, auto& n) { series::tanh(x, n.value, n.aux1); }); }
  Var softplus(Var u) {
    return unary(Op::softplus, u, [](auto& x, auto& n) { series::softplus(x, n.value, n.aux1, n.aux2); });
  }
  Var exp(Var u) { return unary(Op::exp, u, [](auto& x, auto& n) { series::exp(x, n.value); }); }
  // log(u): u_0 > 0 is the caller's business (as in series::log).
  Var log(Var u) { return unary(Op::log, u, [](auto& x, auto& n) { series::log(x, n.value); }); }
  Var square(Var u) { return unary(Op::square, u, [](auto& x, auto& n) { series::square(x, n.value); }); }
  // y = α·u
  Var scale(T alpha, Var u) {
    return unary(Op::scale, u, [alpha](auto& x, auto& n) { series::scale(alpha, x, n.value); }, alpha);
  }
  // y = u ⊙ v (Cauchy product per element); u and v may be the same Var.
  Var product(Var u, Var v) {
    same_shape(u, v, "product");
    const Var y = push(Op::product, node(u).value.rows(), node(u).value.cols(), u, v);
    series::product(node(u).value, node(v).value, node(y).value);
    return y;
  }
  // y = u + α·v
  Var add(Var u, Var v, T alpha = T(1)) {
    same_shape(u, v, "add");
    const Var y = push(Op::add, node(u).value.rows(), node(u).value.cols(), u, v, npos, TimeSeries<T>{}, npos, alpha);
    series::add(node(u).value, node(v).value, node(y).value, alpha);
    return y;
  }
  // y = u ⊙ g with g one row (1 × cols) broadcast over the rows of u.
  Var product_broadcast_row(Var u, Var g) {
    const SeriesType &us = node(u).value, &gs = node(g).value;
    if (gs.rows() != 1 || gs.cols() != us.cols())
      throw std::invalid_argument("taynode::ad::Tape::product_broadcast_row: g must be 1 × cols(u)");
    const Var y = push(Op::product_broadcast_row, us.rows(), us.cols(), u, g);
    for (int k = 0; k <= order_; ++k)
      series::product_broadcast_row_step(k, node(u).value, node(g).value, node(y).value);
    return y;
  }
  // Reductions: rows × 1 (per example) or 1 × cols (over the batch).
  Var squared_norm_rows(Var x) {
    const Var y = push(Op::squared_norm_rows, node(x).value.rows(), 1, x);
    series::squared_norm_rows(node(x).value, node(y).value);
    return y;
  }
  Var mean_cols(Var x) {
    const Var y = push(Op::mean_cols, node(x).value.rows(), 1, x);
    series::mean_cols(node(x).value, node(y).value);
    return y;
  }
  Var mean_rows(Var x) {
    const Var y = push(Op::mean_rows, 1, node(x).value.cols(), x);
    series::mean_rows(node(x).value, node(y).value);
    return y;
  }

  // ---- reverse sweep ------------------------------------------------------------------------
  // L = Σ_k <seed_k, out_k> over coefficients 0..K. Every cotangent on the tape is overwritten
  // (nodes recorded after `out` get 0); call again with another output or seed as needed.
  void backward(Var out, const SeriesType& seed) {
    const SeriesType& y = node(out).value;
    if (seed.order() != order_ || seed.rows() != y.rows() || seed.cols() != y.cols())
      throw std::invalid_argument("taynode::ad::Tape::backward: seed shape");
    zero_cotangents();
    Backend::copy((order_ + 1) * seed.size(), seed.data(), node(out).bar.data());
    sweep(out.id);
  }
  // Seed 1 on every element of coefficient 0 (the gradient of Σ out_0, e.g. a scalar loss).
  void backward(Var out) {
    zero_cotangents();
    Backend::fill(node(out).bar.size(), T(1), node(out).bar.coefficient(0));
    sweep(out.id);
  }

  // ---- results ------------------------------------------------------------------------------
  const SeriesType& value(Var v) const { return node(v).value; }
  // ∂L/∂(every coefficient of v); for inputs and intermediates alike.
  const SeriesType& grad(Var v) const { return node(v).bar; }
  const Matrix& grad_weight(Param p) const { return param(p).w_bar; }
  // ∂L/∂b (zero for a parameter without bias).
  const Vector& grad_bias(Param p) const { return param(p).b_bar; }
  // (∂L/∂t0, ∂L/∂t1) of a time series.
  TimeSeries<T> grad_time(Time t) const { return time_record(t).bar; }

 private:
  static constexpr std::size_t npos = std::size_t(-1);
  enum class Op {
    input,
    linear,
    concat_time_linear,
    sigmoid,
    tanh,
    softplus,
    exp,
    log,
    square,
    scale,
    product,
    add,
    product_broadcast_row,
    squared_norm_rows,
    mean_cols,
    mean_rows
  };
  struct Node {
    Op op = Op::input;
    std::size_t a = 0, b = 0;          // input nodes
    std::size_t param = npos, time = npos;
    TimeSeries<T> t{};                 // the time series a concat_time_linear saw
    T alpha = T(1);                    // add, scale
    SeriesType value, aux1, aux2;      // output and auxiliaries (σ's e, tanh's w, softplus's s, e)
    SeriesType bar, aux1_bar, aux2_bar;
  };
  struct ParamRecord {
    const T* w = nullptr;
    const T* bias = nullptr;
    Index ldw = 0;
    Matrix w_bar;
    Vector b_bar;
  };
  struct TimeRecord {
    TimeSeries<T> t, bar;
  };

  // Checked handle lookups (a handle from before clear() may point past the recorded graph).
  std::size_t node_id(Var v) const {
    if (v.id >= n_nodes_) throw std::out_of_range("taynode::ad::Tape: Var not on this tape");
    return v.id;
  }
  Node& node(Var v) { return nodes_[node_id(v)]; }
  const Node& node(Var v) const { return nodes_[node_id(v)]; }
  const ParamRecord& param(Param p) const {
    if (p.id >= n_params_) throw std::out_of_range("taynode::ad::Tape: Param not on this tape");
    return params_[p.id];
  }
  const TimeRecord& time_record(Time t) const {
    if (t.id >= n_times_) throw std::out_of_range("taynode::ad::Tape: Time not on this tape");
    return times_[t.id];
  }
  void same_shape(Var u, Var v, const char* what) const {
    if (node(u).value.rows() != node(v).value.rows() || node(u).value.cols() != node(v).value.cols())
      throw std::invalid_argument(std::string("taynode::ad::Tape::") + what + ": shapes differ");
  }
  static bool has_aux1(Op op) { return op == Op::sigmoid || op == Op::tanh || op == Op::softplus; }

  // Appends (or reuses) a node of the given output shape; handles stay indices, so growing the
  // node vector does not invalidate them (references are re-taken after every push).
  Var push(Op op, Index rows, Index cols, Var a = {npos}, Var b = {npos}, std::size_t param = npos,
           TimeSeries<T> t = {}, std::size_t time = npos, T alpha = T(1)) {
    if (a.id != npos && a.id >= n_nodes_) throw std::out_of_range("taynode::ad::Tape: Var not on this tape");
    if (b.id != npos && b.id >= n_nodes_) throw std::out_of_range("taynode::ad::Tape: Var not on this tape");
    if (n_nodes_ == nodes_.size()) nodes_.emplace_back();
    Node& n = nodes_[n_nodes_];
    n.op = op;
    n.a = a.id;
    n.b = b.id;
    n.param = param;
    n.t = t;
    n.time = time;
    n.alpha = alpha;
    for (SeriesType* s : {&n.value, &n.bar}) s->resize(order_, rows, cols);
    if (has_aux1(op))
      for (SeriesType* s : {&n.aux1, &n.aux1_bar}) s->resize(order_, rows, cols);
    if (op == Op::softplus)
      for (SeriesType* s : {&n.aux2, &n.aux2_bar}) s->resize(order_, rows, cols);
    return Var{n_nodes_++};
  }
  template <class F>
  Var unary(Op op, Var u, F&& forward, T alpha = T(1)) {
    const Var y = push(op, node(u).value.rows(), node(u).value.cols(), u, u, npos, {}, npos, alpha);
    forward(node(u).value, node(y));
    return y;
  }

  static void zero(SeriesType& s) { Backend::fill((s.order() + 1) * s.size(), T(0), s.data()); }
  void zero_cotangents() {
    for (std::size_t i = 0; i < n_nodes_; ++i) {
      Node& n = nodes_[i];
      zero(n.bar);
      if (has_aux1(n.op)) zero(n.aux1_bar);
      if (n.op == Op::softplus) zero(n.aux2_bar);
    }
    for (std::size_t i = 0; i < n_params_; ++i) {
      Backend::fill(params_[i].w_bar.size(), T(0), params_[i].w_bar.data());
      Backend::fill(params_[i].b_bar.size(), T(0), params_[i].b_bar.data());
    }
    for (std::size_t i = 0; i < n_times_; ++i) times_[i].bar = TimeSeries<T>{T(0), T(0)};
  }

  // Nodes last..0 in reverse order of recording (later nodes cannot reach `last`).
  void sweep(std::size_t last) {
    for (std::size_t i = last + 1; i-- > 0;) reverse(nodes_[i]);
  }

  // The adjoint of one node, k = K..0, accumulating into its inputs' (and own auxiliaries')
  // cotangents, then into its parameters'.
  void reverse(Node& n) {
    if (n.op == Op::input) return;
    Node& a = nodes_[n.a];
    Node& b = nodes_[n.b == npos ? n.a : n.b];
    for (int k = order_; k >= 0; --k) {
      switch (n.op) {
        case Op::input: break;
        case Op::linear:
          linear_input_adjoint_step(k, n.bar, params_[n.param].w, params_[n.param].ldw, a.bar);
          break;
        case Op::concat_time_linear: {
          const T tb = concat_time_linear_input_adjoint_step(k, n.bar, params_[n.param].w, params_[n.param].ldw, a.bar);
          // t(τ) = t0 + t1 τ: only coefficients 0 and 1 are variables (t_k = 0 for k ≥ 2).
          if (k == 0) times_[n.time].bar.t0 += tb;
          if (k == 1) times_[n.time].bar.t1 += tb;
          break;
        }
        case Op::sigmoid: sigmoid_adjoint_step(k, a.value, n.value, n.aux1, a.bar, n.bar, n.aux1_bar); break;
        case Op::tanh: tanh_adjoint_step(k, a.value, n.value, n.aux1, a.bar, n.bar, n.aux1_bar); break;
        case Op::softplus:
          softplus_adjoint_step(k, a.value, n.value, n.aux1, n.aux2, a.bar, n.bar, n.aux1_bar, n.aux2_bar);
          break;
        case Op::exp: exp_adjoint_step(k, a.value, n.value, a.bar, n.bar); break;
        case Op::log: log_adjoint_step(k, a.value, n.value, a.bar, n.bar); break;
        case Op::square: square_adjoint_step(k, a.value, a.bar, n.bar); break;
        // Linear ops: the adjoint is the forward axpy on cotangents (ū_k += α ȳ_k).
        case Op::scale: series::add_step(k, a.bar, n.bar, a.bar, n.alpha); break;
        case Op::add:
          series::add_step(k, a.bar, n.bar, a.bar);
          series::add_step(k, b.bar, n.bar, b.bar, n.alpha);
          break;
        case Op::product: product_adjoint_step(k, a.value, b.value, a.bar, b.bar, n.bar); break;
        case Op::product_broadcast_row:
          product_broadcast_row_adjoint_step(k, a.value, b.value, a.bar, b.bar, n.bar);
          break;
        case Op::squared_norm_rows: squared_norm_rows_adjoint_step(k, a.value, a.bar, n.bar); break;
        case Op::mean_cols: mean_cols_adjoint_step(k, a.bar, n.bar); break;
        case Op::mean_rows: mean_rows_adjoint_step(k, a.bar, n.bar); break;
      }
    }
    if (n.op == Op::linear) {
      ParamRecord& p = params_[n.param];
      linear_parameter_adjoint(order_, a.value, n.bar, p.w_bar.data(), p.w_bar.cols(),
                               p.bias ? p.b_bar.data() : nullptr);
    } else if (n.op == Op::concat_time_linear) {
      ParamRecord& p = params_[n.param];
      concat_time_linear_parameter_adjoint(order_, n.t, a.value, n.bar, p.w_bar.data(), p.w_bar.cols(),
                                           p.bias ? p.b_bar.data() : nullptr);
    }
  }

  int order_;
  std::vector<Node> nodes_;  // nodes_[0 .. n_nodes_) are the recorded graph; the rest are spares
  std::vector<ParamRecord> params_;
  std::vector<TimeRecord> times_;
  std::size_t n_nodes_ = 0, n_params_ = 0, n_times_ = 0;
};

}  // namespace taynode::ad

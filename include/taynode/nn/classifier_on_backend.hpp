#pragma once
// The classifier head of classifier.hpp (σ(z1) → Linear(D → C) → mean softmax cross-entropy) with
// its tensors, its forward and backward passes and its totals in a backend's memory: the loss head
// of ad::solve_gradient on a device, so that a training iteration on a fixed grid — solve,
// head, backward pass, an optimizer on the backend — issues backend calls only and can be
// captured as one graph (docs/cuda.md, "Graphs"). Same formulas as classifier.hpp:
//
//   h = σ(z1),  ℓ = h Wᵀ + b,  L = (1/B) Σ_b [ lse(ℓ_b) − ℓ_{b, y_b} ]   (per-row max subtracted)
//   ℓ̄ = s·(softmax(ℓ) − onehot(y)),  W̄ = ℓ̄ᵀ h,  b̄ = Σ_b ℓ̄_b,  z̄1 = (ℓ̄ W) ⊙ h ⊙ (1 − h)
//
// with s = share/rows (share = rows/batch: these rows may be one shard of a global batch, as in
// ClassifierLoss) and r̄1 = reg_weight/batch. Eleven backend calls: σ, the logits GEMM and bias,
// one kernel per row for the softmax, its cross-entropy and ℓ̄, one single-thread kernel for the
// totals (summed in row order: deterministic), W̄'s GEMM, b̄'s column sums (two calls), z̄1's GEMM
// and σ' product, r̄1's fill. On backend::Cpu every step computes what classifier.hpp computes, in
// the same order (tests/nn/test_classifier_on_backend.cpp compares the two).
//
// The labels and the head's tensors enter by explicit uploads (set_labels, load) and leave by
// downloads (totals, store): none of them inside a capture.

#include <cmath>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>

#include "taynode/backend/backend.hpp"
#include "taynode/config.hpp"
#include "layers.hpp"
#include "parameter_buffers.hpp"

namespace taynode::nn {

namespace classifier_kernels {
using backend::Index;

// h = σ(z) = 1/(1 + e^{−z}) (classifier_forward's expression).
template <class T>
struct Sigmoid {
  const T* z;
  T* h;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    using std::exp;
    h[i] = T(1) / (T(1) + exp(-z[i]));
  }
};

// One row b of C logits: the first arg-max, lse(ℓ_b) − ℓ_{b,y} = log Σ_c e^{ℓ_c − m} − (ℓ_y − m),
// and ℓ̄_b = s·(softmax(ℓ_b) − onehot(y_b)) (classifier_backward's, per row).
template <class T>
struct SoftmaxCrossEntropyRow {
  Index classes;
  const T* logits;
  const int* labels;
  T s;
  T* logits_bar;
  double* row_loss;
  int* row_correct;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index b) const {
    using std::exp;
    using std::log;
    const T* l = logits + b * classes;
    T* g = logits_bar + b * classes;
    Index arg = 0;
    T m = l[0];
    for (Index c = 1; c < classes; ++c)
      if (l[c] > m) {
        m = l[c];
        arg = c;
      }
    T sum = T(0);
    for (Index c = 0; c < classes; ++c) {
      g[c] = exp(l[c] - m);
      sum += g[c];
    }
    const int y = labels[b];
    for (Index c = 0; c < classes; ++c) g[c] = (g[c] / sum - (c == y ? T(1) : T(0))) * s;
    row_loss[b] = double(log(sum)) - double(l[y] - m);
    row_correct[b] = arg == y ? 1 : 0;
  }
};

// totals = {these rows' part of the mean cross-entropy, of the mean R(1), correct rows}, summed in
// row order by one thread.
template <class T>
struct Totals {
  Index rows;
  double share, batch;
  const double* row_loss;
  const int* row_correct;
  const T* r1;
  double* totals;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index) const {
    double loss = 0, reg = 0, correct = 0;
    for (Index b = 0; b < rows; ++b) {
      loss += row_loss[b];
      reg += double(r1[b]);
      correct += double(row_correct[b]);
    }
    totals[0] = loss / double(rows) * share;
    totals[1] = reg / batch;
    totals[2] = correct;
  }
};

// z̄ ← z̄ ⊙ h ⊙ (1 − h)
template <class T>
struct SigmoidSlope {
  const T* h;
  T* z_bar;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const { z_bar[i] *= h[i] * (T(1) - h[i]); }
};
}  // namespace classifier_kernels

template <class T, class B>
class ClassifierLossOnBackend {
  using Index = backend::Index;

 public:
  struct Totals {
    double loss = 0;  // these rows' part of the mean cross-entropy
    double reg = 0;   // these rows' part of the mean R(1)
    std::size_t correct = 0;
  };

  // The head's shape and values from `head`; `rows` solved per call, means over `batch` rows (0:
  // rows), r̄1 = reg_weight/batch.
  ClassifierLossOnBackend(const Linear<T>& head, Index rows, Index batch = 0, double reg_weight = 1)
      : in_(head.in()), classes_(head.out()), rows_(rows), batch_(batch != 0 ? batch : rows), reg_weight_(reg_weight),
        weight_(std::size_t(classes_ * in_)), bias_(std::size_t(classes_)), weight_bar_(std::size_t(classes_ * in_)),
        bias_bar_(std::size_t(classes_)), labels_(std::size_t(rows)), hidden_(std::size_t(rows * in_)),
        logits_(std::size_t(rows * classes_)), logits_bar_(std::size_t(rows * classes_)),
        row_loss_(std::size_t(rows)), row_correct_(std::size_t(rows)), totals_(3) {
    if (rows < 1 || batch_ < rows)
      throw std::invalid_argument("taynode::nn::ClassifierLossOnBackend: rows >= 1 and batch >= rows (rows " +
                                  std::to_string(rows) + ", batch " + std::to_string(batch_) + ")");
    if (classes_ < 2 || in_ < 1)
      throw std::invalid_argument("taynode::nn::ClassifierLossOnBackend: a head of >= 1 inputs and >= 2 classes");
    load(head);
  }

  void load(const Linear<T>& head) {
    check_shape(head, "load");
    B::upload(classes_ * in_, head.weight.data(), weight_.data());
    B::upload(classes_, head.bias.data(), bias_.data());
  }
  void store(Linear<T>& head) const {
    check_shape(head, "store");
    B::download(classes_ * in_, weight_.data(), head.weight.data());
    B::download(classes_, bias_.data(), head.bias.data());
  }
  // The labels of the next calls' rows (each a class 0 … C−1).
  void set_labels(std::span<const int> labels) {
    if (Index(labels.size()) != rows_)
      throw std::invalid_argument("taynode::nn::ClassifierLossOnBackend::set_labels: " + std::to_string(labels.size()) +
                                  " labels for " + std::to_string(rows_) + " rows");
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] < 0 || labels[i] >= classes_)
        throw std::invalid_argument("taynode::nn::ClassifierLossOnBackend::set_labels: label " +
                                    std::to_string(labels[i]) + " at index " + std::to_string(i) +
                                    " is not a class 0.." + std::to_string(classes_ - 1));
    B::upload(rows_, labels.data(), labels_.data());
  }

  // solve_gradient's loss head: z̄1, r̄1 (any values on entry) from z1, r1; W̄, b̄ and the totals kept.
  template <class Z, class R, class ZB, class RB>
  void operator()(const Z& z1, const R& r1, ZB& z1_bar, RB& r1_bar) {
    if (z1.rows() != rows_ || z1.cols() != in_ || z1_bar.rows() != rows_ || z1_bar.cols() != in_ ||
        Index(r1.size()) != rows_ || Index(r1_bar.size()) != rows_)
      throw std::invalid_argument("taynode::nn::ClassifierLossOnBackend: a state of " + std::to_string(z1.rows()) + " × " +
                                  std::to_string(z1.cols()) + " for a head of " + std::to_string(rows_) + " × " +
                                  std::to_string(in_));
    namespace k = classifier_kernels;
    const Index n = rows_ * in_, C = classes_, D = in_;
    T* h = hidden_.data();
    B::for_each(n, k::Sigmoid<T>{z1.data(), h});
    B::gemm_nt(rows_, C, D, h, D, weight_.data(), D, logits_.data(), C, T(1), T(0));
    B::add_row(rows_, C, T(1), bias_.data(), 1, logits_.data(), C);
    const double share = double(rows_) / double(batch_);
    B::for_each(rows_, k::SoftmaxCrossEntropyRow<T>{C, logits_.data(), labels_.data(), T(share) / T(rows_),
                                                    logits_bar_.data(), row_loss_.data(), row_correct_.data()});
    B::for_each(1, k::Totals<T>{rows_, share, double(batch_), row_loss_.data(), row_correct_.data(), r1.data(),
                                totals_.data()});
    B::gemm_tn(C, D, rows_, logits_bar_.data(), C, h, D, weight_bar_.data(), D, T(1), T(0));
    B::fill(C, T(0), bias_bar_.data());
    B::column_sums(rows_, C, T(1), logits_bar_.data(), C, bias_bar_.data(), 1);
    B::gemm_nn(rows_, D, C, logits_bar_.data(), C, weight_.data(), D, z1_bar.data(), D, T(1), T(0));
    B::for_each(n, k::SigmoidSlope<T>{h, z1_bar.data()});
    B::fill(rows_, T(reg_weight_ / double(batch_)), r1_bar.data());
  }

  // The last call's totals (a download: waits for the backend).
  Totals totals() const {
    double t[3];
    B::download(3, totals_.data(), t);
    return {t[0], t[1], std::size_t(t[2])};
  }

  // The head's tensors and their gradients, "<prefix>weight" (C × D) and "<prefix>bias" (C × 1) as
  // add_head_parameters names them, for an optimizer on B (updates in place) and checkpoints.
  ParameterViews<T, B> parameters(const std::string& prefix = "head.") {
    return views(weight_.data(), bias_.data(), prefix);
  }
  ParameterViews<T, B> gradient(const std::string& prefix = "head.") {
    return views(weight_bar_.data(), bias_bar_.data(), prefix);
  }
  Index rows() const { return rows_; }

 private:
  template <class U>
  using Buffer = typename B::template Buffer<U>;

  void check_shape(const Linear<T>& head, const char* what) const {
    if (head.in() != in_ || head.out() != classes_)
      throw std::invalid_argument(std::string("taynode::nn::ClassifierLossOnBackend::") + what + ": a head of " +
                                  std::to_string(head.in()) + " → " + std::to_string(head.out()) + " for one of " +
                                  std::to_string(in_) + " → " + std::to_string(classes_));
  }
  ParameterViews<T, B> views(T* w, T* b, const std::string& prefix) {
    ParameterViews<T, B> v;
    v.add(prefix + "weight", w, classes_, in_);
    v.add(prefix + "bias", b, classes_, 1);
    return v;
  }

  Index in_, classes_, rows_, batch_;
  double reg_weight_;
  Buffer<T> weight_, bias_, weight_bar_, bias_bar_;
  Buffer<int> labels_;
  Buffer<T> hidden_, logits_, logits_bar_;
  Buffer<double> row_loss_;
  Buffer<int> row_correct_;
  Buffer<double> totals_;
};

}  // namespace taynode::nn

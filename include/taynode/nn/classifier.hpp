#pragma once
// The classification head of the paper's MNIST model (REFERENCE.md §1): the ODE's final state z1
// (batch × D) goes through σ, a Linear(D → C) layer gives the logits, and the loss is the mean
// softmax cross-entropy over the batch:
//
//   h = σ(z1),   ℓ = h Wᵀ + b   (batch × C),   L = (1/B) Σ_b [ lse(ℓ_b) − ℓ_{b, y_b} ],
//   lse(ℓ_b) = m_b + log Σ_c exp(ℓ_bc − m_b),  m_b = max_c ℓ_bc   (no overflow for any logits).
//
// Backward (hand-derived, scaled by `scale` = ∂(total loss)/∂L, 1 by default):
//   ℓ̄ = scale·(softmax(ℓ) − onehot(y))/B,   W̄ = ℓ̄ᵀ h,   b̄ = Σ_b ℓ̄_b,
//   h̄ = ℓ̄ W,   z̄1 = h̄ ⊙ h ⊙ (1 − h).
//
// Parameters are an nn::Linear<T> (weight C × D, bias C); their checkpoint names are
// "<prefix>weight" and "<prefix>bias" (default prefix "head."), so they can be saved in the same
// checkpoint as a dynamics network's "layers.<i>.…" tensors (add_head_parameters).
// Floats or doubles; the loss is accumulated in double.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <string>

#include <Eigen/Core>

#include "init.hpp"
#include "layers.hpp"
#include "parameters.hpp"

namespace taynode::nn {

// Haiku's default init of hk.Linear (weights truncated normal σ = 1/√fan_in, biases 0).
template <class T, class Rng>
Linear<T> make_classifier_head(Eigen::Index in, Eigen::Index classes, Rng& rng) {
  if (in < 1 || classes < 2) throw std::invalid_argument("taynode::nn::make_classifier_head: in >= 1 and classes >= 2");
  Linear<T> head(in, classes);
  truncated_normal(head.weight, rng, fan_in_stddev(in));
  head.bias.setZero();
  return head;
}

template <class T>
struct ClassifierForward {
  double loss = 0;             // mean cross-entropy over the batch
  std::size_t correct = 0;     // examples whose arg-max logit is the label (first maximum on ties)
  RowMatrix<T> hidden;         // σ(z1), batch × D
  RowMatrix<T> logits;         // batch × C
  RowMatrix<T> probabilities;  // softmax(logits), batch × C
};

template <class T>
struct ClassifierGradient {
  RowMatrix<T> z_bar;   // ∂L/∂z1, batch × D
  RowMatrix<T> weight;  // ∂L/∂W, C × D
  Vector<T> bias;       // ∂L/∂b, C
};

namespace classifier_detail {
template <class T>
void check(const Linear<T>& head, Eigen::Index rows, Eigen::Index cols, std::span<const int> labels, const char* what) {
  if (cols != head.in())
    throw std::invalid_argument(std::string("taynode::nn::") + what + ": the state has " + std::to_string(cols) +
                                " columns, the head expects " + std::to_string(head.in()));
  if (rows < 1) throw std::invalid_argument(std::string("taynode::nn::") + what + ": empty batch");
  if (std::size_t(rows) != labels.size())
    throw std::invalid_argument(std::string("taynode::nn::") + what + ": " + std::to_string(labels.size()) +
                                " labels for a batch of " + std::to_string(rows));
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= head.out())
      throw std::invalid_argument(std::string("taynode::nn::") + what + ": label " + std::to_string(labels[i]) +
                                  " at index " + std::to_string(i) + " is not a class 0.." +
                                  std::to_string(head.out() - 1));
}
}  // namespace classifier_detail

// Forward pass: loss, logits, probabilities and the number of correct predictions.
template <class T, class DZ>
ClassifierForward<T> classifier_forward(const Linear<T>& head, const Eigen::MatrixBase<DZ>& z1,
                                        std::span<const int> labels) {
  classifier_detail::check(head, z1.rows(), z1.cols(), labels, "classifier_forward");
  const Eigen::Index B = z1.rows(), C = head.out();
  ClassifierForward<T> out;
  out.hidden = z1.template cast<T>().unaryExpr([](T x) { return T(1) / (T(1) + std::exp(-x)); });
  out.logits.noalias() = out.hidden * head.weight.transpose();
  out.logits.rowwise() += head.bias.transpose();
  out.probabilities.resize(B, C);
  double total = 0;
  for (Eigen::Index b = 0; b < B; ++b) {
    Eigen::Index arg = 0;
    const T m = out.logits.row(b).maxCoeff(&arg);
    const auto shifted = (out.logits.row(b).array() - m).eval();
    const auto e = shifted.exp().eval();
    const T sum = e.sum();  // >= 1: the maximum contributes exp(0)
    out.probabilities.row(b) = e / sum;
    const int y = labels[std::size_t(b)];
    total += double(std::log(sum)) - double(shifted(y));  // lse − ℓ_y = log Σ exp(ℓ − m) − (ℓ_y − m)
    if (arg == y) ++out.correct;
  }
  out.loss = total / double(B);
  return out;
}

// Backward pass of `scale`·L from a forward pass on the same batch.
template <class T>
ClassifierGradient<T> classifier_backward(const Linear<T>& head, const ClassifierForward<T>& fwd,
                                          std::span<const int> labels, T scale = T(1)) {
  classifier_detail::check(head, fwd.hidden.rows(), fwd.hidden.cols(), labels, "classifier_backward");
  const Eigen::Index B = fwd.hidden.rows();
  RowMatrix<T> logits_bar = fwd.probabilities;
  for (Eigen::Index b = 0; b < B; ++b) logits_bar(b, labels[std::size_t(b)]) -= T(1);
  logits_bar *= scale / T(B);
  ClassifierGradient<T> g;
  g.weight.noalias() = logits_bar.transpose() * fwd.hidden;
  g.bias = logits_bar.colwise().sum().transpose();
  g.z_bar.noalias() = logits_bar * head.weight;
  g.z_bar.array() *= fwd.hidden.array() * (T(1) - fwd.hidden.array());
  return g;
}

// The classifier's mean cross-entropy (+ the mean of a regularizer's R(1)) as ad::solve_gradient's
// loss head: fills z̄1 = ∂CE/∂z1 and r̄1 = reg_weight/batch, keeps the head's gradient and the
// forward values. `batch` is the number of rows the means are over (0: the rows of z1): the rows
// solved here may be one shard of a global batch (data-parallel training, dist/mpi.hpp), whose
// parts — loss, reg, the gradients — summed over the shards are the whole batch's.
template <class T>
struct ClassifierLoss {
  ClassifierLoss(const Linear<T>& head_, std::span<const int> labels_, Eigen::Index batch_ = 0,
                 double reg_weight_ = 1)
      : head(head_), labels(labels_), batch(batch_), reg_weight(reg_weight_) {}

  const Linear<T>& head;
  std::span<const int> labels;  // of these rows
  Eigen::Index batch = 0;
  double reg_weight = 1;  // r̄1 = reg_weight / batch (λ when the integrand carries no weight)
  // Set by the call:
  double loss = 0;  // these rows' part of the mean cross-entropy
  double reg = 0;   // these rows' part of the mean R(1)
  std::size_t correct = 0;
  ClassifierGradient<T> grad;  // of these rows' part (head weight and bias, z̄1)

  template <class Z, class R>
  void operator()(const Z& z1, const R& r1, Z& z1_bar, R& r1_bar) {
    const Eigen::Index rows = z1.rows();
    if (batch != 0 && batch < rows)
      throw std::invalid_argument("taynode::nn::ClassifierLoss: batch " + std::to_string(batch) +
                                  " is less than the " + std::to_string(rows) + " rows solved");
    const double global = double(batch != 0 ? batch : rows), share = double(rows) / global;
    const auto fwd = classifier_forward(head, z1, labels);
    grad = classifier_backward(head, fwd, labels, T(share));  // (1/rows)·share = 1/global
    z1_bar = grad.z_bar;
    loss = fwd.loss * share;
    correct = fwd.correct;
    r1_bar.setConstant(T(reg_weight / global));
    reg = double(r1.sum()) / global;
  }
};

// The head's tensors under "<prefix>weight" / "<prefix>bias": views (to update and checkpoint the
// head in place, e.g. appended to parameter_refs(dynamics)) and copies of a gradient.
template <class T>
void add_head_parameters(ParameterRefs<T>& refs, Linear<T>& head, const std::string& prefix = "head.") {
  refs.add(prefix + "weight", head.weight);
  refs.add(prefix + "bias", head.bias);
}
template <class T>
void add_head_gradient(ParameterSet<T>& grads, const ClassifierGradient<T>& g, const std::string& prefix = "head.") {
  grads.add(prefix + "weight", g.weight);
  grads.add(prefix + "bias", RowMatrix<T>(g.bias));
}

}  // namespace taynode::nn

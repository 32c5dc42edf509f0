#pragma once
// First-order optimizers with the update rules of jax.experimental.optimizers (the reference's
// library; docs/nn.md). With i = number of steps already taken (0 on the first step),
// η = schedule(i), t = i + 1, all arithmetic elementwise in the scalar type T:
//
//   SgdMomentum (heavy ball, `optimizers.momentum(step_size, mass)`):
//     v ← μ v + g;            θ ← θ − η v                                  (μ = mass = 0.9)
//   Adam (`optimizers.adam`, Kingma & Ba Algorithm 1 with ε outside the root of the bias-corrected v):
//     m ← (1−β1) g + β1 m;    v ← (1−β2) g² + β2 v
//     m̂ = m/(1−β1^t);         v̂ = v/(1−β2^t);    θ ← θ − η m̂/(√v̂ + ε)    (0.9, 0.999, 1e-8)
//   Adamax (`optimizers.adamax`, Kingma & Ba Algorithm 2 plus ε):
//     m ← (1−β1) g + β1 m;    u ← max(β2 u, |g|)
//     θ ← θ − (η/(1−β1^t)) · m/(u + ε)                                       (0.9, 0.999, 1e-8)
//
// Slots (velocity; m, v; m, u) start at zero, are created on the first step with the names and
// shapes of the parameters, and are kept in OptimizerState (saved by checkpoint.hpp). `step(params,
// grads)` takes any collection with size()/name(i)/value(i) — ParameterSet, or ParameterRefs to
// update a network in place — and grads of the same layout.

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "parameters.hpp"
#include "schedules.hpp"

namespace taynode::nn {

enum class OptimizerKind : std::uint32_t { sgd_momentum = 1, adam = 2, adamax = 3 };

inline const char* to_string(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::sgd_momentum: return "sgd_momentum";
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::adamax: return "adamax";
  }
  return "unknown";
}

// Number of slot tensor sets of each optimizer.
inline std::size_t slot_count(OptimizerKind k) { return k == OptimizerKind::sgd_momentum ? 1 : 2; }

template <class T>
struct OptimizerState {
  OptimizerKind kind{};
  std::int64_t step = 0;               // steps taken
  std::vector<ParameterSet<T>> slots;  // empty before the first step

  friend bool operator==(const OptimizerState& a, const OptimizerState& b) {
    return a.kind == b.kind && a.step == b.step && a.slots == b.slots;
  }
};

namespace detail {
template <class T, class P, class G>
void prepare_slots(OptimizerState<T>& s, const P& params, const G& grads, const char* who) {
  if (grads.size() != params.size())
    throw std::invalid_argument(std::string(who) + ": " + std::to_string(grads.size()) + " gradient tensors for " +
                                std::to_string(params.size()) + " parameters");
  for (std::size_t i = 0; i < params.size(); ++i)
    if (grads.value(i).rows() != params.value(i).rows() || grads.value(i).cols() != params.value(i).cols())
      throw std::invalid_argument(std::string(who) + ": gradient of '" + params.name(i) + "' has the wrong shape");
  if (s.slots.empty()) {
    s.slots.assign(slot_count(s.kind), ParameterSet<T>::zeros_like(params));
    return;
  }
  for (const auto& slot : s.slots) {
    bool ok = slot.size() == params.size();
    for (std::size_t i = 0; ok && i < params.size(); ++i)
      ok = slot.name(i) == params.name(i) && slot.value(i).rows() == params.value(i).rows() &&
           slot.value(i).cols() == params.value(i).cols();
    if (!ok) throw std::invalid_argument(std::string(who) + ": optimizer state does not match the parameters");
  }
}
}  // namespace detail

template <class T>
class SgdMomentum {
 public:
  explicit SgdMomentum(Schedule lr, double mass = 0.9) : lr_(std::move(lr)), mass_(mass) {
    state_.kind = OptimizerKind::sgd_momentum;
  }
  template <class P, class G>
  void step(P& params, const G& grads) {
    detail::prepare_slots(state_, params, grads, "taynode::nn::SgdMomentum::step");
    const T eta = T(lr_(state_.step)), mu = T(mass_);
    auto& vel = state_.slots[0];
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto v = vel.value(i).array();
      v = mu * v + grads.value(i).array();
      params.value(i).array() -= eta * v;
    }
    ++state_.step;
  }
  OptimizerState<T>& state() { return state_; }
  const OptimizerState<T>& state() const { return state_; }
  double learning_rate() const { return lr_(state_.step); }  // of the next step
  double mass() const { return mass_; }

 private:
  Schedule lr_;
  double mass_;
  OptimizerState<T> state_;
};

template <class T>
class Adam {
 public:
  explicit Adam(Schedule lr, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8)
      : lr_(std::move(lr)), b1_(b1), b2_(b2), eps_(eps) {
    state_.kind = OptimizerKind::adam;
  }
  template <class P, class G>
  void step(P& params, const G& grads) {
    detail::prepare_slots(state_, params, grads, "taynode::nn::Adam::step");
    const T eta = T(lr_(state_.step)), b1 = T(b1_), b2 = T(b2_), eps = T(eps_);
    const T t = T(state_.step + 1);
    const T c1 = T(1) - std::pow(b1, t), c2 = T(1) - std::pow(b2, t);
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto m = state_.slots[0].value(i).array();
      auto v = state_.slots[1].value(i).array();
      const auto g = grads.value(i).array();
      m = (T(1) - b1) * g + b1 * m;
      v = (T(1) - b2) * g.square() + b2 * v;
      params.value(i).array() -= eta * (m / c1) / ((v / c2).sqrt() + eps);
    }
    ++state_.step;
  }
  OptimizerState<T>& state() { return state_; }
  const OptimizerState<T>& state() const { return state_; }
  double learning_rate() const { return lr_(state_.step); }

 private:
  Schedule lr_;
  double b1_, b2_, eps_;
  OptimizerState<T> state_;
};

template <class T>
class Adamax {
 public:
  explicit Adamax(Schedule lr, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8)
      : lr_(std::move(lr)), b1_(b1), b2_(b2), eps_(eps) {
    state_.kind = OptimizerKind::adamax;
  }
  template <class P, class G>
  void step(P& params, const G& grads) {
    detail::prepare_slots(state_, params, grads, "taynode::nn::Adamax::step");
    const T eta = T(lr_(state_.step)), b1 = T(b1_), b2 = T(b2_), eps = T(eps_);
    const T scale = eta / (T(1) - std::pow(b1, T(state_.step + 1)));
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto m = state_.slots[0].value(i).array();
      auto u = state_.slots[1].value(i).array();
      const auto g = grads.value(i).array();
      m = (T(1) - b1) * g + b1 * m;
      u = (b2 * u).max(g.abs());
      params.value(i).array() -= scale * m / (u + eps);
    }
    ++state_.step;
  }
  OptimizerState<T>& state() { return state_; }
  const OptimizerState<T>& state() const { return state_; }
  double learning_rate() const { return lr_(state_.step); }

 private:
  Schedule lr_;
  double b1_, b2_, eps_;
  OptimizerState<T> state_;
};

}  // namespace taynode::nn

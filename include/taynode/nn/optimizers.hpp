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
//
// All three share one shell (Optimizer: slots, step count, schedule, learning rate); an update
// rule is a TAYNODE_HD kernel over the elements of one tensor, run by Backend::for_each, so the
// parameters, gradients and slots may live in any backend's memory: with Backend = backend::Cpu
// (the default) they are host Eigen storage and the slots a ParameterSet; with another backend
// the collections' value(i).data() point into that backend's memory and the slots are
// ParameterBuffers<T, Backend> (nn/parameter_buffers.hpp).

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "taynode/backend/cpu.hpp"
#include "taynode/config.hpp"
#include "parameter_buffers.hpp"
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

// The slot collection of an optimizer on a backend: a host ParameterSet where Eigen may map the
// backend's memory (Cpu), ParameterBuffers in that backend's memory otherwise.
template <class T, class Backend>
using SlotSet = std::conditional_t<backend::eigen_host<Backend>, ParameterSet<T>, ParameterBuffers<T, Backend>>;

template <class T, class Slots = ParameterSet<T>>
struct OptimizerState {
  OptimizerKind kind{};
  std::int64_t step = 0;     // steps taken
  std::vector<Slots> slots;  // empty before the first step

  friend bool operator==(const OptimizerState& a, const OptimizerState& b)
    requires std::is_same_v<Slots, ParameterSet<T>>
  {
    return a.kind == b.kind && a.step == b.step && a.slots == b.slots;
  }
};

// The update rules, one element at a time (i indexes one tensor).
namespace rules {
using backend::Index;
// v ← μ v + g;  θ ← θ − η v
template <class T>
struct SgdMomentumKernel {
  T eta, mu;
  T* p;
  const T* g;
  T* v;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    v[i] = mu * v[i] + g[i];
    p[i] -= eta * v[i];
  }
};
// m ← (1−β1) g + β1 m;  v ← (1−β2) g² + β2 v;  θ ← θ − η (m/c1)/(√(v/c2) + ε)
template <class T>
struct AdamKernel {
  T eta, b1, b2, eps, c1, c2;
  T* p;
  const T* g;
  T *m, *v;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    using std::sqrt;
    m[i] = (T(1) - b1) * g[i] + b1 * m[i];
    v[i] = (T(1) - b2) * (g[i] * g[i]) + b2 * v[i];
    p[i] -= eta * (m[i] / c1) / (sqrt(v[i] / c2) + eps);
  }
};
// m ← (1−β1) g + β1 m;  u ← max(β2 u, |g|);  θ ← θ − s·m/(u + ε),  s = η/(1−β1^t)
template <class T>
struct AdamaxKernel {
  T scale, b1, b2, eps;
  T* p;
  const T* g;
  T *m, *u;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    using std::abs;
    m[i] = (T(1) - b1) * g[i] + b1 * m[i];
    const T decayed = b2 * u[i], mag = abs(g[i]);
    u[i] = decayed < mag ? mag : decayed;
    p[i] -= scale * m[i] / (u[i] + eps);
  }
};
}  // namespace rules

namespace detail {
template <class T, class Slots, class P, class G>
void prepare_slots(OptimizerState<T, Slots>& s, const P& params, const G& grads, const char* who) {
  if (grads.size() != params.size())
    throw std::invalid_argument(std::string(who) + ": " + std::to_string(grads.size()) + " gradient tensors for " +
                                std::to_string(params.size()) + " parameters");
  for (std::size_t i = 0; i < params.size(); ++i)
    if (grads.value(i).rows() != params.value(i).rows() || grads.value(i).cols() != params.value(i).cols())
      throw std::invalid_argument(std::string(who) + ": gradient of '" + params.name(i) + "' has the wrong shape");
  if (s.slots.empty()) {
    s.slots.assign(slot_count(s.kind), Slots::zeros_like(params));
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

// The shell every optimizer shares. Rule: kind, name, and
//   kernel(eta, t, p, g, slot pointers…) → the element kernel of one tensor at step t = i + 1.
template <class T, class Backend, class Rule>
class Optimizer {
 public:
  using State = OptimizerState<T, SlotSet<T, Backend>>;

  Optimizer(Schedule lr, Rule rule) : lr_(std::move(lr)), rule_(rule) { state_.kind = Rule::kind; }

  template <class P, class G>
  void step(P& params, const G& grads) {
    detail::prepare_slots(state_, params, grads, Rule::name);
    const T eta = T(lr_(state_.step));
    const std::int64_t t = state_.step + 1;
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto&& p = params.value(i);
      const auto& g = grads.value(i);
      if constexpr (Rule::slots == 1) {
        Backend::for_each(p.size(), rule_.template kernel<T>(eta, t, p.data(), g.data(), state_.slots[0].value(i).data()));
      } else {
        Backend::for_each(p.size(), rule_.template kernel<T>(eta, t, p.data(), g.data(), state_.slots[0].value(i).data(),
                                                             state_.slots[1].value(i).data()));
      }
    }
    ++state_.step;
  }
  State& state() { return state_; }
  const State& state() const { return state_; }
  double learning_rate() const { return lr_(state_.step); }  // of the next step
  const Rule& rule() const { return rule_; }

 private:
  Schedule lr_;
  Rule rule_;
  State state_;
};

struct SgdMomentumRule {
  static constexpr OptimizerKind kind = OptimizerKind::sgd_momentum;
  static constexpr const char* name = "taynode::nn::SgdMomentum::step";
  static constexpr int slots = 1;
  double mass = 0.9;
  template <class T>
  rules::SgdMomentumKernel<T> kernel(T eta, std::int64_t, T* p, const T* g, T* v) const {
    return {eta, T(mass), p, g, v};
  }
};
struct AdamRule {
  static constexpr OptimizerKind kind = OptimizerKind::adam;
  static constexpr const char* name = "taynode::nn::Adam::step";
  static constexpr int slots = 2;
  double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  template <class T>
  rules::AdamKernel<T> kernel(T eta, std::int64_t step, T* p, const T* g, T* m, T* v) const {
    const T t = T(step);
    return {eta, T(b1), T(b2), T(eps), T(1) - std::pow(T(b1), t), T(1) - std::pow(T(b2), t), p, g, m, v};
  }
};
struct AdamaxRule {
  static constexpr OptimizerKind kind = OptimizerKind::adamax;
  static constexpr const char* name = "taynode::nn::Adamax::step";
  static constexpr int slots = 2;
  double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  template <class T>
  rules::AdamaxKernel<T> kernel(T eta, std::int64_t step, T* p, const T* g, T* m, T* u) const {
    return {eta / (T(1) - std::pow(T(b1), T(step))), T(b1), T(b2), T(eps), p, g, m, u};
  }
};

template <class T, class Backend = backend::Cpu>
class SgdMomentum : public Optimizer<T, Backend, SgdMomentumRule> {
 public:
  explicit SgdMomentum(Schedule lr, double mass = 0.9)
      : Optimizer<T, Backend, SgdMomentumRule>(std::move(lr), SgdMomentumRule{mass}) {}
  double mass() const { return this->rule().mass; }
};
template <class T, class Backend = backend::Cpu>
class Adam : public Optimizer<T, Backend, AdamRule> {
 public:
  explicit Adam(Schedule lr, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8)
      : Optimizer<T, Backend, AdamRule>(std::move(lr), AdamRule{b1, b2, eps}) {}
};
template <class T, class Backend = backend::Cpu>
class Adamax : public Optimizer<T, Backend, AdamaxRule> {
 public:
  explicit Adamax(Schedule lr, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8)
      : Optimizer<T, Backend, AdamaxRule>(std::move(lr), AdamaxRule{b1, b2, eps}) {}
};

}  // namespace taynode::nn

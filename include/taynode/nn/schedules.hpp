#pragma once
// Learning-rate schedules: iteration index i (0-based, the `i` that jax.experimental.optimizers
// passes to `update(i, g, state)`, i.e. the number of steps already taken) ↦ step size η_i.
// See docs/nn.md for the reference's settings.
//
// * constant(η)
// * piecewise_constant(boundaries, values, rule): values.size() == boundaries.size() + 1,
//   boundaries strictly increasing. With Boundary::starts_new (default) η_i = values[#{b : b ≤ i}],
//   i.e. the new value applies AT the boundary — the reference's hand-written MNIST schedule
//   (`epoch < 60 ? 0.1 : …`, epoch = i // 600 ⇒ boundaries 36000, 60000, 84000) and FFJORD-tabular
//   ("1e-3 for i < 9000"). With Boundary::jax η_i = values[#{b : b < i}] — exactly
//   jax.experimental.optimizers.piecewise_constant (`values[sum(i > boundaries)]`), where the old
//   value still applies at i == b.
// * epoch_piecewise_constant(iterations_per_epoch, epoch_boundaries, values): the MNIST form.
// * exponential_decay_floor(η0, rate, floor): η_i = max(η0 · rate^i, floor) (latent ODE:
//   max(1e-2 · 0.999^i, 1e-3)).
// * linear_warmup(N, base): η_i = base(i) · min(1, (i + 1)/N) — the ramp reaches the base rate at
//   i = N − 1 and never yields 0 (FFJORD's `iter_frac = min((itr + 1) / warmup_iters, 1)`); N = 0 or 1
//   means no warm-up.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace taynode::nn {

using Schedule = std::function<double(std::int64_t)>;

enum class Boundary { starts_new, jax };

inline Schedule constant(double lr) {
  return [lr](std::int64_t) { return lr; };
}

inline Schedule piecewise_constant(std::vector<std::int64_t> boundaries, std::vector<double> values,
                                   Boundary rule = Boundary::starts_new) {
  if (values.size() != boundaries.size() + 1)
    throw std::invalid_argument("taynode::nn::piecewise_constant: need values.size() == boundaries.size() + 1 (got " +
                                std::to_string(values.size()) + " values, " + std::to_string(boundaries.size()) +
                                " boundaries)");
  for (std::size_t k = 1; k < boundaries.size(); ++k)
    if (boundaries[k] <= boundaries[k - 1])
      throw std::invalid_argument("taynode::nn::piecewise_constant: boundaries must be strictly increasing");
  return [b = std::move(boundaries), v = std::move(values), rule](std::int64_t i) {
    const auto it = rule == Boundary::starts_new ? std::upper_bound(b.begin(), b.end(), i)   // #{b ≤ i}
                                                 : std::lower_bound(b.begin(), b.end(), i);  // #{b < i}
    return v[std::size_t(it - b.begin())];
  };
}

inline Schedule epoch_piecewise_constant(std::int64_t iterations_per_epoch, const std::vector<std::int64_t>& epochs,
                                         std::vector<double> values) {
  if (iterations_per_epoch <= 0)
    throw std::invalid_argument("taynode::nn::epoch_piecewise_constant: iterations_per_epoch must be positive");
  std::vector<std::int64_t> b;
  b.reserve(epochs.size());
  for (auto e : epochs) b.push_back(e * iterations_per_epoch);
  return piecewise_constant(std::move(b), std::move(values), Boundary::starts_new);
}

// The reference's MNIST schedule: 0.1 / 0.01 / 1e-3 / 1e-4 from epochs 0 / 60 / 100 / 140, 600 its/epoch.
inline Schedule mnist_schedule(std::int64_t iterations_per_epoch = 600) {
  return epoch_piecewise_constant(iterations_per_epoch, {60, 100, 140}, {0.1, 0.01, 1e-3, 1e-4});
}

inline Schedule exponential_decay_floor(double lr0, double rate, double floor) {
  if (!(rate > 0)) throw std::invalid_argument("taynode::nn::exponential_decay_floor: rate must be > 0");
  return [=](std::int64_t i) { return std::max(lr0 * std::pow(rate, double(i)), floor); };
}

inline Schedule linear_warmup(std::int64_t warmup_iterations, Schedule base) {
  if (warmup_iterations < 0) throw std::invalid_argument("taynode::nn::linear_warmup: negative warm-up length");
  if (!base) throw std::invalid_argument("taynode::nn::linear_warmup: empty base schedule");
  return [n = warmup_iterations, base = std::move(base)](std::int64_t i) {
    const double frac = n <= 1 ? 1.0 : std::min(1.0, double(i + 1) / double(n));
    return base(i) * frac;
  };
}

}  // namespace taynode::nn

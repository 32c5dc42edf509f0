#pragma once
// resident_dopri5: a whole adaptive Dopri5 solve of z' = f(t, z), f a NetworkTaylor's MLP, in ONE
// kernel on a CUDA backend — the step-size control included — so an adaptive solve costs one
// launch and one download of its statistics instead of ≈ 40 launches and a host round trip per
// step attempt (docs/cuda.md, "Resident solves").
//
//   NetworkTaylor<float, backend::Cuda> ws(net, 0, batch);
//   backend::Cuda::Matrix<float> z1;
//   const SolveStatistics<float> st = resident_dopri5(ws, z0, 0.0f, 1.0f, z1, options);
//
// Why it can be one kernel: an MLP's f acts on each row of the batch alone, and the batch's
// Runge–Kutta stages are elementwise, so a block that owns a group of rows evaluates every stage of
// them without waiting for other blocks (the layers' activations in shared memory, the weights
// read transposed — coalesced — from L2). Only the error norm of an attempt (Hairer's RMS norm over
// the whole batch: one step size for the joint system, as taynode::solve) needs the grid: one
// grid-wide barrier per attempt (a cooperative launch keeps every block resident), after which
// every thread sums the blocks' partial sums in the same order and takes the same decision — the
// controller runs redundantly in every thread, with no further synchronization.
//
// The same solve as taynode::solve(f, z0, {t0, t1}, Dopri5{}, options) with Hairer's control
// (the initial step HINIT, PI control, the last step stretched to t1, max_step, max_steps, the
// finiteness checks) and the same per-element arithmetic (ode_detail::stage_value, error_term,
// norm_term; StepSizeControl::propose; hairer_probe_step / hairer_step_from_probe): the result
// differs from it by rounding only (the layers' dot products and the norms' sums add in other
// orders), and the statistics agree unless a step decision sits on that rounding.
// Supported: Linear, ConcatLinear, Sigmoid, Tanh and Softplus layers (up to 8; not ConcatSquash),
// scalar tolerances, StepControl::hairer. Anything else raises SolveError (invalid_argument kind).

#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "taynode/backend/matrix.hpp"
#include "taynode/config.hpp"
#include "taynode/jet/rules.hpp"
#include "taynode/ode/backend_vector_space.hpp"
#include "taynode/ode/controller.hpp"
#include "taynode/ode/errors.hpp"
#include "taynode/ode/initial_step.hpp"
#include "taynode/ode/options.hpp"
#include "taynode/ode/solve.hpp"
#include "taynode/ode/stepper.hpp"
#include "taynode/ode/tableaus.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode {

// How the batch is spread over the device: the rows in groups of rows_per_block (1, 2, 4 or 8), one
// block per group while they fit on the device at once (at most max_blocks; 0: no limit of one's
// own), a block taking groups block, block + blocks, … beyond; threads_per_block threads each (a
// multiple of 32, at most 1024). More rows per group: each weight read once for more rows (less L2
// traffic), fewer blocks.
struct ResidentOptions {
  int rows_per_block = 4;
  int threads_per_block = 128;
  unsigned max_blocks = 0;
};

namespace resident_detail {

enum class LayerKind : int { linear, concat_linear, sigmoid, tanh, softplus };

template <class T>
struct Layer {
  LayerKind kind;
  Index in, out;
  const T* w;  // out × ldw, row-major (ConcatLinear: the time column first)
  Index ldw;
  const T* b;  // null: no bias
  T* wt;       // in × out: the weights (without the time column) transposed, filled by the kernel
};
inline constexpr int max_layers = 8;

enum class Status : int { done = 1, non_finite_start, no_initial_step, max_steps, underflow, non_finite_error, non_finite_end };

template <class T>
struct Report {
  int status;
  T t, h;
  unsigned long long nfe, attempts, accepted, rejected, initial_rejected;
};

// x − x = 0 exactly for finite x, NaN otherwise (no libm classification on the device).
template <class T>
TAYNODE_HD bool finite(T x) {
  return x - x == T(0);
}

template <class T>
TAYNODE_HD T activation(LayerKind kind, T u) {
  const T x[1] = {u};
  T y[1], a1[1], a2[1];
  if (kind == LayerKind::sigmoid)
    rules::sigmoid(0, x, y, a1);
  else if (kind == LayerKind::tanh)
    rules::tanh(0, x, y, a1);
  else
    rules::softplus(0, x, y, a1, a2);
  return y[0];
}

// The kernel body: every thread of every block runs operator() (one cooperative launch).
template <class T, int R>
struct Dopri5Body {
  // The batch (rows × dim, row-major): z0 in, the final state out to y_out, which with y_alt
  // holds the current and the candidate state; k[0..6] the stages' derivatives.
  Index rows, dim;
  const T* z0;
  T* y_out;
  T* y_alt;
  T* k[7];
  T* slots;  // 2 × blocks partial sums (alternating, so a fast block cannot overwrite a slot in use)
  Report<T>* report;
  // The network; `width`: the widest layer input or output (a row of a shared buffer).
  int n_layers;
  Layer<T> layers[max_layers];
  Index width;
  // Dopri5's nonzero a_sj (stage s = 1..6; s = 6 is y1 itself, FSAL), c_s and e_j = b_j − b̂_j, in
  // the working precision, as RungeKuttaStepper gathers them.
  T a[7][6];
  int a_idx[7][6], a_n[7];
  T c[7];
  T e[6];
  int e_idx[6], e_n;
  // The solve.
  T t0, t1, rtol, atol, first_step, h_max;
  StepSizeControl<T> rule;
  unsigned long long max_steps;
  std::ptrdiff_t count;  // rows · dim: the error norm's components

  template <class Team>
  TAYNODE_HD void operator()(const Team& team) const {
    T* x = team.template shared<T>();  // the stage input of one group of rows, R × width
    T* scratch = x + R * width;          // a layer's output, R × width
    T* red = scratch + R * width;        // one partial sum per thread
    unsigned round = 0;
    Report<T> out{int(Status::done), t0, T(0), 0, 0, 0, 0, 0};

    // The weights transposed (every block reads all of them), the state copied to y_out.
    for (int l = 0; l < n_layers; ++l) {
      const Layer<T>& L = layers[l];
      if (!L.wt) continue;
      const Index n = L.in * L.out, off = L.kind == LayerKind::concat_linear ? 1 : 0;
      for (Index m = team.block() * team.threads() + team.thread(); m < n; m += team.blocks() * team.threads()) {
        const Index j = m / L.in, i = m % L.in;
        L.wt[i * L.out + j] = L.w[j * L.ldw + off + i];
      }
    }
    each_element(team, [&](Index i) { y_out[i] = z0[i]; });
    team.sync_grid();

    T* kk[7];
    for (int j = 0; j < 7; ++j) kk[j] = k[j];
    T* y = y_out;
    T* y_new = y_alt;
    const T dir = t1 > t0 ? T(1) : T(-1);

    // f(t0, z0), and both finite (as taynode::solve checks before the first step).
    stage(team, t0, kk[0], x, scratch, [&](Index i) { return y[i]; });
    out.nfe = 1;
    {
      T part = T(0);
      each_element(team, [&](Index i) { part += (y[i] - y[i]) + (kk[0][i] - kk[0][i]); });
      if (!finite(grid_sum(team, part, red, round))) return finish(team, out, Status::non_finite_start, y);
    }

    // The initial step: Hairer's HINIT, one probe evaluation (into k[6], free until stage 7).
    T h = first_step;
    if (h == T(0)) {
      T dnf = T(0), dny = T(0);
      each_element(team, [&](Index i) {
        dnf += ode_detail::norm_term(kk[0][i], y[i], atol, rtol);
        dny += ode_detail::norm_term(y[i], y[i], atol, rtol);
      });
      dnf = grid_sum(team, dnf, red, round);
      dny = grid_sum(team, dny, red, round);
      h = hairer_probe_step(dnf, dny, h_max, dir);
      const T one[1] = {T(1)};
      const T* f0[1] = {kk[0]};
      stage(team, t0 + h, kk[6], x, scratch, [&](Index i) { return ode_detail::stage_value(y[i], h, 1, one, f0, i); });
      ++out.nfe;
      T dd = T(0);
      each_element(team, [&](Index i) { dd += ode_detail::norm_term(kk[6][i] - kk[0][i], y[i], atol, rtol); });
      h = hairer_step_from_probe(h, grid_sum(team, dd, red, round), dnf, Dopri5::order, h_max, dir);
      out.h = h;
      if (!finite(h) || h == T(0)) return finish(team, out, Status::no_initial_step, y);
    } else {
      h = (h < T(0) ? -h : h) * dir;
    }

    // The integration loop of integrate.hpp with HairerController's policy.
    StepSizeControl<T> control = rule;
    T t = t0;
    bool last = false;
    for (;;) {
      out.t = t;
      out.h = h;
      if (out.attempts >= max_steps) return finish(team, out, Status::max_steps, y);
      if (!HairerController<T>::clip_to_end(t, h, t1, dir, last)) return finish(team, out, Status::underflow, y);
      out.h = h;
      ++out.attempts;
      for (int s = 1; s < 7; ++s) {
        const T* ks[6];
        for (int j = 0; j < a_n[s]; ++j) ks[j] = kk[a_idx[s][j]];
        stage(team, t + c[s] * h, kk[s], x, scratch, [&](Index i) {
          const T v = ode_detail::stage_value(y[i], h, std::size_t(a_n[s]), a[s], ks, i);
          if (s == 6) y_new[i] = v;  // FSAL: stage 7's input is y1
          return v;
        });
      }
      out.nfe += 6;
      const T* ke[6];
      for (int j = 0; j < e_n; ++j) ke[j] = kk[e_idx[j]];
      T part = T(0);
      each_element(team, [&](Index i) {
        part += ode_detail::error_term(y[i], y_new[i], h, atol, rtol, std::size_t(e_n), e, ke, i);
      });
      using std::sqrt;
      const T err = sqrt(ode_detail::mean_of(grid_sum(team, part, red, round), count));
      if (!finite(err)) return finish(team, out, Status::non_finite_error, y);
      T h_new = control.propose(err, h);
      if (control.accept(err)) {
        ++out.accepted;
        const T t_new = last ? t1 : t + h;
        T* swap_y = y;
        y = y_new;
        y_new = swap_y;
        T* swap_k = kk[0];
        kk[0] = kk[6];
        kk[6] = swap_k;
        t = t_new;
        if (last) break;
        h_new = HairerController<T>::limit_to(h_new, h_max, dir);
      } else {
        ++out.rejected;
        if (out.accepted == 0) ++out.initial_rejected;
        last = false;
      }
      h = h_new;
    }
    out.t = t;
    T part = T(0);
    each_element(team, [&](Index i) { part += y[i] - y[i]; });
    finish(team, out, finite(grid_sum(team, part, red, round)) ? Status::done : Status::non_finite_end, y);
  }

 private:
  // f(tt, ·) of this block's rows: input in x (nr × dim, row stride width), output to kout's rows.
  // Ends with a block barrier (kout's rows and x may be read and rewritten next).
  template <class Team>
  TAYNODE_HD void evaluate(const Team& team, T tt, T* kout, T* x, T* y, int nr, Index r0) const {
    Index cols = dim;
    for (int l = 0; l < n_layers; ++l) {
      const Layer<T>& L = layers[l];
      const bool to_k = l + 1 == n_layers;
      if (L.kind == LayerKind::linear || L.kind == LayerKind::concat_linear) {
        // Output j of every row at once: each weight read once for the R rows.
        for (Index j = team.thread(); j < L.out; j += team.threads()) {
          T acc[R];
          for (int r = 0; r < R; ++r) acc[r] = T(0);
          for (Index i = 0; i < L.in; ++i) {
            const T w = L.wt[i * L.out + j];
            for (int r = 0; r < R; ++r) acc[r] += w * x[r * width + i];
          }
          T add = L.b ? L.b[j] : T(0);
          if (L.kind == LayerKind::concat_linear) add = add + tt * L.w[j * L.ldw];
          for (int r = 0; r < nr; ++r) {
            if (to_k)
              kout[(r0 + r) * dim + j] = acc[r] + add;
            else
              y[r * width + j] = acc[r] + add;
          }
        }
        T* swap = x;
        x = y;
        y = swap;
        cols = L.out;
      } else {
        for (Index m = team.thread(); m < Index(nr) * cols; m += team.threads()) {
          T& u = x[(m / cols) * width + m % cols];
          const T v = activation(L.kind, u);
          if (to_k)
            kout[(r0 + m / cols) * dim + m % cols] = v;
          else
            u = v;
        }
      }
      team.sync_block();
    }
  }

  // Σ over the grid of every thread's `mine`: per block in thread order, then over the blocks in
  // block order by every thread alike (deterministic; the same total, hence the same decisions,
  // everywhere). One grid barrier.
  template <class Team>
  TAYNODE_HD T grid_sum(const Team& team, T mine, T* red, unsigned& round) const {
    red[team.thread()] = mine;
    team.sync_block();
    T* slot = slots + Index(round++ & 1u) * team.blocks();
    if (team.thread() == 0) {
      T s = T(0);
      for (Index p = 0; p < team.threads(); ++p) s += red[p];
      slot[team.block()] = s;
    }
    team.sync_grid();
    T total = T(0);
    for (Index b = 0; b < team.blocks(); ++b) total += slot[b];
    return total;
  }

  // This block's groups of rows: g = block, block + blocks, … (R rows each, the last one partial):
  // fn(first row, rows in the group).
  template <class Team, class F>
  TAYNODE_HD void each_group(const Team& team, F&& fn) const {
    const Index groups = (rows + R - 1) / R;
    for (Index g = team.block(); g < groups; g += team.blocks()) fn(g * R, int(rows - g * R < R ? rows - g * R : R));
  }
  // fn(i) for this thread's share of the elements of this block's rows.
  template <class Team, class F>
  TAYNODE_HD void each_element(const Team& team, F&& fn) const {
    each_group(team, [&](Index r0, int nr) {
      for (Index m = team.thread(); m < Index(nr) * dim; m += team.threads()) fn(r0 * dim + m);
    });
  }
  // For each group of this block's rows: the stage input value(i) into x, then f(tt, ·) of it into
  // kout's rows.
  template <class Team, class V>
  TAYNODE_HD void stage(const Team& team, T tt, T* kout, T* x, T* scratch, V&& value) const {
    each_group(team, [&](Index r0, int nr) {
      for (Index m = team.thread(); m < Index(nr) * dim; m += team.threads())
        x[(m / dim) * width + m % dim] = value(r0 * dim + m);
      team.sync_block();
      evaluate(team, tt, kout, x, scratch, nr, r0);
    });
  }

  // The final state into y_out, the report by one thread. Every thread gets here at the same point.
  template <class Team>
  TAYNODE_HD void finish(const Team& team, Report<T> out, Status status, const T* y) const {
    if (y != y_out) each_element(team, [&](Index i) { y_out[i] = y[i]; });
    if (team.block() == 0 && team.thread() == 0) {
      out.status = int(status);
      *report = out;
    }
  }
};

template <class T>
struct Gathered {
  T a[7][6]{};
  int a_idx[7][6]{}, a_n[7]{};
  T c[7]{};
  T e[6]{};
  int e_idx[6]{}, e_n = 0;
};
// Dopri5's coefficients as RungeKuttaStepper uses them (StageRow, the nonzero e_j).
template <class T>
Gathered<T> gather_dopri5() {
  Gathered<T> g;
  [&]<std::size_t... S>(std::index_sequence<S...>) {
    ((
         [&] {
           using Row = ode_detail::StageRow<Dopri5, S + 1, T>;
           g.a_n[S + 1] = int(Row::n);
           for (std::size_t j = 0; j < Row::n; ++j) {
             g.a[S + 1][j] = Row::coef[j];
             g.a_idx[S + 1][j] = int(Row::idx[j]);
           }
         }()),
     ...);
  }(std::make_index_sequence<6>{});
  for (std::size_t s = 0; s < 7; ++s) g.c[s] = Dopri5::c[s].template as<T>();
  constexpr std::size_t ne = count_nonzero(Dopri5::e);
  static_assert(ne <= 6);
  constexpr auto idx = nonzero_indices<ne>(Dopri5::e);
  constexpr auto coef = ode_detail::gather<T>(Dopri5::e, idx);
  g.e_n = int(ne);
  for (std::size_t j = 0; j < ne; ++j) {
    g.e[j] = coef[j];
    g.e_idx[j] = int(idx[j]);
  }
  return g;
}

[[noreturn]] inline void invalid(const std::string& what) {
  ode_detail::fail(SolveErrorKind::invalid_argument, "resident_dopri5: ", what);
}

}  // namespace resident_detail

// z1 = z(t1) of z' = f(t, z), z(t0) = z0 (ws.batch() × ws.dim(), the backend's memory), f the
// network of ws, by Dopri5 with Hairer's control (options as taynode::solve's), in one resident
// kernel. Returns the solve's statistics; raises SolveError (ode/errors.hpp) as taynode::solve does
// (invalid options, non-finite states, step-size underflow, max_steps exceeded), after the kernel.
// B: a CUDA backend (backend::Cuda, or backend::CudaEmulated on the host).
template <class T, class B>
  requires requires { B::template resident_blocks<int>(1u, std::size_t(0)); }
SolveStatistics<T> resident_dopri5(NetworkTaylor<T, B>& ws, const backend::Matrix<T, B>& z0, T t0, T t1,
                                   backend::Matrix<T, B>& z1, const SolveOptions<T>& options = {},
                                   ResidentOptions resident = {}) {
  using namespace resident_detail;
  const Index rows = ws.batch(), dim = ws.dim();
  if (z0.rows() != rows || z0.cols() != dim)
    invalid("z0 is " + std::to_string(z0.rows()) + " x " + std::to_string(z0.cols()) + ", the workspace's batch is " +
            std::to_string(rows) + " x " + std::to_string(dim));
  ode_detail::validate_times(std::vector<T>{t0, t1});
  ode_detail::validate_tolerances(options, z0.size());
  if (!options.rtol_per_component.empty() || !options.atol_per_component.empty())
    invalid("per-component tolerances are not supported");
  if (options.fixed_steps != 0 || options.fixed_step_size != T(0)) invalid("a fixed grid is not supported");
  if (options.step_control != StepControl::hairer) invalid("only StepControl::hairer is supported");
  if (options.shards) invalid("a sharded system is not supported");
  if (options.record_step_sizes) invalid("record_step_sizes is not supported");
  if (options.max_steps == 0) invalid("max_steps must be positive");
  {
    using std::isfinite;
    if (!isfinite(options.first_step) || !isfinite(options.max_step) || options.max_step < T(0))
      invalid("invalid first_step " + std::to_string(options.first_step) + " or max_step " +
              std::to_string(options.max_step));
  }
  const int R = resident.rows_per_block, P = resident.threads_per_block;
  if (R != 1 && R != 2 && R != 4 && R != 8) invalid("rows_per_block must be 1, 2, 4 or 8");
  if (P < 32 || P > 1024 || P % 32 != 0) invalid("threads_per_block must be a multiple of 32 in [32, 1024]");

  // The network, and the workspace the kernel fills (transposed weights).
  const nn::Sequential<T>& net = ws.network();
  const int n_layers = int(net.layers.size());
  if (n_layers == 0 || n_layers > max_layers) invalid("the network must have 1 to 8 layers");
  Layer<T> layers[max_layers]{};
  Index width = dim, features = dim, wt_size = 0;
  for (int l = 0; l < n_layers; ++l) {
    Layer<T>& L = layers[l];
    const auto p = ws.layer_parameters(std::size_t(l));
    std::visit(
        [&](const auto& layer) {
          using Ly = std::decay_t<decltype(layer)>;
          if constexpr (std::is_same_v<Ly, nn::Linear<T>> || std::is_same_v<Ly, nn::ConcatLinear<T>>) {
            L.kind = std::is_same_v<Ly, nn::Linear<T>> ? LayerKind::linear : LayerKind::concat_linear;
            L.in = Index(layer.in());
            L.out = Index(layer.out());
            L.w = p.w;
            L.ldw = p.ldw;
            L.b = p.b;
            wt_size += L.in * L.out;
          } else if constexpr (std::is_same_v<Ly, nn::Sigmoid> || std::is_same_v<Ly, nn::Tanh> ||
                               std::is_same_v<Ly, nn::Softplus>) {
            L.kind = std::is_same_v<Ly, nn::Sigmoid> ? LayerKind::sigmoid
                     : std::is_same_v<Ly, nn::Tanh>  ? LayerKind::tanh
                                                     : LayerKind::softplus;
            L.in = L.out = features;
          } else {
            invalid("layer " + std::to_string(l) + " is not Linear, ConcatLinear, Sigmoid, Tanh or Softplus");
          }
        },
        net.layers[std::size_t(l)]);
    if (L.in != features) invalid("layer " + std::to_string(l) + " does not take the previous layer's output");
    features = L.out;
    if (L.out > width) width = L.out;
  }
  if (features != dim) invalid("the network's output width differs from the state's");

  z1.resize(rows, dim);
  const Index n = rows * dim;
  if (rows == 0 || dim == 0) return {};
  using Buffer = typename B::template Buffer<T>;
  Buffer y_alt{std::size_t(n)}, stages{std::size_t(n) * 7}, transposed{std::size_t(wt_size)};
  {
    T* wt = transposed.data();
    for (int l = 0; l < n_layers; ++l)
      if (layers[l].w) {
        layers[l].wt = wt;
        wt += layers[l].in * layers[l].out;
      }
  }
  const Gathered<T> g = gather_dopri5<T>();
  const Index groups = (rows + R - 1) / R;
  Buffer slots;  // sized by the launch (its block count)
  typename B::template Buffer<unsigned long long> report_buffer((sizeof(Report<T>) + 7) / 8);  // downloaded as words

  auto run = [&]<int Rows>() {
    using Body = Dopri5Body<T, Rows>;
    Body body{};
    body.rows = rows;
    body.dim = dim;
    body.z0 = z0.data();
    body.y_out = z1.data();
    body.y_alt = y_alt.data();
    for (int j = 0; j < 7; ++j) body.k[j] = stages.data() + std::size_t(j) * std::size_t(n);
    body.report = reinterpret_cast<Report<T>*>(report_buffer.data());
    body.n_layers = n_layers;
    for (int l = 0; l < n_layers; ++l) body.layers[l] = layers[l];
    body.width = width;
    std::memcpy(body.a, g.a, sizeof g.a);
    std::memcpy(body.a_idx, g.a_idx, sizeof g.a_idx);
    std::memcpy(body.a_n, g.a_n, sizeof g.a_n);
    std::memcpy(body.c, g.c, sizeof g.c);
    std::memcpy(body.e, g.e, sizeof g.e);
    std::memcpy(body.e_idx, g.e_idx, sizeof g.e_idx);
    body.e_n = g.e_n;
    body.t0 = t0;
    body.t1 = t1;
    body.rtol = options.rtol;
    body.atol = options.atol;
    body.first_step = options.first_step;
    using std::abs;
    body.h_max = options.max_step > T(0) ? options.max_step : abs(t1 - t0);
    body.rule = HairerController<T>::template make_rule<Dopri5>(options.controller);
    body.max_steps = options.max_steps;
    body.count = n;
    const std::size_t shared = (std::size_t(2) * Rows * std::size_t(width) + std::size_t(P)) * sizeof(T);
    const unsigned fit = B::template resident_blocks<Body>(unsigned(P), shared);
    if (fit == 0)
      invalid("no block of " + std::to_string(P) + " threads with " + std::to_string(shared) +
              " bytes of shared memory fits on the device; use fewer rows_per_block or threads_per_block");
    Index blocks = groups < Index(fit) ? groups : Index(fit);
    if (resident.max_blocks > 0 && Index(resident.max_blocks) < blocks) blocks = Index(resident.max_blocks);
    slots = Buffer(std::size_t(2) * std::size_t(blocks));
    body.slots = slots.data();
    B::launch_resident(unsigned(blocks), unsigned(P), shared, body, "resident_dopri5");
  };
  if (R == 1) run.template operator()<1>();
  if (R == 2) run.template operator()<2>();
  if (R == 4) run.template operator()<4>();
  if (R == 8) run.template operator()<8>();

  constexpr std::size_t report_words = (sizeof(Report<T>) + 7) / 8;
  unsigned long long words[report_words];
  B::download(Index(report_words), report_buffer.data(), words);  // waits for the kernel
  Report<T> r;
  std::memcpy(&r, words, sizeof r);
  SolveStatistics<T> stats;
  stats.nfe = std::size_t(r.nfe);
  stats.attempted_steps = std::size_t(r.attempts);
  stats.accepted_steps = std::size_t(r.accepted);
  stats.rejected_steps = std::size_t(r.rejected);
  stats.initial_rejected_steps = std::size_t(r.initial_rejected);
  using ode_detail::fail;
  switch (Status(r.status)) {
    case Status::done:
      return stats;
    case Status::non_finite_start:
      fail(SolveErrorKind::non_finite, "non-finite initial state or derivative at t=", t0);
    case Status::no_initial_step:
      fail(SolveErrorKind::invalid_argument, "no initial step size (h = ", r.h, " at t=", t0,
           "): the weighted norms overflow or vanish for rtol = ", options.rtol, ", atol = ", options.atol,
           "; use other tolerances or set first_step");
    case Status::max_steps:
      fail(SolveErrorKind::max_steps_exceeded, "more than max_steps = ", options.max_steps,
           " steps needed; reached t=", r.t, " of [", t0, ", ", t1, "]");
    case Status::underflow:
      fail(SolveErrorKind::step_size_underflow, "step size underflow: h=", r.h, " at t=", r.t);
    case Status::non_finite_error:
      fail(SolveErrorKind::non_finite, "non-finite error estimate in the step from t=", r.t, " with h=", r.h,
           ": a non-finite state or derivative, or tolerances too small for the problem");
    case Status::non_finite_end:
      fail(SolveErrorKind::non_finite, "non-finite state at t=", r.t);
  }
  throw std::logic_error("taynode::resident_dopri5: the kernel reported no status");
}

}  // namespace taynode

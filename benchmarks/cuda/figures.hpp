#pragma once
// The figures of benchmarks/cuda (see gpu_bench.cu), written once over the backend: gpu_bench.cu
// runs them on backend::Cuda (nvcc), cpu_half.cpp on backend::Cpu (g++ at -O3, as a user builds a
// CPU hot loop: the nvcc-compiled host code, built without -march flags (SSE2 Eigen kernels), ran
// 3-5x slower here, which would flatter every ratio). Two executables, not two TUs of one: Eigen's
// inline functions compiled with different vector flags in one program violate the ODR (it
// crashed); a program mixing nvcc and g++ TUs must give both the same host flags
// (-Xcompiler -march=… for nvcc).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "taynode/ad.hpp"
#include "taynode/nn.hpp"
#include "taynode/ode.hpp"
#include "taynode/ode/backend_vector_space.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode_bench {

using namespace taynode;
using backend::Index;


inline int rounds = 7;      // device figures
inline int cpu_rounds = 3;  // the CPU backend's (the reference of each ratio; its steps last up to 0.5 s)

template <class T>
using Host = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class B>
const char* backend_name() {
  return backend::eigen_host<B> ? "cpu" : "cuda";
}
template <class T>
const char* type_name() {
  return sizeof(T) == 8 ? "double" : "float";
}
template <class B>
void sync() {
  if constexpr (requires { B::synchronize(); }) B::synchronize();
}

// Median seconds per call of fn over `rounds` rounds; one round is `calls` calls then a sync.
template <class B>
double median_seconds(const std::function<void()>& fn) {
  using clock = std::chrono::steady_clock;
  fn();  // warm-up (pool blocks, cuBLAS heuristics, module load)
  sync<B>();
  auto t0 = clock::now();
  fn();
  sync<B>();
  const double once = std::chrono::duration<double>(clock::now() - t0).count();
  const int calls = int(std::clamp(0.02 / std::max(once, 1e-7), 1.0, 2000.0));
  const int n_rounds = backend::eigen_host<B> ? cpu_rounds : rounds;
  std::vector<double> per_call;
  for (int r = 0; r < n_rounds; ++r) {
    t0 = clock::now();
    for (int c = 0; c < calls; ++c) fn();
    sync<B>();
    per_call.push_back(std::chrono::duration<double>(clock::now() - t0).count() / calls);
  }
  std::nth_element(per_call.begin(), per_call.begin() + n_rounds / 2, per_call.end());
  return per_call[std::size_t(n_rounds / 2)];
}

struct Row {
  std::string figure, backend, type, detail;
  Index batch;
  double us;
  long nfe;
};
inline std::vector<Row> rows;

inline void report(Row r) {
  std::printf("{\"figure\":\"%s\",\"backend\":\"%s\",\"type\":\"%s\",\"batch\":%ld,\"detail\":\"%s\",\"us\":%.3f,"
              "\"nfe\":%ld}\n",
              r.figure.c_str(), r.backend.c_str(), r.type.c_str(), long(r.batch), r.detail.c_str(), r.us, r.nfe);
  std::fflush(stdout);
  rows.push_back(std::move(r));
}
inline void report_failure(const std::string& figure, const char* b, const char* t, Index batch, const std::string& detail,
                    const char* what) {
  std::printf("{\"figure\":\"%s\",\"backend\":\"%s\",\"type\":\"%s\",\"batch\":%ld,\"detail\":\"%s\",\"error\":\"%s\"}\n",
              figure.c_str(), b, t, long(batch), detail.c_str(), what);
  std::fflush(stdout);
}

template <class T>
Host<T> pixels(Index batch, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Host<T> z(batch, 784);
  for (Index i = 0; i < z.size(); ++i) z.data()[i] = T(u(rng));
  return z;
}

template <class B, class T>
struct Setup {
  using M = typename B::template Matrix<T>;
  nn::Sequential<T> net = nn::mnist_dynamics<T>();
  Index batch;
  Host<T> z0_host, target_host;
  M z0, target;
  NetworkTaylor<T, B> ws;
  ad::NetworkAdjoint<T, B> adj;
  explicit Setup(Index b)
      : batch(b), z0_host(pixels<T>(b, 1)), target_host(pixels<T>(b, 2)), z0(backend::to_backend<B>(z0_host)),
        target(backend::to_backend<B>(target_host)), ws((init(), net), 6, b), adj(ws) {}
  void init() {
    std::mt19937_64 rng(1);
    nn::init_haiku(net, rng);
  }
};

template <class B, class T>
void forward_figures(Index batch, int max_K) {
  const char *b = backend_name<B>(), *t = type_name<T>();
  Setup<B, T> s(batch);
  report({"f_eval", b, t, "", batch, 1e6 * median_seconds<B>([&] { s.ws.evaluate(T(0.5), s.z0); }), 1});
  for (int K = 1; K <= max_K; ++K)
    report({"coefficients", b, t, "K=" + std::to_string(K), batch,
            1e6 * median_seconds<B>([&] { s.ws.ode_coefficients(T(0.5), s.z0, K); }), K});
}

// The same forward figures replayed from a captured graph (backend::Cuda::Graph): one launch
// instead of one per kernel and GEMM.
template <class B, class T>
void graph_figures(Index batch, int max_K) {
  const char *b = backend_name<B>(), *t = type_name<T>();
  Setup<B, T> s(batch);
  auto nodes = [](const typename B::Graph& g) { return " (" + std::to_string(g.operations()) + " nodes)"; };
  {
    typename B::Graph g([&] { s.ws.evaluate(T(0.5), s.z0); });
    report({"f_eval", b, t, "graph" + nodes(g), batch, 1e6 * median_seconds<B>([&] { g.replay(); }), 1});
  }
  for (int K = 1; K <= max_K; ++K) {
    typename B::Graph g([&] { s.ws.ode_coefficients(T(0.5), s.z0, K); });
    report({"coefficients", b, t, "K=" + std::to_string(K) + " graph" + nodes(g), batch,
            1e6 * median_seconds<B>([&] { g.replay(); }), K});
  }
}

template <class B, class T>
void solve_figure(Index batch) {
  const char *b = backend_name<B>(), *t = type_name<T>();
  using M = typename B::template Matrix<T>;
  Setup<B, T> s(batch);
  auto f = [&](T time, const M& y, M& dy) {
    s.ws.evaluate(time, y, dy);
  };
  SolveOptions<T> o;
  o.rtol = o.atol = T(1.4e-8);
  const std::vector<T> times{T(0), T(1)};
  try {
    long nfe = 0;
    const double sec = median_seconds<B>([&] { nfe = long(solve(f, s.z0, times, Dopri5{}, o).stats.nfe); });
    report({"dopri5_solve", b, t, "rtol=atol=1.4e-8", batch, 1e6 * sec, nfe});
  } catch (const std::exception& e) {
    report_failure("dopri5_solve", b, t, batch, "rtol=atol=1.4e-8", e.what());
  }
}

// The plain solve on the RK4 grid of 4 steps over [0, 1] (the training solves' forward), directly.
template <class B, class T>
void grid_solve_figure(Index batch) {
  const char *b = backend_name<B>(), *t = type_name<T>();
  using M = typename B::template Matrix<T>;
  Setup<B, T> s(batch);
  auto f = [&](T time, const M& y, M& dy) { s.ws.evaluate(time, y, dy); };
  SolveOptions<T> o;
  o.fixed_steps = 4;
  const std::vector<T> times{T(0), T(1)};
  report({"rk4_solve", b, t, "4 steps", batch, 1e6 * median_seconds<B>([&] { solve(f, s.z0, times, RK4{}, o); }), 16});
}

// The same solve as four replays of ONE captured RK4 step whose kernels read the time from a Clock
// (series/clock.hpp) that the step advances: a graph of a step, not of the whole solve.
template <class B, class T>
void step_graph_figure(Index batch) {
  const char *b = backend_name<B>(), *t = type_name<T>();
  using M = typename B::template Matrix<T>;
  Setup<B, T> s(batch);
  Clock<T, B> clock(T(0));
  s.ws.use_clock(&clock);
  auto f = [&](T time, const M& y, M& dy) { s.ws.evaluate(time, y, dy); };
  M y = s.z0;
  RungeKuttaStepper<RK4, M> stepper;
  stepper.init(y);
  const T h = T(0.25);
  typename B::Graph g([&] {
    const T t0 = clock.host_time();
    f(t0, y, stepper.stage0());
    stepper.step(f, t0, y, h);
    B::copy(y.size(), stepper.y1().data(), y.data());
    clock.advance(h);
  });
  auto solve4 = [&] {
    clock.set(T(0));
    B::copy(y.size(), s.z0.data(), y.data());
    for (int i = 0; i < 4; ++i) g.replay();
  };
  report({"rk4_solve", b, t, "4 steps, step graph (" + std::to_string(g.operations()) + " nodes)", batch,
          1e6 * median_seconds<B>(solve4), 16});
}

// ½·mean ||z1 − y||² (+ λ·mean R_K through the integrand): z̄1 = (z1 − y)/B, r̄1 = 1/B; on a
// device backend by backend operations only (no host copy: capturable in a graph).
template <class B, class T>
struct SquaredErrorLoss {
  const typename B::template Matrix<T>* target;
  template <class M, class R, class V>
  void operator()(const M& z1, const R&, M& z1_bar, V& r1_bar) const {
    const T inv_batch = T(1) / T(z1.rows());
    if constexpr (backend::eigen_host<B>) {
      z1_bar = (z1 - *target) * inv_batch;
      r1_bar.setConstant(inv_batch);
    } else {
      B::copy(z1.size(), z1.data(), z1_bar.data());
      B::axpy(z1.size(), T(-1), target->data(), z1_bar.data());
      B::scale(z1.size(), inv_batch, z1_bar.data());
      B::fill(z1.rows(), inv_batch, r1_bar.data());
    }
  }
};

template <class B, class T>
void training_figures(Index batch) {
  const char *b = backend_name<B>(), *t = type_name<T>();
  Setup<B, T> s(batch);
  const SquaredErrorLoss<B, T> loss{&s.target};
  auto refs = nn::parameter_refs(s.net);
  nn::Adam<T> opt(nn::constant(T(1e-4)));
  for (bool adaptive : {false, true})
    for (bool adjoint : {false, true})
      for (int K : {0, 2, 3}) {
        SolveOptions<T> o;
        if (adaptive)
          o.rtol = o.atol = T(1e-5);
        else
          o.fixed_steps = 4;
        const ad::TaylorRegularizer<T> reg{K, T(1e-2)};
        // (snprintf: GCC 12 -O3 warns falsely (-Wrestrict) on chained std::string operator+.)
        char detail[64];
        std::snprintf(detail, sizeof detail, "%s | %s%s | %s", adaptive ? "Dopri5 1e-5" : "RK4x4", K ? "R" : "none",
                      K ? std::to_string(K).c_str() : "", adjoint ? "adjoint" : "backprop");
        long nfe = 0;
        auto step = [&] {
          auto run = [&](auto method, const auto& gradient) {
            auto g = ad::solve_gradient(s.ws, s.adj, s.z0, T(0), T(1), reg, method, o, gradient, loss);
            nfe = long(g.nfe_forward + g.nfe_backward);
            auto grads = nn::parameter_refs(g.theta_bar);
            opt.step(refs, grads);
            s.ws.refresh_parameters();
          };
          auto with_gradient = [&](auto method) {
            if (adjoint)
              run(method, ad::Adjoint{});
            else
              run(method, ad::Backprop{});
          };
          if (adaptive)
            with_gradient(Dopri5{});
          else
            with_gradient(RK4{});
        };
        try {
          const double sec = median_seconds<B>(step);
          report({"training_step", b, t, detail, batch, 1e6 * sec, nfe});
        } catch (const std::exception& e) {
          report_failure("training_step", b, t, batch, detail, e.what());
        }
      }
}

// The RK4 × 4 backprop training step with everything on the device (device backends only): θ̄
// left where the VJPs accumulate it (ad::Backprop::theta_bar_to_host = false), SGD with momentum
// updating the workspace's parameter copies in place (NetworkTaylor::backend_parameters) — no
// transfer to or from the host, no host optimizer — launched directly ("device") and captured
// once as a graph and replayed ("graph (N nodes)"). SGD, not Adam as in training_figures: a
// graph freezes the kernels' scalars, and Adam's bias corrections change every step (an
// elementwise update of 157k parameters either way).
template <class B, class T>
void device_training_figures(Index batch) {
  const char *b = backend_name<B>(), *t = type_name<T>();
  Setup<B, T> s(batch);
  const SquaredErrorLoss<B, T> loss{&s.target};
  auto params = s.ws.backend_parameters();
  const auto grads = s.adj.backend_gradient();
  nn::SgdMomentum<T, B> opt(nn::constant(T(1e-4)), 0.9);
  ad::Backprop on_device;
  on_device.theta_bar_to_host = false;
  SolveOptions<T> o;
  o.fixed_steps = 4;
  for (int K : {0, 2, 3}) {
    const ad::TaylorRegularizer<T> reg{K, T(1e-2)};
    const std::string detail = std::string("RK4x4 | ") + (K ? "R" + std::to_string(K) : std::string("none")) + " | backprop";
    long nfe = 0;
    auto step = [&] {
      auto g = ad::solve_gradient(s.ws, s.adj, s.z0, T(0), T(1), reg, RK4{}, o, on_device, loss);
      nfe = long(g.nfe_forward + g.nfe_backward);
      opt.step(params, grads);
    };
    try {
      report({"training_step", b, t, detail + " device", batch, 1e6 * median_seconds<B>(step), nfe});
      typename B::Graph g(step);  // after median_seconds' steps: the optimizer's slots exist
      report({"training_step", b, t, detail + " graph (" + std::to_string(g.operations()) + " nodes)", batch,
              1e6 * median_seconds<B>([&] { g.replay(); }), nfe});
    } catch (const std::exception& e) {
      report_failure("training_step", b, t, batch, detail + " device", e.what());
    }
  }
}

// --quick or nothing; anything else prints the usage and exits 2.
inline bool parse_quick(int argc, char** argv, const char* program) {
  if (argc == 1) return false;
  if (argc == 2 && std::string(argv[1]) == "--quick") return true;
  std::fprintf(stderr, "usage: %s [--quick]\n", program);
  std::exit(2);
}

}  // namespace taynode_bench

// backend::Cuda on a GPU against backend::Cpu: NetworkTaylor on the three paper dynamics (MNIST,
// latent ODE, FFJORD/ConcatSquash), K = 0..6, float and double; a Dopri5 solve; solve_gradient on
// the three dynamics, float and double (R_2 and the gradients: backprop on an RK4 grid, the adjoint
// with Dopri5 in double and on the grid in float); graph capture and replay, also of a whole
// training step with θ̄ and the optimizer on the device; the MNIST head on the device
// (nn::ClassifierLossOnBackend) against nn::ClassifierLoss, replayed from a graph; the resident Dopri5
// solve (taylor/resident_solve.hpp, one cooperative kernel) against the same solve on the host. Within 1e-12 relative to the
// largest entry in double and 1e-5 in float (GEMM and reduction orders and the device libm differ
// from the host's). Exit code 77 (ctest: skipped) when there is no usable device. The same code
// runs on the host emulation in tests/backend/test_cuda_emulated.cpp; this TU also proves that
// backend::Cuda compiles through Series, NetworkTaylor, the solvers and ad/ under nvcc.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "taynode/ad.hpp"
#include "taynode/cuda.hpp"
#include "taynode/nn.hpp"
#include "taynode/nn/classifier_on_backend.hpp"
#include "taynode/ode.hpp"
#include "taynode/ode/backend_vector_space.hpp"
#include "taynode/taylor/network_taylor.hpp"
#include "taynode/taylor/resident_solve.hpp"

using namespace taynode;
using backend::Cuda;
using backend::Index;

namespace {

int failures = 0;

template <class T>
using Host = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
Host<T> random_state(Index rows, Index cols, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Host<T> z(rows, cols);
  for (Index i = 0; i < z.size(); ++i) z.data()[i] = T(u(rng));
  return z;
}
template <class T>
void fill_parameters(nn::Sequential<T>& net, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  nn::for_each_parameter(net, [&](auto& p) {
    const double scale = p.cols() > 1 ? 1.0 / std::sqrt(double(p.cols())) : 0.5;
    for (Index i = 0; i < p.size(); ++i) p.data()[i] = T(scale * u(rng));
  });
}

template <class T>
double tolerance() {
  return sizeof(T) == sizeof(double) ? 1e-12 : 1e-5;
}
template <class T>
void expect_close(const std::string& what, const T* cpu, const T* gpu, Index n) {
  double scale = 1e-300, worst = 0;
  bool nan = false;
  for (Index i = 0; i < n; ++i) {
    nan |= std::isnan(double(cpu[i])) || std::isnan(double(gpu[i]));
    scale = std::fmax(scale, std::fabs(double(cpu[i])));
    worst = std::fmax(worst, std::fabs(double(cpu[i]) - double(gpu[i])));
  }
  if (nan || worst > tolerance<T>() * scale) {
    ++failures;
    std::printf("FAILED %s: relative difference %.3e%s\n", what.c_str(), worst / scale, nan ? " (NaN)" : "");
  }
}
template <class A, class G>
void expect_close_matrix(const std::string& what, const A& cpu, const G& gpu) {
  using T = std::remove_const_t<std::remove_pointer_t<decltype(gpu.data())>>;
  const Host<T> c = cpu;
  const Host<T> g = backend::to_host<Cuda>(gpu);
  if (c.rows() != g.rows() || c.cols() != g.cols()) {
    ++failures;
    std::printf("FAILED %s: shapes differ\n", what.c_str());
    return;
  }
  expect_close(what, c.data(), g.data(), c.size());
}

template <class T>
void network_taylor() {
  std::vector<std::pair<std::string, nn::Sequential<T>>> nets;
  nets.emplace_back("mnist", nn::mnist_dynamics<T>(5, 4));
  nets.emplace_back("latent", nn::latent_ode_dynamics<T>(4, 6, 2));
  nets.emplace_back("ffjord", nn::ffjord_dynamics<T>(3, {5, 4}));
  unsigned seed = 11;
  for (auto& [name, net] : nets) {
    fill_parameters(net, seed++);
    for (Index batch : {1, 3, 100}) {
      const std::string tag = name + (sizeof(T) == 8 ? " double" : " float") + " batch " + std::to_string(batch);
      const Index D = net.in_features();
      const Host<T> z = random_state<T>(batch, D, 7), v = random_state<T>(batch, D, 17);
      const auto zg = backend::to_backend<Cuda>(z), vg = backend::to_backend<Cuda>(v);
      NetworkTaylor<T> cpu(net, 6, batch);
      NetworkTaylor<T, Cuda> gpu(net, 6, batch);
      expect_close_matrix(tag + " evaluate", cpu.evaluate(T(0.6), z), gpu.evaluate(T(0.6), zg));
      expect_close_matrix(tag + " jvp", cpu.jvp(T(0.6), z, v), gpu.jvp(T(0.6), zg, vg));
      for (int K = 1; K <= 6; ++K) {
        cpu.ode_coefficients(T(0.3), z, K);
        gpu.ode_coefficients(T(0.3), zg, K);
        expect_close_matrix(tag + " derivative K=" + std::to_string(K), cpu.derivative(K), gpu.derivative(K));
      }
    }
  }
}

void solve_dopri5() {
  auto net = nn::mnist_dynamics<double>(6, 5);
  fill_parameters(net, 8);
  const Index batch = 3;
  const Host<double> z0 = random_state<double>(batch, 6, 9);
  NetworkTaylor<double> ws(net, 1, batch);
  NetworkTaylor<double, Cuda> wsg(net, 1, batch);
  using GMat = Cuda::Matrix<double>;
  auto f = [&](double t, const Host<double>& y, Host<double>& dy) { dy = ws.evaluate(t, y); };
  auto fg = [&](double t, const GMat& y, GMat& dy) { backend::assign<Cuda>(dy, wsg.evaluate(t, y)); };
  SolveOptions<double> o;
  o.rtol = o.atol = 1e-8;
  const std::vector<double> times{0.0, 0.5, 1.0};
  const auto a = solve(f, z0, times, Dopri5{}, o);
  const auto b = solve(fg, backend::to_backend<Cuda>(z0), times, Dopri5{}, o);
  for (std::size_t i = 0; i < a.y.size() && i < b.y.size(); ++i)
    expect_close_matrix("solve y[" + std::to_string(i) + "]", a.y[i], b.y[i]);
  if (a.stats.nfe != b.stats.nfe) {
    ++failures;
    std::printf("FAILED solve: nfe %ld vs %ld\n", long(a.stats.nfe), long(b.stats.nfe));
  }
}

// resident_dopri5 (one cooperative kernel) against taynode::solve on backend::Cpu: the MNIST-shaped
// dynamics (784 → 100 → 784 in double at batch 100, a smaller one in float) for every
// rows_per_block; the statistics must agree in double.
template <class T>
void resident_solve() {
  const bool dbl = sizeof(T) == sizeof(double);
  const Index dim = dbl ? 784 : 40, batch = dbl ? 100 : 37;
  auto net = nn::mnist_dynamics<T>(dim, dbl ? 100 : 24);
  fill_parameters(net, 4);
  const Host<T> z0 = random_state<T>(batch, dim, 5);
  NetworkTaylor<T> ws(net, 0, batch);
  NetworkTaylor<T, Cuda> wsg(net, 0, batch);
  auto f = [&](T t, const Host<T>& y, Host<T>& dy) { dy = ws.evaluate(t, y); };
  SolveOptions<T> o;
  o.rtol = o.atol = dbl ? T(1e-9) : T(1e-5);
  const auto cpu = solve(f, z0, std::vector<T>{T(0), T(1)}, Dopri5{}, o);
  const auto z0g = backend::to_backend<Cuda>(z0);
  for (int rows : {1, 2, 4, 8, -4}) {  // -4: 4 rows per group, 3 blocks taking several groups each
    Cuda::Matrix<T> z1;
    const ResidentOptions ro{rows < 0 ? -rows : rows, 128, rows < 0 ? 3u : 0u};
    const auto st = resident_dopri5(wsg, z0g, T(0), T(1), z1, o, ro);
    const std::string tag = std::string("resident_dopri5 ") + (dbl ? "double" : "float") + " rows_per_block " +
                            std::to_string(ro.rows_per_block) + " max_blocks " + std::to_string(ro.max_blocks);
    // Float: the solve's tolerance (rounding may move a step decision); double: 1e-12.
    if (dbl) {
      expect_close_matrix(tag, cpu.y.back(), z1);
      if (st.nfe != cpu.stats.nfe || st.rejected_steps != cpu.stats.rejected_steps) {
        ++failures;
        std::printf("FAILED %s: nfe %ld vs %ld\n", tag.c_str(), long(st.nfe), long(cpu.stats.nfe));
      }
    } else {
      const Host<T> g = backend::to_host<Cuda>(z1);
      const double scale = double(cpu.y.back().cwiseAbs().maxCoeff());
      const double worst = double((cpu.y.back() - g).cwiseAbs().maxCoeff());
      if (!(worst <= 1e-4 * scale)) {
        ++failures;
        std::printf("FAILED %s: relative difference %.3e\n", tag.c_str(), worst / scale);
      }
    }
  }
}

template <class T>
struct Loss {
  Host<T> w;
  Host<T> z1_bar_of(const Host<T>& z1) const { return w.cwiseProduct((1 - z1.array().tanh().square()).matrix()); }
  void operator()(const Host<T>& z1, const Eigen::Matrix<T, Eigen::Dynamic, 1>&, Host<T>& z1_bar,
                  Eigen::Matrix<T, Eigen::Dynamic, 1>& r1_bar) const {
    z1_bar = z1_bar_of(z1);
    r1_bar.setConstant(T(0.7));
  }
  void operator()(const Cuda::Matrix<T>& z1, const Cuda::Matrix<T>&, Cuda::Matrix<T>& z1_bar,
                  Cuda::Matrix<T>& r1_bar) const {
    const Host<T> zb = z1_bar_of(backend::to_host<Cuda>(z1));
    Cuda::upload(zb.size(), zb.data(), z1_bar.data());
    Cuda::fill(r1_bar.size(), T(0.7), r1_bar.data());
  }
};

template <class T, class G1, class G2>
void expect_close_gradient(const std::string& tag, const G1& cpu, const G2& gpu) {
  expect_close_matrix(tag + " z1", cpu.z1, gpu.z1);
  expect_close_matrix(tag + " R_2 (r1)", cpu.r1, gpu.r1);
  expect_close_matrix(tag + " z0_bar", cpu.z0_bar, gpu.z0_bar);
  std::vector<const T*> pc, pg;
  std::vector<Index> n;
  nn::for_each_parameter(cpu.theta_bar, [&](const auto& p) {
    pc.push_back(p.data());
    n.push_back(p.size());
  });
  nn::for_each_parameter(gpu.theta_bar, [&](const auto& p) { pg.push_back(p.data()); });
  if (pc.size() != pg.size() || pc.empty()) {
    ++failures;
    std::printf("FAILED %s: parameter gradients missing\n", tag.c_str());
  }
  for (std::size_t i = 0; i < pc.size() && i < pg.size(); ++i)
    expect_close(tag + " theta_bar[" + std::to_string(i) + "]", pc[i], pg[i], n[i]);
}

// R_2 and the gradients of a loss through a solve, on the three paper dynamics: backprop on an RK4
// grid, and the adjoint (double: Dopri5 at 1e-7; float: on the RK4 grid, since an adaptive float
// solve near its precision may take other steps on the two backends).
template <class T>
void solve_gradient() {
  std::vector<std::pair<std::string, nn::Sequential<T>>> nets;
  nets.emplace_back("mnist", nn::mnist_dynamics<T>(5, 4));
  nets.emplace_back("latent", nn::latent_ode_dynamics<T>(4, 6, 2));
  nets.emplace_back("ffjord", nn::ffjord_dynamics<T>(3, {5, 4}));
  unsigned seed = 13;
  for (auto& [name, net] : nets) {
    fill_parameters(net, seed++);
    const std::string tag = name + (sizeof(T) == 8 ? " double " : " float ");
    const Index batch = 3, D = net.in_features();
    const Host<T> z0 = random_state<T>(batch, D, 11);
    const Loss<T> loss{random_state<T>(batch, D, 12)};
    NetworkTaylor<T> ws(net, 3, batch);
    NetworkTaylor<T, Cuda> wsg(net, 3, batch);
    ad::NetworkAdjoint<T> adj(ws);
    ad::NetworkAdjoint<T, Cuda> adjg(wsg);
    const auto z0g = backend::to_backend<Cuda>(z0);
    const ad::TaylorRegularizer<T> reg{2, T(0.5)};
    SolveOptions<T> grid;
    grid.fixed_steps = 3;
    SolveOptions<T> tol;
    tol.rtol = tol.atol = T(1e-7);
    expect_close_gradient<T>(tag + "backprop RK4",
                             ad::solve_gradient(ws, adj, z0, T(0), T(1), reg, RK4{}, grid, ad::Backprop{}, loss),
                             ad::solve_gradient(wsg, adjg, z0g, T(0), T(1), reg, RK4{}, grid, ad::Backprop{}, loss));
    if constexpr (sizeof(T) == 8)
      expect_close_gradient<T>(tag + "adjoint Dopri5",
                               ad::solve_gradient(ws, adj, z0, T(0), T(1), reg, Dopri5{}, tol, ad::Adjoint{}, loss),
                               ad::solve_gradient(wsg, adjg, z0g, T(0), T(1), reg, Dopri5{}, tol, ad::Adjoint{}, loss));
    else
      expect_close_gradient<T>(tag + "adjoint RK4",
                               ad::solve_gradient(ws, adj, z0, T(0), T(1), reg, RK4{}, grid, ad::Adjoint{}, loss),
                               ad::solve_gradient(wsg, adjg, z0g, T(0), T(1), reg, RK4{}, grid, ad::Adjoint{}, loss));
  }
}

// A captured graph of an evaluation and of a K = 3 coefficient pass replays to the direct results,
// also after the input buffer is refilled in place (graph.hpp).
void graphs() {
  auto net = nn::mnist_dynamics<double>(6, 5);
  fill_parameters(net, 21);
  const Index batch = 3;
  const Host<double> z = random_state<double>(batch, 6, 22), z2 = random_state<double>(batch, 6, 23);
  NetworkTaylor<double, Cuda> ws(net, 3, batch);
  auto zin = backend::to_backend<Cuda>(z);
  const Host<double> f_z = backend::to_host<Cuda>(ws.evaluate(0.6, zin));
  const Host<double> f_z2 = backend::to_host<Cuda>(ws.evaluate(0.6, backend::to_backend<Cuda>(z2)));
  Cuda::ConstView<double> out(nullptr, 0, 0);
  Cuda::Graph eval([&] { out = ws.evaluate(0.6, zin); });
  eval.replay();
  expect_close_matrix("graph evaluate", f_z, out);
  Cuda::upload(z2.size(), z2.data(), zin.data());
  eval.replay();
  expect_close_matrix("graph evaluate, new input in place", f_z2, out);
  ws.ode_coefficients(0.3, zin, 3);
  const Host<double> d3 = backend::to_host<Cuda>(ws.derivative(3));
  Cuda::Graph coefficients([&] { ws.ode_coefficients(0.3, zin, 3); });
  coefficients.replay();
  expect_close_matrix("graph coefficients K=3", d3, ws.derivative(3));
  bool refused = false;
  try {
    Cuda::Graph bad([&] {
      ws.evaluate(0.6, zin);
      Cuda::synchronize();
    });
  } catch (const taynode::cuda::Error& e) {
    refused = true;
    std::printf("a synchronize while capturing: %s\n", e.what());
  }
  if (!refused) {
    ++failures;
    std::printf("FAILED graph: a synchronize while capturing was not refused\n");
  }
  expect_close_matrix("direct evaluate after a failed capture", f_z2, ws.evaluate(0.6, zin));
}

// A training step with θ̄ and SGD on the device (ad::Backprop::theta_bar_to_host = false,
// NetworkTaylor::backend_parameters): one direct step, then the step captured as a graph and
// replayed twice, against three host steps on backend::Cpu.
template <class T>
void device_training_step() {
  auto net = nn::mnist_dynamics<T>(6, 5);
  fill_parameters(net, 31);
  nn::Sequential<T> net_cpu = net;
  const Index batch = 3, D = net.in_features();
  const Host<T> z0 = random_state<T>(batch, D, 32), target = random_state<T>(batch, D, 33);
  const auto z0g = backend::to_backend<Cuda>(z0), targetg = backend::to_backend<Cuda>(target);
  const ad::TaylorRegularizer<T> reg{2, T(1)};
  SolveOptions<T> grid;
  grid.fixed_steps = 2;
  using M = Cuda::Matrix<T>;
  auto device_loss = [&](const M& z1, const M&, M& z1_bar, M& r1_bar) {
    Cuda::copy(z1.size(), z1.data(), z1_bar.data());
    Cuda::axpy(z1.size(), T(-1), targetg.data(), z1_bar.data());
    Cuda::scale(z1.size(), T(1) / T(batch), z1_bar.data());
    Cuda::fill(r1_bar.size(), T(0.3) / T(batch), r1_bar.data());
  };
  auto host_loss = [&](const Host<T>& z1, const auto&, Host<T>& z1_bar, auto& r1_bar) {
    z1_bar = (z1 - target) / T(batch);
    r1_bar.setConstant(T(0.3) / T(batch));
  };
  NetworkTaylor<T> ws(net_cpu, 2, batch);
  ad::NetworkAdjoint<T> adj(ws);
  auto refs = nn::parameter_refs(net_cpu);
  nn::SgdMomentum<T> opt(nn::constant(0.05), 0.9);
  for (int i = 0; i < 3; ++i) {
    auto g = ad::solve_gradient(ws, adj, z0, T(0), T(1), reg, RK4{}, grid, ad::Backprop{}, host_loss);
    auto grads = nn::parameter_refs(g.theta_bar);
    opt.step(refs, grads);
  }
  NetworkTaylor<T, Cuda> wsg(net, 2, batch);
  ad::NetworkAdjoint<T, Cuda> adjg(wsg);
  auto params = wsg.backend_parameters();
  const auto grads = adjg.backend_gradient();
  nn::SgdMomentum<T, Cuda> optg(nn::constant(0.05), 0.9);
  ad::Backprop on_device;
  on_device.theta_bar_to_host = false;
  auto step = [&] {
    ad::solve_gradient(wsg, adjg, z0g, T(0), T(1), reg, RK4{}, grid, on_device, device_loss);
    optg.step(params, grads);
  };
  step();
  Cuda::Graph graph(step);
  graph.replay();
  graph.replay();
  const auto want = nn::ParameterSet<T>::from_network(net_cpu);
  const auto got = params.download();
  for (std::size_t i = 0; i < want.size(); ++i)
    expect_close(std::string("device training step (graph) ") + want.name(i), want.value(i).data(), got.value(i).data(),
                 want.value(i).size());
}

// The MNIST head in device memory (nn::ClassifierLossOnBackend) against nn::ClassifierLoss on the
// host: loss, R's mean, correct count, z̄1, r̄1, W̄, b̄, replayed from a graph on new labels.
template <class T>
void classifier_on_device() {
  std::mt19937_64 rng(41);
  const Index batch = 37, D = 50, C = 10;
  nn::Linear<T> head = nn::make_classifier_head<T>(D, C, rng);
  const Host<T> z = random_state<T>(batch, D, 42), z2 = random_state<T>(batch, D, 43);
  nn::Vector<T> r(batch);
  for (Index i = 0; i < batch; ++i) r[i] = T(0.1 * double(i));
  std::vector<int> labels(static_cast<std::size_t>(batch)), other(static_cast<std::size_t>(batch));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i] = int(i % std::size_t(C));
    other[i] = int((7 * i + 3) % std::size_t(C));
  }
  nn::ClassifierLossOnBackend<T, Cuda> dev(head, batch, 2 * batch, 0.3);
  auto zg = backend::to_backend<Cuda>(z);
  const auto rg = backend::to_backend<Cuda>(nn::Vector<T>(r));
  Cuda::Matrix<T> zbg(batch, D);
  Cuda::Vector<T> rbg(batch);
  dev.set_labels(labels);
  Cuda::Graph graph([&] { dev(zg, rg, zbg, rbg); });
  for (int round = 0; round < 2; ++round) {
    const Host<T>& zin = round == 0 ? z : z2;
    const std::vector<int>& y = round == 0 ? labels : other;
    Cuda::upload(zin.size(), zin.data(), zg.data());
    dev.set_labels(y);
    graph.replay();
    nn::ClassifierLoss<T> host(head, y, 2 * batch, 0.3);
    Host<T> zb;
    nn::Vector<T> rb(batch);
    host(zin, r, zb, rb);
    const auto totals = dev.totals();
    const std::string tag = std::string("classifier head ") + (sizeof(T) == 8 ? "double" : "float") + " round " +
                            std::to_string(round) + ": ";
    auto close = [&](const char* what, double want, double got) {
      if (!(std::fabs(want - got) <= tolerance<T>() * std::fabs(want))) {
        ++failures;
        std::printf("FAILED %s%s: %.17g, host %.17g\n", tag.c_str(), what, got, want);
      }
    };
    close("loss", host.loss, totals.loss);
    close("reg", host.reg, totals.reg);
    if (totals.correct != host.correct) {
      ++failures;
      std::printf("FAILED %scorrect %zu, host %zu\n", tag.c_str(), totals.correct, host.correct);
    }
    expect_close_matrix(tag + "z_bar", zb, zbg);
    const Host<T> rb_device = backend::to_host<Cuda>(rbg);
    expect_close(tag + "r_bar", rb.data(), rb_device.data(), batch);
    const auto g = dev.gradient().download();
    expect_close(tag + "weight", host.grad.weight.data(), g.value(0).data(), host.grad.weight.size());
    expect_close(tag + "bias", host.grad.bias.data(), g.value(1).data(), host.grad.bias.size());
  }
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    // Without a device the backend must fail with a cuda::Error naming the call and operation.
    try {
      Cuda::Buffer<double> b(16);
      std::printf("FAILED: a device buffer was allocated without a device\n");
      return 1;
    } catch (const taynode::cuda::Error& e) {
      std::printf("without a device: %s\n", e.what());
      if (e.api() != "cudaMalloc" || e.operation() != "Buffer") return 1;
    }
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  // Each part on its own: an exception fails that part and the others still run.
  auto part = [](const char* name, void (*body)()) {
    const int before = failures;
    try {
      body();
      Cuda::synchronize();
    } catch (const std::exception& e) {
      ++failures;
      std::printf("FAILED %s with an exception: %s\n", name, e.what());
    }
    std::printf("%s: %s\n", name, failures == before ? "passed" : "FAILED");
  };
  part("NetworkTaylor double", network_taylor<double>);
  part("NetworkTaylor float", network_taylor<float>);
  part("Dopri5 solve", solve_dopri5);
  part("resident Dopri5 solve double", resident_solve<double>);
  part("resident Dopri5 solve float", resident_solve<float>);
  part("solve_gradient double", solve_gradient<double>);
  part("solve_gradient float", solve_gradient<float>);
  part("graphs", graphs);
  part("device training step double", device_training_step<double>);
  part("device training step float", device_training_step<float>);
  part("classifier head on the device double", classifier_on_device<double>);
  part("classifier head on the device float", classifier_on_device<float>);
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}

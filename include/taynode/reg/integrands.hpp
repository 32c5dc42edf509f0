#pragma once
// Speed regularizers as integrands of an augmented ODE state [z, r] (r' = integrand, r(t0) = 0),
// per example of a batch, normalized by the state dimension D as the reference code does:
//   R_K (TayNODE):              (1/D)·||d^K z/dt^K||²
//   kinetic (RNODE's K term):   (1/D)·||f(t, z)||²
//   Jacobian Frobenius (RNODE's B term, Hutchinson): (1/D)·||J ε||², J = ∂f/∂z, ε Gaussian or
//                               Rademacher; J ε by forward mode (a JVP), as the reference does.
// Each function also returns f(t, z) from the same pass, so a solver of the augmented state gets
// the dynamics and the integrand at the cost of one Taylor pass.
//
// Shapes: z, f, ε are batch × D row-major; r is a vector of batch entries.

#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <Eigen/Core>

#include "taynode/backend/matrix.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::reg {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
// Output arguments: contiguous row-major storage in the backend's memory (for backend::Cpu any
// such Eigen matrix, vector or map); non-deduced.
template <class T, class B = backend::Cpu>
using MatrixOut = std::type_identity_t<backend::OutputMatrix<B, T>>;
template <class T, class B = backend::Cpu>
using VectorOut = std::type_identity_t<backend::OutputMatrix<B, T>>;
template <class T>
using Time = std::type_identity_t<T>;

// r_b = (1/D)·||x_b||² (the mean of squares of each row), host Eigen.
template <class DX>
auto mean_squares(const Eigen::MatrixBase<DX>& x) {
  using T = typename DX::Scalar;
  return (x.rowwise().squaredNorm() / T(x.cols())).eval();
}

namespace detail {
template <class T>
struct DivideKernel {
  T* r;
  T d;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const { r[i] = r[i] / d; }
};
template <class T, class B>
void check_outputs(const NetworkTaylor<T, B>& ws, const backend::OutputMatrix<B, T>& f, const backend::OutputMatrix<B, T>& r,
                   const char* who) {
  if (f.rows() != ws.batch() || f.cols() != ws.dim() || r.size() != ws.batch())
    throw std::invalid_argument(std::string("taynode::reg::") + who + ": f must be batch × dim, r have batch entries");
}
}  // namespace detail

// The same in the backend's memory: r_b = (1/D)·||x_b||², x rows × cols, r rows.
template <class B, class T>
void row_mean_squares(Index rows, Index cols, const T* x, T* r) {
  B::row_squared_norms(rows, cols, x, cols, r);
  B::for_each(rows, detail::DivideKernel<T>{r, T(cols)});
}

// R_K integrand: r_b = (1/D)·||z_b^(K)(t)||², and f(t, z) → f, by K incremental Taylor passes of
// the workspace's network (K ≤ ws.max_order()).
template <class T, class B, class Z>
void taylor_integrand(NetworkTaylor<T, B>& ws, Time<T> t, const Z& z, int K, MatrixOut<T, B> f, VectorOut<T, B> r) {
  if (K < 1) throw std::invalid_argument("taynode::reg::taylor_integrand: K >= 1");
  detail::check_outputs(ws, f, r, "taylor_integrand");
  ws.ode_coefficients(t, z, K);
  const auto& s = ws.state();
  B::copy(s.size(), s.coefficient(1), f.data());  // c_1 = z'
  T factorial(1);
  for (int j = 2; j <= K; ++j) factorial *= T(j);
  // z^(K) = K!·c_K, so ||z^(K)||² = (K!)²·||c_K||²
  B::row_squared_norms(s.rows(), s.cols(), s.coefficient(K), s.cols(), r.data());
  B::scale(s.rows(), factorial * factorial / T(s.cols()), r.data());
}

// Kinetic integrand from a given f: r_b = (1/D)·||f_b||² (host Eigen).
template <class DF>
void kinetic_integrand(const Eigen::MatrixBase<DF>& f, Eigen::Ref<Vector<typename DF::Scalar>> r) {
  r = mean_squares(f);
}
// Kinetic integrand and f(t, z) by one plain pass.
template <class T, class B, class Z>
void kinetic_integrand(NetworkTaylor<T, B>& ws, Time<T> t, const Z& z, MatrixOut<T, B> f, VectorOut<T, B> r) {
  detail::check_outputs(ws, f, r, "kinetic_integrand");
  const auto fz = ws.evaluate(t, z);
  B::copy(fz.size(), fz.data(), f.data());
  row_mean_squares<B>(fz.rows(), fz.cols(), fz.data(), r.data());
}

// Jacobian-Frobenius integrand r_b = (1/D)·||(J ε)_b||² and f(t, z), by one order-1 push (pass 0
// is the plain evaluation, pass 1 the JVP); the workspace needs max_order ≥ 1.
template <class T, class B, class Z, class E>
void jacobian_frobenius_integrand(NetworkTaylor<T, B>& ws, Time<T> t, const Z& z, const E& eps, MatrixOut<T, B> f,
                                  VectorOut<T, B> r) {
  detail::check_outputs(ws, f, r, "jacobian_frobenius_integrand");
  const auto jv = ws.jvp(t, z, eps);
  B::copy(f.size(), ws.output().coefficient(0), f.data());
  row_mean_squares<B>(jv.rows(), jv.cols(), jv.data(), r.data());
}

// RNODE's two integrands and f from the same order-1 push: kinetic (1/D)||f||², Frobenius (1/D)||J ε||².
template <class T, class B, class Z, class E>
void rnode_integrands(NetworkTaylor<T, B>& ws, Time<T> t, const Z& z, const E& eps, MatrixOut<T, B> f,
                      VectorOut<T, B> kinetic, VectorOut<T, B> frobenius) {
  detail::check_outputs(ws, f, kinetic, "rnode_integrands");
  detail::check_outputs(ws, f, frobenius, "rnode_integrands");
  const auto jv = ws.jvp(t, z, eps);
  const T* f0 = ws.output().coefficient(0);
  B::copy(f.size(), f0, f.data());
  row_mean_squares<B>(jv.rows(), jv.cols(), f0, kinetic.data());
  row_mean_squares<B>(jv.rows(), jv.cols(), jv.data(), frobenius.data());
}

// Hutchinson noise, batch × D: standard Gaussian, or Rademacher (±1 with probability ½).
template <class T, class Rng>
RowMatrix<T> gaussian_noise(Rng& rng, Eigen::Index rows, Eigen::Index cols) {
  std::normal_distribution<double> normal(0.0, 1.0);
  RowMatrix<T> e(rows, cols);
  for (Eigen::Index i = 0; i < e.size(); ++i) e.data()[i] = T(normal(rng));
  return e;
}
template <class T, class Rng>
RowMatrix<T> rademacher_noise(Rng& rng, Eigen::Index rows, Eigen::Index cols) {
  std::bernoulli_distribution coin(0.5);
  RowMatrix<T> e(rows, cols);
  for (Eigen::Index i = 0; i < e.size(); ++i) e.data()[i] = coin(rng) ? T(1) : T(-1);
  return e;
}

}  // namespace taynode::reg

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
#include <type_traits>

#include <Eigen/Core>

#include "taynode/taylor/network_taylor.hpp"

namespace taynode::reg {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
// Output arguments (any row-major matrix / vector with contiguous storage); non-deduced.
template <class T>
using MatrixOut = std::type_identity_t<Eigen::Ref<RowMatrix<T>>>;
template <class T>
using VectorOut = std::type_identity_t<Eigen::Ref<Vector<T>>>;
template <class T>
using Time = std::type_identity_t<T>;

// r_b = (1/D)·||x_b||² (the mean of squares of each row).
template <class DX>
auto mean_squares(const Eigen::MatrixBase<DX>& x) {
  using T = typename DX::Scalar;
  return (x.rowwise().squaredNorm() / T(x.cols())).eval();
}

// R_K integrand: r_b = (1/D)·||z_b^(K)(t)||², and f(t, z) → f, by K incremental Taylor passes of
// the workspace's network (K ≤ ws.max_order()).
template <class T, class B, class DZ>
void taylor_integrand(NetworkTaylor<T, B>& ws, Time<T> t, const Eigen::MatrixBase<DZ>& z, int K, MatrixOut<T> f,
                      VectorOut<T> r) {
  if (K < 1) throw std::invalid_argument("taynode::reg::taylor_integrand: K >= 1");
  ws.ode_coefficients(t, z, K);
  const auto& s = ws.state();
  f = s.matrix(1);  // c_1 = z'
  T factorial(1);
  for (int j = 2; j <= K; ++j) factorial *= T(j);
  // z^(K) = K!·c_K, so ||z^(K)||² = (K!)²·||c_K||²
  B::row_squared_norms(s.rows(), s.cols(), s.coefficient(K), s.cols(), r.data());
  r *= factorial * factorial / T(s.cols());
}

// Kinetic integrand from a given f: r_b = (1/D)·||f_b||².
template <class DF>
void kinetic_integrand(const Eigen::MatrixBase<DF>& f, VectorOut<typename DF::Scalar> r) {
  r = mean_squares(f);
}
// Kinetic integrand and f(t, z) by one plain pass.
template <class T, class B, class DZ>
void kinetic_integrand(NetworkTaylor<T, B>& ws, Time<T> t, const Eigen::MatrixBase<DZ>& z, MatrixOut<T> f,
                       VectorOut<T> r) {
  f = ws.evaluate(t, z);
  r = mean_squares(f);
}

// Jacobian-Frobenius integrand r_b = (1/D)·||(J ε)_b||² and f(t, z), by one order-1 push (pass 0
// is the plain evaluation, pass 1 the JVP); the workspace needs max_order ≥ 1.
template <class T, class B, class DZ, class DE>
void jacobian_frobenius_integrand(NetworkTaylor<T, B>& ws, Time<T> t, const Eigen::MatrixBase<DZ>& z,
                                  const Eigen::MatrixBase<DE>& eps, MatrixOut<T> f,
                                  VectorOut<T> r) {
  const auto jv = ws.jvp(t, z, eps);
  f = ws.output().matrix(0);
  r = mean_squares(jv);
}

// RNODE's two integrands and f from the same order-1 push: kinetic (1/D)||f||², Frobenius (1/D)||J ε||².
template <class T, class B, class DZ, class DE>
void rnode_integrands(NetworkTaylor<T, B>& ws, Time<T> t, const Eigen::MatrixBase<DZ>& z, const Eigen::MatrixBase<DE>& eps,
                      MatrixOut<T> f, VectorOut<T> kinetic, VectorOut<T> frobenius) {
  const auto jv = ws.jvp(t, z, eps);
  f = ws.output().matrix(0);
  kinetic = mean_squares(f);
  frobenius = mean_squares(jv);
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

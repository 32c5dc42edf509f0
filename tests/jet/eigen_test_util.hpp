#pragma once
// Helpers of the Eigen interop tests: matrix paths A(t) = sum_k A_k t^k with
// exactly representable entries, and the Cauchy product of their coefficient
// matrices in long double (the truth for products; no jet code involved).
#include <Eigen/Core>

#include "jet_test_util.hpp"

namespace taynode_test::eigen_test {
constexpr int K = 3;
using J = Jet<double, K>;
using MatJ = Eigen::Matrix<J, Eigen::Dynamic, Eigen::Dynamic>;
using MatD = Eigen::MatrixXd;
using MatL = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;

// A matrix path with K+1 coefficient matrices of exactly representable entries.
inline std::array<MatD, K + 1> coefficient_matrices(int rows, int cols, int seed) {
  std::array<MatD, K + 1> m;
  for (int k = 0; k <= K; ++k) {
    m[k].resize(rows, cols);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) m[k](i, j) = static_cast<double>(((seed * 7 + k * 13 + i * 5 + j * 3) % 17) - 8) / 8.0;
  }
  return m;
}
inline MatJ as_jet_matrix(const std::array<MatD, K + 1>& m) {
  MatJ a(m[0].rows(), m[0].cols());
  for (int i = 0; i < a.rows(); ++i)
    for (int j = 0; j < a.cols(); ++j) {
      std::array<double, K + 1> c;
      for (int k = 0; k <= K; ++k) c[k] = m[k](i, j);
      a(i, j) = J(c);
    }
  return a;
}
// c_k of the product path, by the Cauchy product of coefficient matrices.
inline std::array<MatL, K + 1> product_coefficients(const std::array<MatD, K + 1>& a, const std::array<MatD, K + 1>& b) {
  std::array<MatL, K + 1> c;
  for (int k = 0; k <= K; ++k) {
    c[k] = MatL::Zero(a[0].rows(), b[0].cols());
    for (int j = 0; j <= k; ++j) c[k] += a[j].cast<long double>() * b[k - j].cast<long double>();
  }
  return c;
}
inline void check_matrix(const MatJ& got, const std::array<MatL, K + 1>& ref, const std::string& what) {
  REQUIRE(got.rows() == ref[0].rows());
  REQUIRE(got.cols() == ref[0].cols());
  ld scale = 0, err = 0;
  for (int k = 0; k <= K; ++k)
    for (int i = 0; i < got.rows(); ++i)
      for (int j = 0; j < got.cols(); ++j) {
        scale = std::max(scale, std::fabs(ref[k](i, j)));
        err = std::max(err, std::fabs(static_cast<ld>(got(i, j)[k]) - ref[k](i, j)));
      }
  INFO(what << ": max err " << static_cast<double>(err) << ", scale " << static_cast<double>(scale));
  CHECK(err <= 1e-13L * scale);
}
}  // namespace taynode_test::eigen_test

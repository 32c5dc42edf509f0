// Eigen products of DYNAMIC-size Jet / Dual matrices with double matrices.
// Eigen's general block-panel kernel (what `*` uses for dynamic sizes) does not
// support mixed scalar types, so dynamic mixed products go through
// lazyProduct (the coefficient-based kernel), as docs/jet.md says; fixed small
// sizes and `*` are tested in test_eigen.cpp.
#include "eigen_test_util.hpp"

using namespace taynode_test;
using namespace taynode_test::eigen_test;

TEST_CASE("Eigen: dynamic Jet matrix times dynamic double matrix / and double times Jet", "[jet][eigen][mixed]") {
  const auto a = coefficient_matrices(3, 4, 1);
  const MatJ A = as_jet_matrix(a);
  // mixed: Jet matrix times double matrix, and double matrix times Jet matrix
  const MatD D = coefficient_matrices(4, 2, 5)[0];
  std::array<MatD, K + 1> d_path;
  for (int k = 0; k <= K; ++k) d_path[k] = k == 0 ? D : MatD::Zero(4, 2);
  check_matrix(MatJ(A.lazyProduct(D)), product_coefficients(a, d_path), "A(jet) * D(double)");
  const MatD E = coefficient_matrices(2, 3, 6)[0];
  std::array<MatD, K + 1> e_path;
  for (int k = 0; k <= K; ++k) e_path[k] = k == 0 ? E : MatD::Zero(2, 3);
  check_matrix(MatJ(E.lazyProduct(A)), product_coefficients(e_path, a), "E(double) * A(jet)");

}

TEST_CASE("Eigen: dynamic Dual matrix times dynamic double matrix", "[dual][eigen][mixed]") {
  using D = Dual<double>;
  using MatDual = Eigen::Matrix<D, Eigen::Dynamic, Eigen::Dynamic>;
  const auto a = coefficient_matrices(3, 3, 7), b = coefficient_matrices(3, 2, 8);
  MatDual A(3, 3);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) A(i, j) = D(a[0](i, j), a[1](i, j));
  // mixed with a double matrix
  const MatD M = b[2];
  const MatDual AM = A.lazyProduct(M);
  const MatL p2 = a[0].cast<long double>() * M.cast<long double>(), t2 = a[1].cast<long double>() * M.cast<long double>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) {
      CHECK(std::fabs(AM(i, j).primal - p2(i, j)) <= 1e-14L);
      CHECK(std::fabs(AM(i, j).tangent - t2(i, j)) <= 1e-14L);
    }
}

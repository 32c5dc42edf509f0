// Eigen interop: matrices of Jet<double,3> and Dual<double>. The truth for
// products of matrix paths A(t) = sum_k A_k t^k is the Cauchy product of the
// coefficient matrices, C_k = sum_{j<=k} A_j B_{k-j}, computed here with plain
// long double matrices (no jet code); element functions against closed forms
// along x0 + t; norm() against sqrt of the Jet sum of squares and against the
// closed form of a path whose norm is linear in t.
//
// Tolerance: 1e-13 relative to the largest |reference| entry of each
// coefficient matrix set -- a product of 4-term sums of K=3 Cauchy products
// has a few dozen roundings of eps_d = 1.1e-16 each; 1e-13 still catches any
// wrong or missing term (those are O(1)).
#include "eigen_test_util.hpp"

using namespace taynode_test;

using namespace taynode_test::eigen_test;

TEST_CASE("Eigen: Jet matrix products / sums / mixed products with double matrices", "[jet][eigen]") {
  const auto a = coefficient_matrices(3, 4, 1), b = coefficient_matrices(4, 2, 2), c = coefficient_matrices(3, 4, 3);
  const MatJ A = as_jet_matrix(a), B = as_jet_matrix(b), Cm = as_jet_matrix(c);

  check_matrix(MatJ(A * B), product_coefficients(a, b), "A * B");

  // coefficient-wise expectation computed with the Jet operations themselves
  MatJ expected(3, 2);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) {
      J s(0.0);
      for (int l = 0; l < 4; ++l) s += A(i, l) * B(l, j);
      expected(i, j) = s;
    }
  const MatJ AB = A * B;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k <= K; ++k) CHECK(std::fabs(AB(i, j)[k] - expected(i, j)[k]) <= 1e-14 * (1 + std::fabs(expected(i, j)[k])));

  // sums and scalar multiples: (A + 2C - A) coefficientwise
  std::array<MatL, K + 1> sum_ref;
  for (int k = 0; k <= K; ++k) sum_ref[k] = (2.0L * c[k].cast<long double>()).eval();
  check_matrix(MatJ(A + 2.0 * Cm - A), sum_ref, "A + 2C - A");
  check_matrix(MatJ(A + Cm * 2.0 - A), sum_ref, "A + C*2 - A");

  // mixed with double matrices, fixed sizes (coefficient-based product kernel);
  // the dynamic-size mixed products are in test_eigen_mixed.cpp
  const Eigen::Matrix<J, 3, 4> Af = A;
  const Eigen::Matrix<double, 4, 2> Df = coefficient_matrices(4, 2, 5)[0];
  std::array<MatD, K + 1> df_path;
  for (int k = 0; k <= K; ++k) df_path[k] = k == 0 ? MatD(Df) : MatD::Zero(4, 2);
  check_matrix(MatJ(Af * Df), product_coefficients(a, df_path), "A(jet, 3x4 fixed) * D(double, 4x2 fixed)");
  const Eigen::Matrix<double, 2, 3> Ef = coefficient_matrices(2, 3, 6)[0];
  std::array<MatD, K + 1> ef_path;
  for (int k = 0; k <= K; ++k) ef_path[k] = k == 0 ? MatD(Ef) : MatD::Zero(2, 3);
  check_matrix(MatJ(Ef * Af), product_coefficients(ef_path, a), "E(double, 2x3 fixed) * A(jet, 3x4 fixed)");

  // matrix-vector with fixed sizes
  using Vec4J = Eigen::Matrix<J, 4, 1>;
  Vec4J v;
  for (int i = 0; i < 4; ++i) v(i) = J::variable(0.25 * i - 0.5);
  const Eigen::Matrix<J, 3, 1> Av = A * v;
  for (int i = 0; i < 3; ++i) {
    // (A(t) v(t))_i = sum_l A_il(t) (v0_l + t)
    std::array<ld, K + 1> ref{};
    for (int l = 0; l < 4; ++l)
      for (int k = 0; k <= K; ++k) {
        ref[k] += static_cast<ld>(a[k](i, l)) * (0.25L * l - 0.5L);
        if (k >= 1) ref[k] += a[k - 1](i, l);
      }
    for (int k = 0; k <= K; ++k) CHECK(std::fabs(Av(i)[k] - ref[k]) <= 1e-14L);
  }
}

TEST_CASE("Eigen: .array() element functions and norm()", "[jet][eigen]") {
  Eigen::Matrix<J, 2, 3> X;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) X(i, j) = J::variable(0.5 * i - 0.75 * j + 0.25);
  const Eigen::Matrix<J, 2, 3> EX = X.array().exp().matrix();
  const Eigen::Matrix<J, 2, 3> SX = X.array().sin().matrix();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      const ld x0 = 0.5L * i - 0.75L * j + 0.25L;
      for (int k = 0; k <= K; ++k) {
        // exp: e^x0 / k!;  sin: sin(x0 + k pi/2) / k!
        const ld re = std::exp(x0) / factorial(k), rs = std::sin(x0 + k * pi_ld / 2) / factorial(k);
        CHECK(std::fabs(EX(i, j)[k] - re) <= 1e-15L * std::exp(x0));
        CHECK(std::fabs(SX(i, j)[k] - rs) <= 1e-15L);
      }
    }
  // .array() arithmetic with a scalar and a coefficient-wise product
  const Eigen::Matrix<J, 2, 3> P = (X.array() * X.array() + 1.0).matrix();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      const double x0 = 0.5 * i - 0.75 * j + 0.25;
      CHECK(P(i, j)[0] == x0 * x0 + 1);
      CHECK(P(i, j)[1] == 2 * x0);
      CHECK(P(i, j)[2] == 1);
      CHECK(P(i, j)[3] == 0);
    }

  // norm of v(t) = (x0 + t) (2, 3, 6): |v| = 7 (x0 + t) for x0 + t > 0 -- closed form
  Eigen::Matrix<J, 3, 1> v;
  const double x0 = 1.25;
  v << 2 * J::variable(x0), 3 * J::variable(x0), 6 * J::variable(x0);
  const J n = v.norm();
  CHECK(std::fabs(n[0] - 7 * x0) <= 1e-15 * 7 * x0);
  CHECK(std::fabs(n[1] - 7) <= 1e-14);
  CHECK(std::fabs(n[2]) <= 1e-14);
  CHECK(std::fabs(n[3]) <= 1e-14);
  // norm of a general vector path against sqrt of the Jet sum of squares, and
  // against the Cauchy reference of sqrt(sum_i w_i(t)^2)
  Eigen::Matrix<J, Eigen::Dynamic, 1> w(4);
  const std::vector<Path> paths = {Path{{1.0L, 0.5L, -0.25L}}, Path{{-2.0L, 1}}, Path{{0.5L, 0, 0.75L}},
                                   Path{{3.0L, -1, 0, 0.125L}}};
  for (int i = 0; i < 4; ++i) w(i) = make_jet<double, K>(paths[i]);
  const J wn = w.norm();
  J ss(0.0);
  for (int i = 0; i < 4; ++i) ss += w(i) * w(i);
  const J ref_jet = sqrt(ss);
  for (int k = 0; k <= K; ++k) CHECK(std::fabs(wn[k] - ref_jet[k]) <= 1e-14 * std::fabs(ref_jet[0]));
  // sum of squares is >= 9.5 - (deviations) far from 0 on |t| <= 0.75
  const auto ref = cauchy_checked(
      [&](cld t) {
        cld s = 0;
        for (const Path& p : paths) s += p(t) * p(t);
        return std::sqrt(s);
      },
      K, 0.5L);
  std::vector<ld> refv(ref.begin(), ref.end());
  refv.resize(max_order + 1, 0);
  check_coefficients(wn, refv, 1e-12L, "norm() vs Cauchy");
  // squaredNorm and dot
  const J sq = w.squaredNorm();
  for (int k = 0; k <= K; ++k) CHECK(std::fabs(sq[k] - ss[k]) <= 1e-14 * std::fabs(ss[0]));
}

TEST_CASE("Eigen: Dual matrices (products / mixed with double / norm)", "[dual][eigen]") {
  using D = Dual<double>;
  using MatDual = Eigen::Matrix<D, Eigen::Dynamic, Eigen::Dynamic>;
  const auto a = coefficient_matrices(3, 3, 7), b = coefficient_matrices(3, 2, 8);
  MatDual A(3, 3), B(3, 2);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) A(i, j) = D(a[0](i, j), a[1](i, j));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) B(i, j) = D(b[0](i, j), b[1](i, j));
  // (A + A' e)(B + B' e) = AB + (A'B + AB') e
  const MatDual C = A * B;
  const MatL primal = a[0].cast<long double>() * b[0].cast<long double>();
  const MatL tangent = a[1].cast<long double>() * b[0].cast<long double>() + a[0].cast<long double>() * b[1].cast<long double>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) {
      CHECK(std::fabs(C(i, j).primal - primal(i, j)) <= 1e-14L);
      CHECK(std::fabs(C(i, j).tangent - tangent(i, j)) <= 1e-14L);
    }
  // mixed with a double matrix (fixed sizes; dynamic sizes in test_eigen_mixed.cpp)
  const Eigen::Matrix3d Mf = coefficient_matrices(3, 3, 9)[0];
  const Eigen::Matrix<D, 3, 3> Af = A;
  const Eigen::Matrix<D, 3, 3> AMf = Af * Mf;
  const MatL pf = a[0].cast<long double>() * Mf.cast<long double>(), tf = a[1].cast<long double>() * Mf.cast<long double>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      CHECK(std::fabs(AMf(i, j).primal - pf(i, j)) <= 1e-14L);
      CHECK(std::fabs(AMf(i, j).tangent - tf(i, j)) <= 1e-14L);
    }
  // sum and .array().exp()
  const MatDual S = (A + A).array().exp().matrix();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const ld e = std::exp(2.0L * a[0](i, j));
      CHECK(std::fabs(S(i, j).primal - e) <= 1e-15L * e);
      CHECK(std::fabs(S(i, j).tangent - e * 2 * a[1](i, j)) <= 1e-15L * e * 4);
    }
  // norm of (x0 + t)(2, 3, 6): 7 (x0 + t)
  Eigen::Matrix<D, 3, 1> v(D(2.5, 2), D(3.75, 3), D(7.5, 6));
  const D n = v.norm();
  CHECK(std::fabs(n.primal - 8.75) <= 1e-14);
  CHECK(std::fabs(n.tangent - 7) <= 1e-14);
}

// Every adjoint step of ad/series_adjoint.hpp against central finite differences in double, for
// K = 1..4 and 1 or 3 rows: the objective L = Σ_outputs <w, output> over coefficients 0..K
// (random weights w, also on the auxiliary series), its gradient with respect to every input
// coefficient by the adjoint steps k = K..0, against FD of L (tests/ad/fd.hpp: h = 1e-5,
// normwise relative error ≤ 1e-6 per input tensor).

#include <functional>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "fd.hpp"
#include "taynode/ad.hpp"
#include "taynode/series.hpp"

using namespace taynode;
using taynode_test::fd_gradient;
using taynode_test::fd_tolerance;
using taynode_test::relative_error;
using S = Series<double>;
using Vec = Eigen::VectorXd;

namespace {

void fill(S& s, std::mt19937_64& rng, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> u(lo, hi);
  for (Index i = 0; i < (s.order() + 1) * s.size(); ++i) s.data()[i] = u(rng);
}
void zero(S& s) { std::fill(s.data(), s.data() + (s.order() + 1) * s.size(), 0.0); }
double dot(const S& a, const S& b) {
  double d = 0;
  for (Index i = 0; i < (a.order() + 1) * a.size(); ++i) d += a.data()[i] * b.data()[i];
  return d;
}
Eigen::Map<const Vec> all(const S& s) { return {s.data(), (s.order() + 1) * s.size()}; }

// A unary elementwise op with n_out output series (y and auxiliaries).
struct UnaryCase {
  const char* name;
  int n_out;
  bool positive;  // u_0 > 0 (log)
  std::function<void(const S&, std::vector<S>&)> forward;
  std::function<void(int, const S&, const std::vector<S>&, S&, std::vector<S>&)> adjoint;
};

void check_unary(const UnaryCase& c, int K, Index rows) {
  std::mt19937_64 rng(100 * K + rows);
  const Index cols = 2;
  S u(K, rows, cols);
  fill(u, rng);
  if (c.positive)
    for (Index i = 0; i < u.size(); ++i) u.data()[i] = 0.5 + std::abs(u.data()[i]);
  std::vector<S> out(c.n_out, S(K, rows, cols)), w(c.n_out, S(K, rows, cols)), outb(c.n_out, S(K, rows, cols));
  for (auto& s : w) fill(s, rng);
  auto L = [&] {
    c.forward(u, out);
    double l = 0;
    for (int o = 0; o < c.n_out; ++o) l += dot(w[o], out[o]);
    return l;
  };
  const Vec g_fd = fd_gradient(L, u.data(), (K + 1) * u.size());
  c.forward(u, out);
  S ub(K, rows, cols);
  zero(ub);
  for (int o = 0; o < c.n_out; ++o) outb[o].stacked() = w[o].stacked();
  for (int k = K; k >= 0; --k) c.adjoint(k, u, out, ub, outb);
  INFO(c.name << " K = " << K << " rows = " << rows);
  const double err = relative_error(all(ub), g_fd);
  CAPTURE(err);
  REQUIRE(err <= fd_tolerance);
}

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cases = {
      {"sigmoid", 2, false, [](const S& u, std::vector<S>& o) { series::sigmoid(u, o[0], o[1]); },
       [](int k, const S& u, const std::vector<S>& o, S& ub, std::vector<S>& ob) {
         ad::sigmoid_adjoint_step(k, u, o[0], o[1], ub, ob[0], ob[1]);
       }},
      {"tanh", 2, false, [](const S& u, std::vector<S>& o) { series::tanh(u, o[0], o[1]); },
       [](int k, const S& u, const std::vector<S>& o, S& ub, std::vector<S>& ob) {
         ad::tanh_adjoint_step(k, u, o[0], o[1], ub, ob[0], ob[1]);
       }},
      {"softplus", 3, false, [](const S& u, std::vector<S>& o) { series::softplus(u, o[0], o[1], o[2]); },
       [](int k, const S& u, const std::vector<S>& o, S& ub, std::vector<S>& ob) {
         ad::softplus_adjoint_step(k, u, o[0], o[1], o[2], ub, ob[0], ob[1], ob[2]);
       }},
      {"exp", 1, false, [](const S& u, std::vector<S>& o) { series::exp(u, o[0]); },
       [](int k, const S& u, const std::vector<S>& o, S& ub, std::vector<S>& ob) {
         ad::exp_adjoint_step(k, u, o[0], ub, ob[0]);
       }},
      {"log", 1, true, [](const S& u, std::vector<S>& o) { series::log(u, o[0]); },
       [](int k, const S& u, const std::vector<S>& o, S& ub, std::vector<S>& ob) {
         ad::log_adjoint_step(k, u, o[0], ub, ob[0]);
       }},
      {"square", 1, false, [](const S& u, std::vector<S>& o) { series::square(u, o[0]); },
       [](int k, const S& u, const std::vector<S>&, S& ub, std::vector<S>& ob) {
         ad::square_adjoint_step(k, u, ub, ob[0]);
       }},
  };
  return cases;
}

}  // namespace

TEST_CASE("adjoints of the elementwise Taylor rules against finite differences", "[ad]") {
  for (const auto& c : unary_cases())
    for (int K = 1; K <= 4; ++K)
      for (Index rows : {1, 3}) check_unary(c, K, rows);
}

TEST_CASE("adjoint of the Cauchy product and the broadcast-row product", "[ad]") {
  for (int K = 1; K <= 4; ++K)
    for (Index rows : {1, 3}) {
      std::mt19937_64 rng(7 * K + rows);
      const Index cols = 3;
      S u(K, rows, cols), v(K, rows, cols), g(K, 1, cols), y(K, rows, cols), w(K, rows, cols);
      fill(u, rng);
      fill(v, rng);
      fill(g, rng);
      fill(w, rng);
      INFO("K = " << K << " rows = " << rows);
      {
        auto L = [&] {
          series::product(u, v, y);
          return dot(w, y);
        };
        const Vec gu = fd_gradient(L, u.data(), (K + 1) * u.size());
        const Vec gv = fd_gradient(L, v.data(), (K + 1) * v.size());
        S ub(K, rows, cols), vb(K, rows, cols);
        zero(ub);
        zero(vb);
        for (int k = K; k >= 0; --k) ad::product_adjoint_step(k, u, v, ub, vb, w);
        REQUIRE(relative_error(all(ub), gu) <= fd_tolerance);
        REQUIRE(relative_error(all(vb), gv) <= fd_tolerance);
      }
      {
        auto L = [&] {
          for (int k = 0; k <= K; ++k) series::product_broadcast_row_step(k, u, g, y);
          return dot(w, y);
        };
        const Vec gu = fd_gradient(L, u.data(), (K + 1) * u.size());
        const Vec gg = fd_gradient(L, g.data(), (K + 1) * g.size());
        S ub(K, rows, cols), gb(K, 1, cols);
        zero(ub);
        zero(gb);
        for (int k = K; k >= 0; --k) ad::product_broadcast_row_adjoint_step(k, u, g, ub, gb, w);
        REQUIRE(relative_error(all(ub), gu) <= fd_tolerance);
        REQUIRE(relative_error(all(gb), gg) <= fd_tolerance);
      }
    }
}

TEST_CASE("adjoints of the reductions", "[ad]") {
  for (int K = 1; K <= 4; ++K)
    for (Index rows : {1, 3}) {
      std::mt19937_64 rng(11 * K + rows);
      const Index cols = 4;
      S x(K, rows, cols), yr(K, rows, 1), wr(K, rows, 1), yc(K, 1, cols), wc(K, 1, cols);
      fill(x, rng);
      fill(wr, rng);
      fill(wc, rng);
      INFO("K = " << K << " rows = " << rows);
      auto check = [&](auto forward, auto adjoint, const S& w, S& y) {
        auto L = [&] {
          forward(y);
          return dot(w, y);
        };
        const Vec gx = fd_gradient(L, x.data(), (K + 1) * x.size());
        S xb(K, rows, cols);
        zero(xb);
        for (int k = K; k >= 0; --k) adjoint(k, xb);
        REQUIRE(relative_error(all(xb), gx) <= fd_tolerance);
      };
      check([&](S& y) { series::squared_norm_rows(x, y); },
            [&](int k, S& xb) { ad::squared_norm_rows_adjoint_step(k, x, xb, wr); }, wr, yr);
      check([&](S& y) { series::mean_cols(x, y); }, [&](int k, S& xb) { ad::mean_cols_adjoint_step(k, xb, wr); }, wr,
            yr);
      check([&](S& y) { series::mean_rows(x, y); }, [&](int k, S& xb) { ad::mean_rows_adjoint_step(k, xb, wc); }, wc,
            yc);
    }
}

TEST_CASE("adjoints of the linear maps and the time column", "[ad]") {
  for (int K = 1; K <= 4; ++K)
    for (Index rows : {1, 3}) {
      std::mt19937_64 rng(13 * K + rows);
      const Index in = 3, out = 4;
      S x(K, rows, in), y(K, rows, out), w(K, rows, out);
      fill(x, rng);
      fill(w, rng);
      Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> W(out, in + 1);
      Vec b(out);
      std::uniform_real_distribution<double> ud(-1, 1);
      for (Index i = 0; i < W.size(); ++i) W.data()[i] = ud(rng);
      for (Index i = 0; i < b.size(); ++i) b[i] = ud(rng);
      TimeSeries<double> t{0.3, 1.0};
      INFO("K = " << K << " rows = " << rows);
      for (bool concat : {false, true}) {
        INFO("concat_time = " << concat);
        // the plain linear map uses W's last `in` columns with leading dimension in + 1
        auto L = [&] {
          for (int k = 0; k <= K; ++k) {
            if (concat) series::concat_time_linear_step(k, t, x, W.data(), in + 1, b.data(), y);
            else series::linear_step(k, x, W.data() + 1, in + 1, b.data(), y);
          }
          return dot(w, y);
        };
        const Vec gx = fd_gradient(L, x.data(), (K + 1) * x.size());
        const Vec gW = fd_gradient(L, W.data(), W.size());
        const Vec gb = fd_gradient(L, b.data(), b.size());
        const Vec gt = fd_gradient(L, &t.t0, 1);
        S xb(K, rows, in);
        zero(xb);
        decltype(W) Wb = decltype(W)::Zero(out, in + 1);
        Vec bb = Vec::Zero(out);
        double tb = 0;
        for (int k = K; k >= 0; --k) {
          if (concat) {
            const double tbk = ad::concat_time_linear_input_adjoint_step(k, w, W.data(), in + 1, xb);
            if (k == 0) tb += tbk;
          } else {
            ad::linear_input_adjoint_step(k, w, W.data() + 1, in + 1, xb);
          }
        }
        if (concat) ad::concat_time_linear_parameter_adjoint(K, t, x, w, Wb.data(), in + 1, bb.data());
        else ad::linear_parameter_adjoint(K, x, w, Wb.data() + 1, in + 1, bb.data());
        REQUIRE(relative_error(all(xb), gx) <= fd_tolerance);
        REQUIRE(relative_error(Eigen::Map<const Vec>(Wb.data(), Wb.size()), gW) <= fd_tolerance);
        REQUIRE(relative_error(bb, gb) <= fd_tolerance);
        if (concat) REQUIRE(std::abs(tb - gt[0]) <= fd_tolerance * std::abs(gt[0]));
        else REQUIRE(gt[0] == 0.0);
      }
    }
}

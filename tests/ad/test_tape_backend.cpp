// ad::Tape<T, Guarded> (tests/backend/guarded_backend.hpp) against ad::Tape<T> on backend::Cpu,
// BITWISE: one recorded expression using every op, K = 0..3, batch 1 and 3; values, every
// cotangent (inputs, intermediates), weight, bias and time gradients; the guarded memory intact.

#include <catch2/catch.hpp>

#include "../backend/compare.hpp"
#include "../series/generic_network.hpp"
#include "taynode/ad/tape.hpp"

using namespace taynode;
using taynode_test::Guarded;
using taynode_test::guarded_stats;
using taynode_test::same_bits_as_guarded;
using taynode_test::same_series;
using RowMatrix = nn::RowMatrix<double>;
using Vec = nn::Vector<double>;

namespace {

// The same expression on either backend; returns the handles of interest.
struct BackendHandles {
  ad::Var x, x0, h, out;
  ad::Param p1, p2;
  ad::Time t;
};
template <class TapeT, class SeriesT, class Mat, class V>
BackendHandles record(TapeT& tape, const SeriesT& xs, const Mat& x0, const Mat& W1, const V& b1, const Mat& W2) {
  BackendHandles hd;
  hd.x = tape.input(xs);
  hd.x0 = tape.input(x0);
  hd.p1 = tape.parameter(W1, b1);
  hd.p2 = tape.parameter(W2);
  hd.t = tape.time({0.3, 1.0});
  const ad::Var u = tape.concat_time_linear(hd.t, hd.x, hd.p1);  // batch × 4
  const ad::Var s = tape.sigmoid(u), th = tape.tanh(u), sp = tape.softplus(u);
  const ad::Var e = tape.exp(tape.scale(0.5, th));
  const ad::Var l = tape.log(e);
  const ad::Var m = tape.product(tape.add(s, sp, -0.7), tape.add(l, tape.square(th)));
  const ad::Var mm = tape.product(m, m);
  const ad::Var g = tape.mean_rows(s);  // 1 × 4
  hd.h = tape.product_broadcast_row(mm, g);
  const ad::Var y = tape.linear(hd.h, hd.p2);  // batch × 3
  const ad::Var z = tape.add(y, hd.x0);
  hd.out = tape.add(tape.squared_norm_rows(z), tape.mean_cols(z));  // batch × 1
  return hd;
}

}  // namespace

TEST_CASE("Tape on the guarded backend equals backend::Cpu bit for bit", "[ad][backend]") {
  guarded_stats().reset_counts();
  const long live = guarded_stats().live;
  {
    const RowMatrix W1 = taynode_test::random_state<double>(4, 4, 1, 0.6);  // out 4 × (1 + in 3)
    const Vec b1 = taynode_test::random_state<double>(4, 1, 2, 0.3).col(0);
    const RowMatrix W2 = taynode_test::random_state<double>(3, 4, 3, 0.6);
    const auto W1g = backend::to_backend<Guarded>(W1), W2g = backend::to_backend<Guarded>(W2);
    const auto b1g = backend::to_backend<Guarded>(b1);
    for (int K = 0; K <= 3; ++K)
      for (Index batch : {1, 3}) {
        INFO("K = " << K << " batch " << batch);
        Series<double> xs(K, batch, 3), seed(K, batch, 1);
        Series<double, Guarded> xsg(K, batch, 3), seedg(K, batch, 1);
        const RowMatrix xv = taynode_test::random_state<double>((K + 1) * batch, 3, 10 + unsigned(K));
        const RowMatrix sv = taynode_test::random_state<double>((K + 1) * batch, 1, 20 + unsigned(K));
        xs.stacked() = xv;
        seed.stacked() = sv;
        Guarded::upload(xv.size(), xv.data(), xsg.data());
        Guarded::upload(sv.size(), sv.data(), seedg.data());
        const RowMatrix x0 = taynode_test::random_state<double>(batch, 3, 30);
        const auto x0g = backend::to_backend<Guarded>(x0);
        ad::Tape<double> tape(K);
        ad::Tape<double, Guarded> tapeg(K);
        for (int round = 0; round < 2; ++round) {  // the second round reuses the buffers after clear()
          tape.clear();
          tapeg.clear();
          const BackendHandles a = record(tape, xs, x0, W1, b1, W2);
          const BackendHandles b = record(tapeg, xsg, x0g, W1g, b1g, W2g);
          CHECK(same_series(tape.value(a.out), tapeg.value(b.out), K));
          for (bool seeded : {true, false}) {
            if (seeded) {
              tape.backward(a.out, seed);
              tapeg.backward(b.out, seedg);
            } else {
              tape.backward(a.out);
              tapeg.backward(b.out);
            }
            CHECK(same_series(tape.grad(a.x), tapeg.grad(b.x), K));
            CHECK(same_series(tape.grad(a.x0), tapeg.grad(b.x0), K));
            CHECK(same_series(tape.grad(a.h), tapeg.grad(b.h), K));
            CHECK(same_bits_as_guarded(tape.grad_weight(a.p1), tapeg.grad_weight(b.p1)));
            CHECK(same_bits_as_guarded(tape.grad_bias(a.p1), tapeg.grad_bias(b.p1)));
            CHECK(same_bits_as_guarded(tape.grad_weight(a.p2), tapeg.grad_weight(b.p2)));
            CHECK(tape.grad_time(a.t).t0 == tapeg.grad_time(b.t).t0);
            CHECK(tape.grad_time(a.t).t1 == tapeg.grad_time(b.t).t1);
          }
        }
      }
  }
  CHECK(guarded_stats().count("gemm_tn") > 0);
  taynode_test::check_guards();
  taynode_test::check_no_leak(live);
}

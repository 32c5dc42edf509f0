// The latent ODE's recognition network (nn/dense.hpp, nn/tanh_mlp.hpp, nn/latent_gru.hpp,
// nn/recognition.hpp): forward against an independent scalar implementation of the reference's
// formulas, the skip rule and time order, every backward against central finite differences
// (double, normwise relative error ≤ 1e-6), float vs double, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "latent_ode_test_util.hpp"
#include "taynode/nn/dense.hpp"
#include "taynode/nn/latent_gru.hpp"
#include "taynode/nn/latent_ode.hpp"
#include "taynode/nn/recognition.hpp"
#include "taynode/nn/tanh_mlp.hpp"

using namespace taynode::nn;
using latent_test::fd;
using latent_test::fill;
using latent_test::random_matrix;
using taynode_test::relative_error;
using Mat = RowMatrix<double>;
using Vec = Vector<double>;

namespace {

// y = W2 tanh(W1 x + b1) + b2 for one example, in scalar loops.
std::vector<double> mlp_scalar(const TanhMlp<double>& m, const std::vector<double>& x) {
  std::vector<double> h(std::size_t(m.units())), y(std::size_t(m.out()));
  for (Eigen::Index j = 0; j < m.units(); ++j) {
    double a = m.hidden.bias[j];
    for (Eigen::Index i = 0; i < m.in(); ++i) a += m.hidden.weight(j, i) * x[std::size_t(i)];
    h[std::size_t(j)] = std::tanh(a);
  }
  for (Eigen::Index j = 0; j < m.out(); ++j) {
    double a = m.output.bias[j];
    for (Eigen::Index i = 0; i < m.units(); ++i) a += m.output.weight(j, i) * h[std::size_t(i)];
    y[std::size_t(j)] = a;
  }
  return y;
}

// One LatentGRU step of the reference for one example (latent_ode.py, LatentGRU.__call__), with the
// reference's own skip test on x[⌊len(x)/2⌋:].
void gru_scalar(const LatentGru<double>& g, std::vector<double>& mean, std::vector<double>& std_,
                const std::vector<double>& x) {
  const std::size_t H = mean.size();
  std::vector<double> c = mean;
  c.insert(c.end(), std_.begin(), std_.end());
  c.insert(c.end(), x.begin(), x.end());
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  std::vector<double> u = mlp_scalar(g.update, c), r = mlp_scalar(g.reset, c);
  for (auto& v : u) v = sig(v);
  for (auto& v : r) v = sig(v);
  std::vector<double> c2;
  for (std::size_t i = 0; i < H; ++i) c2.push_back(mean[i] * r[i]);
  for (std::size_t i = 0; i < H; ++i) c2.push_back(std_[i] * r[i]);
  c2.insert(c2.end(), x.begin(), x.end());
  const std::vector<double> n = mlp_scalar(g.candidate, c2);
  double mask_sum = 0;
  for (std::size_t i = x.size() / 2; i < x.size(); ++i) mask_sum += x[i];
  const bool update = mask_sum > 0;
  for (std::size_t i = 0; i < H; ++i) {
    const double nm = (1 - u[i]) * n[i] + u[i] * mean[i];
    const double ns = (1 - u[i]) * std::abs(n[H + i]) + u[i] * std_[i];
    if (update) {
      mean[i] = nm;
      std_[i] = ns;
    }
    std_[i] = std::abs(std_[i]);
  }
}

template <class Gru>
void randomize(Gru& g, std::mt19937_64& rng, double scale) {
  latent_test::for_each_gru_tensor(g, [&](const std::string&, auto& a) { fill(a, rng, scale); });
}

// A padded batch of B examples, F features, T times, with some unobserved entries, an example with
// nothing observed at the last time and one with nothing observed at an inner time.
struct Batch {
  std::vector<double> times;
  std::vector<Mat> values, mask;
};
Batch make_batch(Eigen::Index B, Eigen::Index F, std::size_t T, std::mt19937_64& rng) {
  Batch b;
  std::uniform_real_distribution<double> u01;
  double t = 0;
  for (std::size_t i = 0; i < T; ++i) {
    b.times.push_back(t);
    t += 0.1 + 0.3 * u01(rng);
    Mat m(B, F);
    for (Eigen::Index r = 0; r < B; ++r)
      for (Eigen::Index c = 0; c < F; ++c) m(r, c) = u01(rng) < 0.5 ? 1.0 : 0.0;
    b.mask.push_back(m);
    b.values.push_back(random_matrix<Mat>(B, F, rng).cwiseProduct(m));
  }
  for (Eigen::Index r = 1; r < B; ++r)  // everyone else observed at the last time
    if (b.mask[T - 1].row(r).sum() == 0) {
      b.mask[T - 1](r, 0) = 1.0;
      b.values[T - 1](r, 0) = 0.5;
    }
  b.mask[T - 1].row(0).setZero();  // skipped under both rules (Δt = 0 at the last time)
  b.values[T - 1].row(0).setZero();
  if (T > 2) {
    b.mask[1].row(B - 1).setZero();  // updated under the reference rule (Δt > 0), kept under `unobserved`
    b.values[1].row(B - 1).setZero();
  }
  b.mask[0].row(0).setConstant(1.0);  // so every example has something observed
  return b;
}

}  // namespace

TEST_CASE("dense and tanh_mlp: forward by hand, backward against finite differences", "[nn][latent_ode]") {
  std::mt19937_64 rng(1);
  TanhMlp<double> m(4, 3, 2);
  latent_test::for_each_mlp_tensor("m", m, [&](const std::string&, auto& a) { fill(a, rng, 0.7); });
  Mat x = random_matrix<Mat>(5, 4, rng);
  const auto f = tanh_mlp_forward(m, x);
  for (Eigen::Index b = 0; b < 5; ++b) {
    const std::vector<double> xb(x.row(b).data(), x.row(b).data() + 4);
    const auto y = mlp_scalar(m, xb);
    for (Eigen::Index j = 0; j < 2; ++j) CHECK(f.output(b, j) == Approx(y[std::size_t(j)]).epsilon(1e-14));
  }
  const Mat A = random_matrix<Mat>(5, 2, rng);
  auto L = [&] { return (tanh_mlp_forward(m, x).output.array() * A.array()).sum(); };
  TanhMlp<double> g(4, 3, 2);
  const Mat x_bar = tanh_mlp_backward(m, x, f, A, g);
  CHECK(relative_error(x_bar, fd(x, L)) <= 1e-6);
  CHECK(relative_error(g.hidden.weight, fd(m.hidden.weight, L)) <= 1e-6);
  CHECK(relative_error(g.hidden.bias, fd(m.hidden.bias, L)) <= 1e-6);
  CHECK(relative_error(g.output.weight, fd(m.output.weight, L)) <= 1e-6);
  CHECK(relative_error(g.output.bias, fd(m.output.bias, L)) <= 1e-6);
  // Backward accumulates: a second call doubles the gradient.
  const Mat w1 = g.hidden.weight;
  tanh_mlp_backward(m, x, f, A, g);
  CHECK(relative_error(g.hidden.weight, Mat(2 * w1)) <= 1e-15);

  CHECK_THROWS_WITH(linear_forward(m.hidden, Mat::Zero(2, 5)), Catch::Contains("expects 4"));
  CHECK_THROWS_WITH(tanh_mlp_backward(m, x, f, Mat::Zero(5, 3), g), Catch::Contains("cotangent is 5 x 3"));
  TanhMlp<double> wrong(4, 3, 3);
  CHECK_THROWS_WITH(tanh_mlp_backward(m, x, f, A, wrong), Catch::Contains("not shaped like the layer"));
  CHECK_THROWS_AS(TanhMlp<double>(0, 3, 2), std::invalid_argument);
}

TEST_CASE("latent_gru: one step matches the reference's formulas, scalar by scalar", "[nn][latent_ode]") {
  std::mt19937_64 rng(2);
  const Eigen::Index B = 4, H = 3, F = 2, X = 2 * F + 1;
  LatentGru<double> gru(H, X, 5);
  randomize(gru, rng, 0.5);
  Mat mean = random_matrix<Mat>(B, H, rng), std_ = random_matrix<Mat>(B, H, rng).cwiseAbs();
  Mat x = random_matrix<Mat>(B, X, rng);
  // Rows 0, 1: mask entries observed; row 2: nothing observed but Δt > 0; row 3: nothing, Δt = 0.
  x.middleCols(F, F) << 1, 0, 1, 1, 0, 0, 0, 0;
  x.col(X - 1) << 0.2, 0.0, 0.3, 0.0;
  std::vector<char> active(B);
  for (Eigen::Index b = 0; b < B; ++b) active[std::size_t(b)] = x.row(b).tail(F + 1).sum() > 0;
  REQUIRE(active == std::vector<char>{1, 1, 1, 0});
  const auto step = latent_gru_step(gru, mean, std_, x, active);
  for (Eigen::Index b = 0; b < B; ++b) {
    std::vector<double> m(mean.row(b).data(), mean.row(b).data() + H), s(std_.row(b).data(), std_.row(b).data() + H);
    gru_scalar(gru, m, s, std::vector<double>(x.row(b).data(), x.row(b).data() + X));
    for (Eigen::Index i = 0; i < H; ++i) {
      CHECK(step.mean_out(b, i) == Approx(m[std::size_t(i)]).epsilon(1e-13));
      CHECK(step.std_out(b, i) == Approx(s[std::size_t(i)]).epsilon(1e-13));
    }
  }
  CHECK(step.mean_out.row(3) == mean.row(3));  // kept exactly
  CHECK(step.std_out.row(3) == std_.row(3));
  CHECK((step.std_out.array() >= 0).all());
  // Empty `active` updates every row.
  const auto all = latent_gru_step(gru, mean, std_, x);
  CHECK(all.mean_out.row(3) != mean.row(3));
}

TEST_CASE("latent_gru: step backward agrees with central finite differences", "[nn][latent_ode]") {
  std::mt19937_64 rng(3);
  const Eigen::Index B = 4, H = 3, X = 5;
  LatentGru<double> gru(H, X, 4);
  randomize(gru, rng, 0.6);
  Mat mean = random_matrix<Mat>(B, H, rng), std_ = random_matrix<Mat>(B, H, rng, 0.3, 0.8);
  const Mat x = random_matrix<Mat>(B, X, rng);
  const std::vector<char> active{1, 0, 1, 1};
  const Mat A = random_matrix<Mat>(B, H, rng), C = random_matrix<Mat>(B, H, rng);
  auto L = [&] {
    const auto s = latent_gru_step(gru, mean, std_, x, active);
    return (s.mean_out.array() * A.array()).sum() + (s.std_out.array() * C.array()).sum();
  };
  const auto step = latent_gru_step(gru, mean, std_, x, active);
  LatentGru<double> grad(H, X, 4);
  Mat mb = A, sb = C;
  latent_gru_step_backward(gru, step, mb, sb, grad);
  CHECK(relative_error(mb, fd(mean, L)) <= 1e-6);
  CHECK(relative_error(sb, fd(std_, L)) <= 1e-6);
  CHECK(mb.row(1) == A.row(1));  // inactive row: identity
  auto params = latent_test::gru_tensors(gru);
  const auto grads = latent_test::gru_tensors(grad);
  REQUIRE(params.size() == 12);
  for (std::size_t i = 0; i < params.size(); ++i) {
    INFO(params[i].first);
    CHECK(relative_error(grads[i].second, latent_test::fd_view(params[i].second, L)) <= 1e-6);
  }
  Mat bad(B, H + 1);
  CHECK_THROWS_WITH(latent_gru_step_backward(gru, step, bad, sb, grad), Catch::Contains("cotangents must be 4 x 3"));
}

TEST_CASE("recognition: runs backwards in time over [values, mask, dt] with the reference's skip rule",
          "[nn][latent_ode]") {
  std::mt19937_64 rng(4);
  const Eigen::Index B = 3, F = 2;
  RecognitionNetwork<double> net(F, 3, 2, 4, 5);
  randomize(net.gru, rng, 0.5);
  latent_test::for_each_mlp_tensor("r", net.rec_to_gen, [&](const std::string&, auto& a) { fill(a, rng, 0.5); });
  const Batch batch = make_batch(B, F, 4, rng);
  const auto fwd = recognition_forward(net, batch.times, batch.values, batch.mask);
  REQUIRE(fwd.steps.size() == 4);
  for (std::size_t j = 0; j < 4; ++j) {
    const std::size_t i = 3 - j;
    const Mat& c = fwd.steps[j].gate_input;  // [μ, s, values, mask, Δt]
    CHECK(c.middleCols(6, F) == batch.values[i]);
    CHECK(c.middleCols(6 + F, F) == batch.mask[i]);
    const double dt = i == 3 ? 0.0 : batch.times[i + 1] - batch.times[i];
    CHECK((c.col(6 + 2 * F).array() == dt).all());
  }
  CHECK(fwd.steps[0].gate_input.leftCols(6).isZero(0));  // starts from (0, 0)
  // Example 0 has nothing at the last time and Δt = 0 there: skipped, state stays exactly 0.
  CHECK(fwd.steps[0].active == std::vector<char>{0, 1, 1});
  CHECK(fwd.steps[0].mean_out.row(0).isZero(0));
  // Example B−1 has nothing at time 1 (step j = 2) but Δt > 0: the reference updates it.
  CHECK(fwd.steps[2].active[B - 1] == 1);
  const auto unobserved = recognition_forward(net, batch.times, batch.values, batch.mask, SkipRule::unobserved);
  CHECK(unobserved.steps[2].active[B - 1] == 0);
  CHECK(unobserved.steps[2].mean_out.row(B - 1) == unobserved.steps[2].mean_in.row(B - 1));
  // An independent run of the scalar cell over the reversed sequence gives the same final state.
  for (Eigen::Index b = 0; b < B; ++b) {
    std::vector<double> m(3, 0.0), s(3, 0.0);
    for (std::size_t j = 0; j < 4; ++j) {
      const std::size_t i = 3 - j;
      std::vector<double> x(batch.values[i].row(b).data(), batch.values[i].row(b).data() + F);
      x.insert(x.end(), batch.mask[i].row(b).data(), batch.mask[i].row(b).data() + F);
      x.push_back(i == 3 ? 0.0 : batch.times[i + 1] - batch.times[i]);
      gru_scalar(net.gru, m, s, x);
    }
    std::vector<double> h = m;
    h.insert(h.end(), s.begin(), s.end());
    const auto z = mlp_scalar(net.rec_to_gen, h);
    for (Eigen::Index l = 0; l < 2; ++l) {
      CHECK(fwd.mean(b, l) == Approx(z[std::size_t(l)]).epsilon(1e-12));
      CHECK(fwd.std(b, l) == Approx(std::abs(z[std::size_t(2 + l)])).epsilon(1e-12));
    }
  }
}

TEST_CASE("recognition: backprop through time agrees with central finite differences", "[nn][latent_ode]") {
  for (const SkipRule rule : {SkipRule::reference, SkipRule::unobserved}) {
    std::mt19937_64 rng(5);
    const Eigen::Index B = 3, F = 2, L_ = 2;
    LatentOdeModel<double> model({F, 3, L_, 4, 5});
    latent_test::for_each_gru_tensor(model.recognition.gru, [&](const std::string&, auto& a) { fill(a, rng, 0.5); });
    latent_test::for_each_mlp_tensor("r", model.recognition.rec_to_gen,
                                     [&](const std::string&, auto& a) { fill(a, rng, 0.5); });
    const Batch batch = make_batch(B, F, 5, rng);
    const Mat A = random_matrix<Mat>(B, L_, rng), C = random_matrix<Mat>(B, L_, rng);
    auto L = [&] {
      const auto f = recognition_forward(model.recognition, batch.times, batch.values, batch.mask, rule);
      return (f.mean.array() * A.array()).sum() + (f.std.array() * C.array()).sum();
    };
    const auto fwd = recognition_forward(model.recognition, batch.times, batch.values, batch.mask, rule);
    LatentOdeModel<double> grad({F, 3, L_, 4, 5});
    recognition_backward(model.recognition, fwd, A, C, grad.recognition);
    auto refs = parameter_refs(model);
    auto grefs = parameter_refs(grad);
    for (std::size_t i = 0; i < refs.size(); ++i) {
      if (refs.name(i).starts_with("decoder")) continue;
      INFO((rule == SkipRule::reference ? "reference " : "unobserved ") << refs.name(i));
      CHECK(relative_error(grefs.value(i), latent_test::fd_view(refs.value(i), L)) <= 1e-6);
    }
  }
}

TEST_CASE("recognition: float agrees with double", "[nn][latent_ode]") {
  std::mt19937_64 rng(6);
  const Eigen::Index B = 3, F = 3;
  LatentOdeModel<double> md({F, 4, 2, 5, 5});
  init_latent_ode_model(md, rng, 0.3);
  LatentOdeModel<float> mf({F, 4, 2, 5, 5});
  auto rd = parameter_refs(md);
  auto rf = parameter_refs(mf);
  for (std::size_t i = 0; i < rd.size(); ++i) rf.value(i) = rd.value(i).cast<float>();
  const Batch batch = make_batch(B, F, 6, rng);
  std::vector<float> tf(batch.times.begin(), batch.times.end());
  std::vector<RowMatrix<float>> vf, mf_;
  for (std::size_t i = 0; i < batch.times.size(); ++i) {
    vf.push_back(batch.values[i].cast<float>());
    mf_.push_back(batch.mask[i].cast<float>());
  }
  const auto fd_ = recognition_forward(md.recognition, batch.times, batch.values, batch.mask);
  const auto ff = recognition_forward(mf.recognition, tf, vf, mf_);
  CHECK(relative_error(ff.mean, fd_.mean) <= 1e-5);
  CHECK(relative_error(ff.std, fd_.std) <= 1e-5);
  LatentOdeModel<double> gd({F, 4, 2, 5, 5});
  LatentOdeModel<float> gf({F, 4, 2, 5, 5});
  const Mat A = Mat::Ones(B, 2);
  recognition_backward(md.recognition, fd_, A, A, gd.recognition);
  recognition_backward(mf.recognition, ff, RowMatrix<float>(A.cast<float>()), RowMatrix<float>(A.cast<float>()),
                       gf.recognition);
  auto gdr = parameter_refs(gd);
  auto gfr = parameter_refs(gf);
  for (std::size_t i = 0; i + 2 < gdr.size(); ++i) {
    INFO(gdr.name(i));
    CHECK(relative_error(gfr.value(i), gdr.value(i)) <= 1e-4);
  }
}

TEST_CASE("recognition: bad input is rejected with a message", "[nn][latent_ode]") {
  std::mt19937_64 rng(7);
  RecognitionNetwork<double> net(2, 3, 2, 4, 4);
  Batch b = make_batch(2, 2, 3, rng);
  CHECK_NOTHROW(recognition_forward(net, b.times, b.values, b.mask));
  {
    Batch c = b;
    c.times[2] = c.times[1];
    CHECK_THROWS_WITH(recognition_forward(net, c.times, c.values, c.mask), Catch::Contains("strictly increasing"));
    c.times[2] = std::nan("");
    CHECK_THROWS_WITH(recognition_forward(net, c.times, c.values, c.mask), Catch::Contains("time 2 is not finite"));
  }
  {
    Batch c = b;
    c.values[1](1, 0) = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(recognition_forward(net, c.times, c.values, c.mask),
                      Catch::Contains("value at time index 1 (row 1, column 0) is not finite"));
  }
  {
    Batch c = b;
    c.mask[0](0, 1) = 0.5;
    CHECK_THROWS_WITH(recognition_forward(net, c.times, c.values, c.mask), Catch::Contains("is not 0 or 1"));
  }
  {
    Batch c = b;
    c.values[2] = Mat::Zero(2, 3);
    CHECK_THROWS_WITH(recognition_forward(net, c.times, c.values, c.mask),
                      Catch::Contains("at time index 2 must be 2 x 2"));
    c = b;
    c.mask.pop_back();
    CHECK_THROWS_WITH(recognition_forward(net, c.times, c.values, c.mask),
                      Catch::Contains("3 times but 3 value and 2 mask matrices"));
    c.times.clear();
    c.values.clear();
    c.mask.clear();
    CHECK_THROWS_WITH(recognition_forward(net, c.times, c.values, c.mask), Catch::Contains("no time points"));
  }
  const auto fwd = recognition_forward(net, b.times, b.values, b.mask);
  RecognitionNetwork<double> g(2, 3, 2, 4, 4);
  CHECK_THROWS_WITH(recognition_backward(net, fwd, Mat::Zero(2, 2), Mat::Zero(3, 2), g),
                    Catch::Contains("cotangents must be 2 x 2"));
}

// The latent ODE's objective and its pieces (nn/gaussian.hpp, nn/reparameterize.hpp,
// nn/latent_ode_objective.hpp, nn/latent_ode.hpp): closed forms against formulas and a numeric
// integral, every backward against central finite differences (double, normwise relative error
// ≤ 1e-6) including the whole chain encoder → samples → states at many times → loss, the reference
// sizes (48 147 parameters with the dynamics), float vs double, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "latent_ode_test_util.hpp"
#include "taynode/nn/checkpoint.hpp"
#include "taynode/nn/gaussian.hpp"
#include "taynode/nn/latent_ode.hpp"
#include "taynode/nn/latent_ode_objective.hpp"
#include "taynode/nn/reparameterize.hpp"

using namespace taynode::nn;
using latent_test::fd;
using latent_test::fill;
using latent_test::random_matrix;
using taynode_test::relative_error;
using Mat = RowMatrix<double>;
using Vec = Vector<double>;

namespace {

const double log_2pi = std::log(2 * std::numbers::pi);

Mat random_mask(Eigen::Index r, Eigen::Index c, std::mt19937_64& rng, double p = 0.6) {
  std::uniform_real_distribution<double> u01;
  Mat m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = u01(rng) < p ? 1.0 : 0.0;
  return m;
}

// The reference's loss written out entry by entry (latent_ode.py: _likelihood, _kl_div, loss_fn).
double reference_loss(const Linear<double>& dec, const std::vector<Mat>& z, const std::vector<Mat>& d,
                      const std::vector<Mat>& m, const Mat& mean, const Mat& std_, double sigma, double beta,
                      std::vector<double>* lls = nullptr) {
  const Eigen::Index B = mean.rows(), S = z[0].rows() / B;
  double N = 0;
  for (const auto& mi : m) N += mi.sum();
  double kl = 0;
  for (Eigen::Index i = 0; i < mean.size(); ++i) {
    const double v = std_.data()[i] * std_.data()[i];
    kl += 0.5 * (v + mean.data()[i] * mean.data()[i] - 1 - std::log(v));
  }
  kl /= double(mean.size());
  std::vector<double> a;
  for (Eigen::Index k = 0; k < S; ++k) {
    double ll = 0;
    for (std::size_t i = 0; i < z.size(); ++i)
      for (Eigen::Index b = 0; b < B; ++b)
        for (Eigen::Index f = 0; f < dec.out(); ++f) {
          double p = dec.bias[f];
          for (Eigen::Index l = 0; l < dec.in(); ++l) p += dec.weight(f, l) * z[i](k * B + b, l);
          const double mk = m[i](b, f), r = mk * d[i](b, f) - mk * p;
          ll += -r * r / (2 * sigma * sigma) - std::log(sigma) - 0.5 * log_2pi;
        }
    if (lls) lls->push_back(ll / N);
    a.push_back(ll / N - beta * kl);
  }
  double s = 0;
  for (double x : a) s += std::exp(x - a[0]);
  return -(a[0] + std::log(s));
}

struct Problem {
  Linear<double> decoder{2, 3};
  std::vector<Mat> states, values, mask;
  Mat mean, std_;
};
// B examples, S samples, T times, latent 2, features 3. `spread` separates the samples' states.
Problem make_problem(Eigen::Index B, Eigen::Index S, std::size_t T, double spread, std::mt19937_64& rng) {
  Problem p;
  fill(p.decoder.weight, rng, 0.4);
  fill(p.decoder.bias, rng, 0.2);
  for (std::size_t i = 0; i < T; ++i) {
    const Mat base = random_matrix<Mat>(B, 2, rng);
    Mat z(S * B, 2);
    for (Eigen::Index k = 0; k < S; ++k) z.middleRows(k * B, B) = base + random_matrix<Mat>(B, 2, rng, spread);
    p.states.push_back(z);
    p.mask.push_back(random_mask(B, 3, rng));
    // Data near the decoded base state, so the likelihoods are moderate even for σ = 0.01.
    Mat pred = base * p.decoder.weight.transpose();
    pred.rowwise() += p.decoder.bias.transpose();
    p.values.push_back((pred + random_matrix<Mat>(B, 3, rng, 0.02)).cwiseProduct(p.mask.back()));
  }
  p.mean = random_matrix<Mat>(B, 2, rng);
  p.std_ = random_matrix<Mat>(B, 2, rng, 0.2, 0.9).cwiseAbs();
  return p;
}

}  // namespace

TEST_CASE("gaussian: masked log-likelihood against the formula, backward against FD", "[nn][latent_ode]") {
  Mat p(2, 2), d(2, 2), m(2, 2);
  p << 0.5, 1.0, -2.0, 3.0;
  d << 0.7, 9.0, -1.0, 3.5;
  m << 1, 0, 1, 1;
  const double sigma = 0.1, c = -std::log(sigma) - 0.5 * log_2pi;
  CHECK(gaussian_log_normalizer(sigma) == Approx(c).epsilon(1e-15));
  // Unobserved (0, 1): only the constant, whatever the prediction.
  const double want = -(0.04 + 1.0 + 0.25) / (2 * sigma * sigma) + 4 * c;
  CHECK(masked_gaussian_log_likelihood(p, d, m, sigma) == Approx(want).epsilon(1e-14));
  CHECK(masked_squared_error(p, d, m) == Approx(1.29).epsilon(1e-14));
  std::mt19937_64 rng(11);
  Mat P = random_matrix<Mat>(4, 5, rng), D = random_matrix<Mat>(4, 5, rng), M = random_mask(4, 5, rng);
  for (const double s : {0.01, 0.7}) {
    auto L = [&] { return 0.3 * masked_gaussian_log_likelihood(P, D, M, s); };
    const Mat g = masked_gaussian_log_likelihood_backward(P, D, M, s, 0.3);
    CHECK(relative_error(g, fd(P, L)) <= 1e-6);
    CHECK((g.array() * (1 - M.array())).isZero(0));
  }
  CHECK_THROWS_WITH(masked_gaussian_log_likelihood(P, D, M, 0.0), Catch::Contains("sigma must be positive"));
  CHECK_THROWS_WITH(masked_gaussian_log_likelihood(P, Mat::Zero(4, 4), M, 0.1),
                    Catch::Contains("the prediction is 4 x 5 but the data is 4 x 4"));
}

TEST_CASE("gaussian: KL to N(0, 1) against known values, a numeric integral and FD", "[nn][latent_ode]") {
  Mat mu(1, 1), sd(1, 1);
  mu << 0.0;
  sd << 1.0;
  CHECK(kl_to_standard_normal(mu, sd) == Approx(0.0).margin(1e-16));
  mu << 1.0;
  CHECK(kl_to_standard_normal(mu, sd) == Approx(0.5).epsilon(1e-15));
  mu << 0.0;
  sd << std::exp(1.0);  // ½(e² − 1 − 2)
  CHECK(kl_to_standard_normal(mu, sd) == Approx(0.5 * (std::exp(2.0) - 3)).epsilon(1e-14));
  // ∫ q log(q/p) by composite Simpson over μ ± 12σ.
  for (const auto& [m, s] : std::vector<std::pair<double, double>>{{0.3, 0.2}, {-1.5, 2.5}, {2.0, 0.05}}) {
    const int n = 20000;
    const double a = m - 12 * s, b = m + 12 * s, h = (b - a) / n;
    double integral = 0;
    for (int i = 0; i <= n; ++i) {
      const double z = a + i * h;
      const double logq = -0.5 * ((z - m) / s) * ((z - m) / s) - std::log(s) - 0.5 * log_2pi;
      const double logp = -0.5 * z * z - 0.5 * log_2pi;
      const double w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
      integral += w * std::exp(logq) * (logq - logp);
    }
    integral *= h / 3;
    mu << m;
    sd << s;
    INFO("mu " << m << " sigma " << s);
    CHECK(kl_to_standard_normal(mu, sd) == Approx(integral).epsilon(1e-9));
  }
  // Mean over entries; gradient against FD.
  std::mt19937_64 rng(12);
  Mat M = random_matrix<Mat>(3, 4, rng), S = random_matrix<Mat>(3, 4, rng, 0.3, 1.0).cwiseAbs();
  double sum = 0;
  for (Eigen::Index i = 0; i < 12; ++i) {
    Mat a(1, 1), b(1, 1);
    a << M.data()[i];
    b << S.data()[i];
    sum += kl_to_standard_normal(a, b);
  }
  CHECK(kl_to_standard_normal(M, S) == Approx(sum / 12).epsilon(1e-14));
  auto L = [&] { return 1.7 * kl_to_standard_normal(M, S); };
  const auto g = kl_to_standard_normal_backward(M, S, 1.7);
  CHECK(relative_error(g.mean_bar, fd(M, L)) <= 1e-6);
  CHECK(relative_error(g.std_bar, fd(S, L)) <= 1e-6);
  S(1, 2) = 0.0;
  CHECK_THROWS_WITH(kl_to_standard_normal(M, S), Catch::Contains("entry (1, 2) needs a finite mean and a positive"));
  M(0, 0) = std::nan("");
  S(1, 2) = 1.0;
  CHECK_THROWS_AS(kl_to_standard_normal(M, S), std::invalid_argument);
  CHECK_THROWS_WITH(kl_to_standard_normal(M, Mat::Ones(3, 3)), Catch::Contains("the mean is 3 x 4 but the std is 3 x 3"));
}

TEST_CASE("logsumexp and the KL annealing schedule", "[nn][latent_ode]") {
  const std::vector<double> x{0.0, std::log(2.0), std::log(3.0)};
  const auto r = logsumexp(x);
  CHECK(r.value == Approx(std::log(6.0)).epsilon(1e-15));
  CHECK(r.softmax[0] == Approx(1.0 / 6));
  CHECK(r.softmax[2] == Approx(0.5));
  const std::vector<double> big{1000.0, 1000.0}, far{-1e4, 0.0};
  CHECK(logsumexp(big).value == Approx(1000 + std::log(2.0)).epsilon(1e-15));
  CHECK(logsumexp(far).value == Approx(0.0).margin(1e-300));
  CHECK(logsumexp(far).softmax[1] == 1.0);
  std::vector<double> y{0.3, -1.2, 2.0, 0.9};
  const auto ry = logsumexp(y);
  for (std::size_t k = 0; k < y.size(); ++k) {
    const double y0 = y[k];
    y[k] = y0 + 1e-5;
    const double up = logsumexp(y).value;
    y[k] = y0 - 1e-5;
    const double down = logsumexp(y).value;
    y[k] = y0;
    CHECK(ry.softmax[k] == Approx((up - down) / 2e-5).epsilon(1e-8));
  }
  CHECK_THROWS_WITH(logsumexp(std::vector<double>{}), Catch::Contains("no inputs"));
  CHECK_THROWS_WITH(logsumexp(std::vector<double>{0.0, std::nan("")}), Catch::Contains("input 1 is not finite"));

  for (int e = 0; e <= 10; ++e) CHECK(kl_annealing_weight(e) == 0.0);
  CHECK(kl_annealing_weight(11) == Approx(0.01).epsilon(1e-12));
  CHECK(kl_annealing_weight(99) == Approx(1 - std::pow(0.99, 89)).epsilon(1e-14));
  CHECK(kl_annealing_weight(99) == Approx(0.5912).epsilon(1e-3));
}

TEST_CASE("sample_z0: reparameterized samples with fresh noise per call", "[nn][latent_ode]") {
  std::mt19937_64 rng(13);
  const Mat mean = random_matrix<Mat>(4, 3, rng), std_ = random_matrix<Mat>(4, 3, rng).cwiseAbs();
  std::mt19937_64 gen(99), gen2(99);
  const auto a = sample_z0<double>(mean, std_, 3, gen);
  const auto b = sample_z0<double>(mean, std_, 3, gen);
  const auto a2 = sample_z0<double>(mean, std_, 3, gen2);
  REQUIRE(a.z0.rows() == 12);
  CHECK(a.samples == 3);
  CHECK(a.noise != b.noise);   // fresh ε on every call
  CHECK(a.noise == a2.noise);  // reproducible from the seed
  for (Eigen::Index k = 0; k < 3; ++k)
    for (Eigen::Index i = 0; i < 4; ++i)
      for (Eigen::Index j = 0; j < 3; ++j)
        CHECK(a.z0(k * 4 + i, j) == mean(i, j) + std_(i, j) * a.noise(k * 4 + i, j));
  // Given noise reproduces the reference's fixed ε.
  CHECK(sample_z0<double>(mean, std_, a.noise).z0 == a.z0);
  // ε ~ N(0, 1): moments of many draws.
  const auto many = sample_z0<double>(Mat::Zero(1000, 20), Mat::Ones(1000, 20), 3, gen);
  const double n = double(many.noise.size()), m1 = many.noise.sum() / n;
  const double var = (many.noise.array() - m1).square().sum() / n;
  CHECK(std::abs(m1) < 5 / std::sqrt(n));
  CHECK(std::abs(var - 1) < 5 * std::sqrt(2 / n));
  // Backward against FD, noise fixed.
  const Mat A = random_matrix<Mat>(12, 3, rng);
  Mat mu = mean, sd = std_;
  auto L = [&] { return (sample_z0<double>(mu, sd, a.noise).z0.array() * A.array()).sum(); };
  Mat mb = Mat::Zero(4, 3), sb = Mat::Zero(4, 3);
  sample_z0_backward(a, A, mb, sb);
  CHECK(relative_error(mb, fd(mu, L)) <= 1e-6);
  CHECK(relative_error(sb, fd(sd, L)) <= 1e-6);
  CHECK_THROWS_WITH(sample_z0<double>(mean, std_, Mat::Zero(10, 3)), Catch::Contains("expected (samples * 4) x 3"));
  CHECK_THROWS_WITH(sample_z0<double>(mean, Mat::Ones(4, 2), a.noise), Catch::Contains("the std is 4 x 2"));
  CHECK_THROWS_AS(sample_z0<double>(mean, std_, 0, gen), std::invalid_argument);
  CHECK_THROWS_WITH(sample_z0_backward(a, Mat::Zero(12, 2), mb, sb), Catch::Contains("the cotangent is 12 x 2"));
}

TEST_CASE("latent_ode_objective: loss against the reference's formula written out", "[nn][latent_ode]") {
  std::mt19937_64 rng(14);
  for (const double sigma : {0.01, 0.5}) {
    Problem p = make_problem(3, 3, 4, 0.01, rng);
    const LatentOdeObjectiveOptions opt{sigma, 0.4, 0.0};
    const auto o = latent_ode_objective(p.decoder, p.states, p.values, p.mask, p.mean, p.std_, opt);
    std::vector<double> lls;
    const double want = reference_loss(p.decoder, p.states, p.values, p.mask, p.mean, p.std_, sigma, 0.4, &lls);
    INFO("sigma " << sigma);
    CHECK(o.loss == Approx(want).epsilon(1e-12));
    REQUIRE(o.log_likelihood.size() == 3);
    for (std::size_t k = 0; k < 3; ++k) CHECK(o.log_likelihood[k] == Approx(lls[k]).epsilon(1e-12));
    double N = 0;
    for (const auto& m : p.mask) N += m.sum();
    CHECK(o.observed == std::size_t(N));
    CHECK(o.log_likelihood_offset == Approx(3 * 4 * 3 * gaussian_log_normalizer(sigma) / N).epsilon(1e-14));
    // MSE = the likelihood's data term over −1/(2σ²), averaged over samples.
    double mse = 0;
    for (double ll : o.log_likelihood) mse += (ll - o.log_likelihood_offset) * -2 * sigma * sigma / 3;
    CHECK(o.mse == Approx(mse).epsilon(1e-10));
    CHECK(o.kl == Approx(kl_to_standard_normal(p.mean, p.std_)).epsilon(1e-15));
    double wsum = 0;
    for (double w : o.sample_weights) wsum += w;
    CHECK(wsum == Approx(1.0).epsilon(1e-15));
  }
  // λ·mean R_K is added; β = 0 drops the KL.
  Problem p = make_problem(2, 3, 3, 0.1, rng);
  const std::vector<double> rk{1, 2, 3, 4, 5, 6};
  const auto o0 = latent_ode_objective(p.decoder, p.states, p.values, p.mask, p.mean, p.std_, {0.3, 0.0, 0.0});
  const auto o1 = latent_ode_objective(p.decoder, p.states, p.values, p.mask, p.mean, p.std_, {0.3, 0.0, 0.5},
                                       std::span<const double>(rk));
  CHECK(o1.loss == Approx(o0.loss + 0.5 * 3.5).epsilon(1e-14));
  CHECK(o1.rk_mean == Approx(3.5));
  CHECK(o0.mean_bar.isZero(0));
  CHECK((o1.rk_bar.array() == 0.5 / 6).all());
}

TEST_CASE("latent_ode_objective: cotangents of every input agree with central finite differences",
          "[nn][latent_ode]") {
  std::mt19937_64 rng(15);
  // σ = 0.01 with samples close enough that all three carry weight; σ = 0.5 far apart.
  for (const auto& [sigma, spread] : std::vector<std::pair<double, double>>{{0.01, 0.002}, {0.5, 0.5}}) {
    Problem p = make_problem(3, 3, 4, spread, rng);
    std::vector<double> rk{0.5, 1.0, 0.2, 0.1, 0.4, 0.8, 0.3, 0.6, 0.9};
    const LatentOdeObjectiveOptions opt{sigma, 0.7, 0.3};
    auto run = [&] {
      return latent_ode_objective(p.decoder, p.states, p.values, p.mask, p.mean, p.std_, opt, std::span<const double>(rk));
    };
    auto L = [&] { return run().loss; };
    const auto o = run();
    INFO("sigma " << sigma << ", weights " << o.sample_weights[0] << " " << o.sample_weights[1] << " "
                  << o.sample_weights[2]);
    for (double w : o.sample_weights) CHECK(w > 1e-3);  // the logsumexp is really exercised
    REQUIRE(o.z_bar.size() == 4);
    for (std::size_t i = 0; i < 4; ++i) {
      INFO("time " << i);
      CHECK(relative_error(o.z_bar[i], fd(p.states[i], L)) <= 1e-6);
    }
    CHECK(relative_error(o.mean_bar, fd(p.mean, L)) <= 1e-6);
    CHECK(relative_error(o.std_bar, fd(p.std_, L)) <= 1e-6);
    CHECK(relative_error(o.decoder_bar.weight, fd(p.decoder.weight, L)) <= 1e-6);
    CHECK(relative_error(o.decoder_bar.bias, fd(p.decoder.bias, L)) <= 1e-6);
    const Vec rk_fd = taynode_test::fd_gradient(L, rk.data(), Eigen::Index(rk.size()));
    CHECK(relative_error(o.rk_bar, rk_fd) <= 1e-6);
  }
}

TEST_CASE("latent ODE: the whole chain encoder -> samples -> states at many times -> loss agrees with FD",
          "[nn][latent_ode]") {
  // The ODE is replaced by an explicit map z(t_i) = z0 + t_i·tanh(z0) (its cotangent rule in closed
  // form), so the test checks every piece the training loop composes around ad::solve_gradient.
  std::mt19937_64 rng(16);
  const Eigen::Index B = 3, F = 3, L_ = 2, S = 3;
  LatentOdeModel<double> model({F, 3, L_, 4, 4});
  init_latent_ode_model(model, rng, 0.5);
  for_each_latent_ode_parameter(model, [&](const std::string& n, auto& a) {
    if (n.ends_with("bias")) fill(a, rng, 0.3);
  });
  const std::vector<double> times{0.0, 0.25, 0.5, 1.0};
  std::vector<Mat> values, mask;
  for (std::size_t i = 0; i < times.size(); ++i) {
    mask.push_back(random_mask(B, F, rng));
    values.push_back(random_matrix<Mat>(B, F, rng, 0.5).cwiseProduct(mask.back()));
  }
  mask[3].row(1).setZero();  // a skipped step
  values[3].row(1).setZero();
  const Mat noise = random_matrix<Mat>(S * B, L_, rng);
  const LatentOdeObjectiveOptions opt{0.3, 0.6, 0.2};
  struct Run {
    RecognitionForward<double> enc;
    Z0Samples<double> zs;
    std::vector<Mat> states;
    std::vector<double> rk;
    LatentOdeObjective<double> obj;
  };
  auto forward = [&] {
    Run r;
    r.enc = recognition_forward(model.recognition, times, values, mask);
    r.zs = sample_z0<double>(r.enc.mean, r.enc.std, noise);
    for (const double t : times) r.states.push_back(r.zs.z0 + t * Mat(r.zs.z0.array().tanh().matrix()));
    for (Eigen::Index i = 0; i < S * B; ++i) r.rk.push_back(r.zs.z0.row(i).squaredNorm());
    r.obj = latent_ode_objective(model.decoder, r.states, values, mask, r.enc.mean, r.enc.std, opt,
                                 std::span<const double>(r.rk));
    return r;
  };
  const Run r = forward();
  // The "solve's" backward: z̄0 = Σ_i z̄_i ⊙ (1 + t_i (1 − tanh² z0)) + R̄ · 2 z0.
  Mat z0_bar = Mat::Zero(S * B, L_);
  const Mat sech2 = (1 - r.zs.z0.array().tanh().square()).matrix();
  for (std::size_t i = 0; i < times.size(); ++i)
    z0_bar += r.obj.z_bar[i].cwiseProduct(Mat((1 + times[i] * sech2.array()).matrix()));
  for (Eigen::Index i = 0; i < S * B; ++i) z0_bar.row(i) += 2 * r.obj.rk_bar[i] * r.zs.z0.row(i);
  LatentOdeModel<double> grad({F, 3, L_, 4, 4});
  latent_ode_backward(model, r.enc, r.zs, z0_bar, r.obj, grad);
  auto L = [&] { return forward().obj.loss; };
  auto refs = parameter_refs(model);
  auto grefs = parameter_refs(grad);
  REQUIRE(refs.size() == 18);
  for (std::size_t i = 0; i < refs.size(); ++i) {
    INFO(refs.name(i));
    CHECK(relative_error(grefs.value(i), latent_test::fd_view(refs.value(i), L)) <= 1e-6);
  }
  LatentOdeModel<double> other({F, 4, L_, 4, 4});
  CHECK_THROWS_WITH(latent_ode_backward(model, r.enc, r.zs, z0_bar, r.obj, other),
                    Catch::Contains("not shaped like the model"));
}

TEST_CASE("latent ODE model: the reference's sizes, names, init and checkpoint", "[nn][latent_ode]") {
  LatentOdeModel<double> model;
  CHECK(model.recognition.gru.parameter_count() == 31560);
  CHECK(model.recognition.rec_to_gen.parameter_count() == 6090);
  CHECK(model.parameter_count() == 38427);
  const auto dynamics = latent_ode_dynamics<double>();
  CHECK(model.parameter_count() + dynamics.parameter_count() == 48147);  // REFERENCE.md §2
  CHECK(model.recognition.gru.input() == 75);
  CHECK(model.recognition.features() == 37);
  std::mt19937_64 rng(17);
  init_latent_ode_model(model, rng);
  auto refs = parameter_refs(model);
  CHECK(refs.name(0) == "gru.update.0.weight");
  CHECK(refs.value(0).rows() == 50);
  CHECK(refs.value(0).cols() == 155);
  CHECK(refs.name(11) == "gru.candidate.1.bias");
  CHECK(refs.value(10).rows() == 80);
  CHECK(refs.name(17) == "decoder.bias");
  double s2 = 0, n = 0;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (refs.name(i).ends_with("bias")) {
      CHECK(refs.value(i).isZero(0));
    } else {
      s2 += refs.value(i).squaredNorm();
      n += double(refs.value(i).size());
    }
  }
  CHECK(std::sqrt(s2 / n) == Approx(0.1).epsilon(0.02));
  // One checkpoint with the dynamics.
  auto net = latent_ode_dynamics<double>();
  init_haiku(net, rng);
  auto all = parameter_refs(net);
  for_each_latent_ode_parameter(model, [&](std::string nm, auto& a) { all.add(std::move(nm), a); });
  const auto path = std::filesystem::temp_directory_path() / "taynode_latent_ode_ckpt.bin";
  save_checkpoint(path, all);
  auto net2 = latent_ode_dynamics<double>();
  LatentOdeModel<double> model2;
  auto all2 = parameter_refs(net2);
  for_each_latent_ode_parameter(model2, [&](std::string nm, auto& a) { all2.add(std::move(nm), a); });
  load_checkpoint(path, all2);
  std::filesystem::remove(path);
  CHECK(parameter_set(model2) == parameter_set(model));
}

TEST_CASE("latent_ode_objective: float agrees with double", "[nn][latent_ode]") {
  std::mt19937_64 rng(18);
  Problem p = make_problem(3, 3, 4, 0.3, rng);
  const LatentOdeObjectiveOptions opt{0.1, 0.5, 0.0};
  const auto od = latent_ode_objective(p.decoder, p.states, p.values, p.mask, p.mean, p.std_, opt);
  Linear<float> dec(2, 3);
  dec.weight = p.decoder.weight.cast<float>();
  dec.bias = p.decoder.bias.cast<float>();
  std::vector<RowMatrix<float>> zs, vs, ms;
  for (std::size_t i = 0; i < p.states.size(); ++i) {
    zs.push_back(p.states[i].cast<float>());
    vs.push_back(p.values[i].cast<float>());
    ms.push_back(p.mask[i].cast<float>());
  }
  const auto of = latent_ode_objective(dec, zs, vs, ms, RowMatrix<float>(p.mean.cast<float>()),
                                       RowMatrix<float>(p.std_.cast<float>()), opt);
  CHECK(of.loss == Approx(od.loss).epsilon(1e-5));
  for (std::size_t i = 0; i < 4; ++i) CHECK(relative_error(of.z_bar[i], od.z_bar[i]) <= 1e-4);
  CHECK(relative_error(of.std_bar, od.std_bar) <= 1e-5);
}

TEST_CASE("latent_ode_objective: bad input is rejected with a message", "[nn][latent_ode]") {
  std::mt19937_64 rng(19);
  Problem p = make_problem(2, 3, 3, 0.1, rng);
  auto call = [&](const Problem& q, const LatentOdeObjectiveOptions& o = {}, std::span<const double> rk = {}) {
    return latent_ode_objective(q.decoder, q.states, q.values, q.mask, q.mean, q.std_, o, rk);
  };
  CHECK_NOTHROW(call(p));
  {
    Problem q = p;
    q.states[1] = Mat::Zero(5, 2);
    CHECK_THROWS_WITH(call(q), Catch::Contains("the state at time index 1 is 5 x 2, expected 6 x 2"));
    q.states[0] = Mat::Zero(5, 2);
    CHECK_THROWS_WITH(call(q), Catch::Contains("5 rows, not a multiple of the batch 2"));
  }
  {
    Problem q = p;
    q.states[2](3, 1) = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(call(q), Catch::Contains("state at time index 2 is not finite"));
  }
  {
    Problem q = p;
    q.states.pop_back();
    CHECK_THROWS_WITH(call(q), Catch::Contains("2 state matrices but 3 value and 3 mask"));
  }
  {
    Problem q = p;
    for (auto& m : q.mask) m.setZero();
    for (auto& v : q.values) v.setZero();
    CHECK_THROWS_WITH(call(q), Catch::Contains("no observed entries"));
  }
  {
    Problem q = p;
    q.mean = Mat::Zero(2, 3);
    CHECK_THROWS_WITH(call(q), Catch::Contains("mean and std must be 2 x 2"));
    q = p;
    q.std_(0, 0) = 0.0;
    CHECK_THROWS_WITH(call(q), Catch::Contains("positive finite std"));
    q = p;
    q.values[0](1, 1) = std::nan("");
    CHECK_THROWS_WITH(call(q), Catch::Contains("value at time index 0 (row 1, column 1) is not finite"));
  }
  const std::vector<double> rk{1.0, 2.0};
  CHECK_THROWS_WITH(call(p, {}, rk), Catch::Contains("2 R_K values for 6 trajectories"));
  CHECK_THROWS_WITH(call(p, {0.01, -1.0, 0.0}), Catch::Contains("kl_weight must be finite and >= 0"));
  CHECK_THROWS_WITH(call(p, {0.0, 1.0, 0.0}), Catch::Contains("sigma must be positive"));
}

TEST_CASE("latent_ode_objective over the row shards of a global batch: the whole batch's values, its cotangents' rows",
          "[nn][latent_ode]") {
  // Data-parallel training splits the B patients over ranks; each rank passes its rows (sample-
  // major: row k·B_r + b) with a LatentOdeShard whose sum adds the partial sums over the ranks.
  // Emulated here in two passes: the first records each shard's partial sums, the second hands
  // every shard their totals.
  std::mt19937_64 rng(16);
  const Eigen::Index B = 5, S = 3;
  const std::size_t T = 4;
  Problem p = make_problem(B, S, T, 0.002, rng);
  std::vector<double> rk(std::size_t(S * B));
  for (std::size_t i = 0; i < rk.size(); ++i) rk[i] = 0.1 * double(i + 1);
  const LatentOdeObjectiveOptions whole_opt{0.01, 0.7, 0.3};
  const auto whole = latent_ode_objective(p.decoder, p.states, p.values, p.mask, p.mean, p.std_, whole_opt,
                                          std::span<const double>(rk));
  // Rows of the sample-major layout: row k·B + b of the whole batch for b in [first, first + n).
  auto sample_rows = [&](const Mat& m, Eigen::Index first, Eigen::Index n) {
    Mat out(S * n, m.cols());
    for (Eigen::Index k = 0; k < S; ++k) out.middleRows(k * n, n) = m.middleRows(k * B + first, n);
    return out;
  };
  const std::vector<std::pair<Eigen::Index, Eigen::Index>> shards{{0, 3}, {3, 2}};
  std::vector<std::vector<double>> partial(shards.size());
  std::vector<double> totals;
  int pass = 0;
  std::size_t current = 0;
  LatentOdeShard shard;
  shard.batch = B;
  for (const auto& m : p.mask) shard.observed += std::size_t((m.array() != 0).count());
  shard.sum = [&](double* x, std::size_t n) {
    if (pass == 0) partial[current].assign(x, x + n);
    else std::copy(totals.begin(), totals.end(), x);
  };
  LatentOdeObjectiveOptions opt = whole_opt;
  opt.shard = &shard;
  auto run = [&](std::size_t i) {
    const auto [first, n] = shards[i];
    std::vector<Mat> states, values, mask;
    for (std::size_t t = 0; t < T; ++t) {
      states.push_back(sample_rows(p.states[t], first, n));
      values.push_back(p.values[t].middleRows(first, n));
      mask.push_back(p.mask[t].middleRows(first, n));
    }
    std::vector<double> r;
    for (Eigen::Index k = 0; k < S; ++k)
      for (Eigen::Index b = 0; b < n; ++b) r.push_back(rk[std::size_t(k * B + first + b)]);
    current = i;
    return latent_ode_objective(p.decoder, states, values, mask, Mat(p.mean.middleRows(first, n)),
                                Mat(p.std_.middleRows(first, n)), opt, std::span<const double>(r));
  };
  for (std::size_t i = 0; i < shards.size(); ++i) (void)run(i);
  totals.assign(partial[0].size(), 0.0);
  for (const auto& q : partial)
    for (std::size_t j = 0; j < q.size(); ++j) totals[j] += q[j];
  pass = 1;
  Linear<double> decoder_sum(2, 3);
  decoder_sum.weight.setZero();
  decoder_sum.bias.setZero();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const auto o = run(i);
    const auto [first, n] = shards[i];
    INFO("shard " << i);
    CHECK(o.loss == Approx(whole.loss).epsilon(1e-13));
    CHECK(o.kl == Approx(whole.kl).epsilon(1e-13));
    CHECK(o.mse == Approx(whole.mse).epsilon(1e-13));
    CHECK(o.rk_mean == Approx(whole.rk_mean).epsilon(1e-13));
    CHECK(o.observed == whole.observed);
    CHECK(o.log_likelihood_offset == Approx(whole.log_likelihood_offset).epsilon(1e-15));
    for (std::size_t k = 0; k < std::size_t(S); ++k) {
      CHECK(o.log_likelihood[k] == Approx(whole.log_likelihood[k]).epsilon(1e-13));
      CHECK(o.sample_weights[k] == Approx(whole.sample_weights[k]).epsilon(1e-12));
    }
    for (std::size_t t = 0; t < T; ++t) CHECK(relative_error(o.z_bar[t], sample_rows(whole.z_bar[t], first, n)) <= 1e-12);
    CHECK(relative_error(o.mean_bar, Mat(whole.mean_bar.middleRows(first, n))) <= 1e-13);
    CHECK(relative_error(o.std_bar, Mat(whole.std_bar.middleRows(first, n))) <= 1e-13);
    CHECK(relative_error(o.rk_bar, Vec(whole.rk_bar.head(S * n))) <= 1e-15);
    decoder_sum.weight += o.decoder_bar.weight;
    decoder_sum.bias += o.decoder_bar.bias;
  }
  CHECK(relative_error(decoder_sum.weight, whole.decoder_bar.weight) <= 1e-12);
  CHECK(relative_error(decoder_sum.bias, whole.decoder_bar.bias) <= 1e-12);
  // The weights are not trivial (all samples matter), so the shared logsumexp is exercised.
  for (double w : whole.sample_weights) CHECK(w > 1e-3);
  // A shard claiming a smaller global batch than its own rows is an error naming the counts.
  LatentOdeShard small = shard;
  small.batch = 1;
  opt.shard = &small;
  CHECK_THROWS_WITH(run(0), Catch::Contains("smaller than its rows (3,"));
}

// The classification head σ(z) → Linear → mean softmax cross-entropy (nn/classifier.hpp): loss
// against a hand computation, every gradient against central finite differences (double,
// normwise relative error ≤ 1e-6), stability for huge logits, float, checkpoint names, bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "../ad/fd.hpp"
#include "taynode/nn/checkpoint.hpp"
#include "taynode/nn/classifier.hpp"

using namespace taynode::nn;

namespace {

using taynode_test::relative_error;

// Central differences of f() w.r.t. every entry of a, shaped like a (tests/ad/fd.hpp's h = 1e-5).
template <class M, class F>
M fd(M& a, F&& f) {
  M g(a.rows(), a.cols());
  Eigen::Map<Eigen::VectorXd>(g.data(), g.size()) = taynode_test::fd_gradient(f, a.data(), a.size());
  return g;
}

}  // namespace

TEST_CASE("classifier: loss, logits and accuracy match a hand computation", "[nn][classifier]") {
  Linear<double> head(2, 3);
  head.weight << 1, 0,  //
      0, 1,             //
      -1, 2;
  head.bias << 0.5, -0.5, 0;
  RowMatrix<double> z(2, 2);
  z << 0, 0,  //
      std::log(3.0), -std::log(3.0);  // σ: (0.5, 0.5) and (0.75, 0.25)
  const std::vector<int> labels{2, 0};
  const auto fwd = classifier_forward(head, z, labels);
  // Example 0: h = (0.5, 0.5), logits (1, 0, 0.5); label 2.
  // Example 1: h = (0.75, 0.25), logits (1.25, -0.25, -0.25); label 0.
  CHECK(fwd.logits(0, 0) == Approx(1.0));
  CHECK(fwd.logits(0, 1) == Approx(0.0).margin(1e-15));
  CHECK(fwd.logits(0, 2) == Approx(0.5));
  CHECK(fwd.logits(1, 0) == Approx(1.25));
  CHECK(fwd.logits(1, 1) == Approx(-0.25));
  const double l0 = std::log(std::exp(1.0) + 1.0 + std::exp(0.5)) - 0.5;
  const double l1 = std::log(std::exp(1.25) + 2 * std::exp(-0.25)) - 1.25;
  CHECK(fwd.loss == Approx((l0 + l1) / 2).epsilon(1e-14));
  CHECK(fwd.correct == 1);  // example 0 predicts class 0 (wrong), example 1 class 0 (right)
  CHECK(fwd.probabilities.row(1).sum() == Approx(1.0));
  CHECK(fwd.probabilities(1, 0) == Approx(std::exp(1.25) / (std::exp(1.25) + 2 * std::exp(-0.25))));
}

TEST_CASE("classifier: every gradient agrees with central finite differences", "[nn][classifier]") {
  std::mt19937_64 rng(7);
  const Eigen::Index B = 5, D = 6, C = 4;
  Linear<double> head = make_classifier_head<double>(D, C, rng);
  std::normal_distribution<double> n01;
  for (Eigen::Index i = 0; i < head.bias.size(); ++i) head.bias[i] = 0.3 * n01(rng);
  RowMatrix<double> z(B, D);
  for (Eigen::Index i = 0; i < z.size(); ++i) z.data()[i] = 1.5 * n01(rng);
  const std::vector<int> labels{0, 3, 1, 1, 2};
  for (const double scale : {1.0, 0.37}) {
    const auto fwd = classifier_forward(head, z, labels);
    const auto g = classifier_backward(head, fwd, labels, scale);
    auto L = [&] { return scale * classifier_forward(head, z, labels).loss; };
    const RowMatrix<double> fz = fd(z, L);
    const RowMatrix<double> fw = fd(head.weight, L);
    const Vector<double> fb = fd(head.bias, L);
    INFO("scale " << scale);
    CHECK(relative_error(g.z_bar, fz) <= 1e-6);
    CHECK(relative_error(g.weight, fw) <= 1e-6);
    CHECK(relative_error(g.bias, fb) <= 1e-6);
    CHECK(g.bias.sum() == Approx(0.0).margin(1e-14));  // Σ_c (p − onehot) = 0 per example
  }
}

TEST_CASE("ClassifierLoss: the loss head of solve_gradient, whole and as row shards of a global batch",
          "[nn][classifier]") {
  std::mt19937_64 rng(8);
  const Eigen::Index B = 5, D = 6, C = 4;
  const Linear<double> head = make_classifier_head<double>(D, C, rng);
  std::normal_distribution<double> n01;
  RowMatrix<double> z(B, D);
  for (Eigen::Index i = 0; i < z.size(); ++i) z.data()[i] = 1.5 * n01(rng);
  const std::vector<int> labels{0, 3, 1, 1, 2};
  const Vector<double> r = Vector<double>::LinSpaced(B, 0.5, 2.5);
  // Whole batch: the classifier's forward and backward, r̄ = reg_weight / B, reg = mean r.
  ClassifierLoss<double> whole(head, labels, 0, 0.3);
  RowMatrix<double> z_bar;
  Vector<double> r_bar(B);
  whole(z, r, z_bar, r_bar);
  const auto fwd = classifier_forward(head, z, labels);
  const auto g = classifier_backward(head, fwd, labels);
  CHECK(whole.loss == fwd.loss);
  CHECK(whole.correct == fwd.correct);
  CHECK(whole.reg == Approx(1.5).epsilon(1e-15));
  CHECK(z_bar == g.z_bar);
  CHECK(whole.grad.weight == g.weight);
  CHECK((r_bar.array() == 0.3 / 5).all());
  // Rows 0–1 and 2–4 as shards of the batch of 5: their parts sum to the whole.
  RowMatrix<double> za, zb;
  Vector<double> ra(2), rb(3);
  ClassifierLoss<double> a(head, std::span<const int>(labels).first(2), B, 0.3);
  ClassifierLoss<double> b(head, std::span<const int>(labels).subspan(2), B, 0.3);
  a(RowMatrix<double>(z.topRows(2)), Vector<double>(r.head(2)), za, ra);
  b(RowMatrix<double>(z.bottomRows(3)), Vector<double>(r.tail(3)), zb, rb);
  CHECK(a.loss + b.loss == Approx(whole.loss).epsilon(1e-14));
  CHECK(a.reg + b.reg == Approx(whole.reg).epsilon(1e-14));
  CHECK(a.correct + b.correct == whole.correct);
  CHECK(relative_error(RowMatrix<double>(a.grad.weight + b.grad.weight), g.weight) <= 1e-14);
  CHECK(relative_error(Vector<double>(a.grad.bias + b.grad.bias), g.bias) <= 1e-14);
  CHECK(relative_error(za, RowMatrix<double>(g.z_bar.topRows(2))) <= 1e-14);
  CHECK(relative_error(zb, RowMatrix<double>(g.z_bar.bottomRows(3))) <= 1e-14);
  CHECK((rb.array() == 0.3 / 5).all());
  // A shard larger than its global batch is the caller's error.
  ClassifierLoss<double> bad(head, labels, 4);
  CHECK_THROWS_WITH(bad(z, r, z_bar, r_bar), Catch::Contains("batch 4 is less than the 5 rows"));
}

TEST_CASE("classifier: stable for huge logits, float agrees with double", "[nn][classifier]") {
  Linear<double> head(1, 3);
  head.weight << 1e4, -1e4, 0;
  head.bias << 1000, 0, -1000;
  RowMatrix<double> z(1, 1);
  z << 30.0;  // σ ≈ 1: logits ≈ (11000, −10000, −1000)
  const std::vector<int> wrong{1}, right{0};
  const auto f1 = classifier_forward(head, z, wrong);
  CHECK(std::isfinite(f1.loss));
  CHECK(f1.loss == Approx(21000.0).epsilon(1e-9));
  const auto f0 = classifier_forward(head, z, right);
  CHECK(f0.loss == Approx(0.0).margin(1e-12));
  const auto g = classifier_backward(head, f1, wrong);
  CHECK(g.z_bar.allFinite());
  CHECK(g.weight.allFinite());

  std::mt19937_64 rng(3);
  auto hd = make_classifier_head<double>(8, 10, rng);
  Linear<float> hf(8, 10);
  hf.weight = hd.weight.cast<float>();
  hf.bias = hd.bias.cast<float>();
  RowMatrix<double> zd = RowMatrix<double>::Random(4, 8);
  const std::vector<int> labels{9, 0, 4, 4};
  const auto fd_ = classifier_forward(hd, zd, labels);
  const auto ff = classifier_forward(hf, RowMatrix<float>(zd.cast<float>()), labels);
  CHECK(ff.loss == Approx(fd_.loss).epsilon(1e-5));
  const auto gd = classifier_backward(hd, fd_, labels);
  const auto gf = classifier_backward(hf, ff, labels);
  CHECK(relative_error(gf.z_bar, gd.z_bar) <= 1e-5);
  CHECK(relative_error(gf.weight, gd.weight) <= 1e-5);
}

TEST_CASE("classifier: head tensors checkpoint together with the dynamics", "[nn][classifier]") {
  std::mt19937_64 rng(11);
  auto net = mnist_dynamics<double>(6, 3);
  init_haiku(net, rng);
  auto head = make_classifier_head<double>(6, 10, rng);
  auto refs = parameter_refs(net);
  add_head_parameters(refs, head);
  REQUIRE(refs.size() == 6);
  CHECK(refs.name(4) == "head.weight");
  CHECK(refs.name(5) == "head.bias");
  const auto path = std::filesystem::temp_directory_path() / "taynode_classifier_ckpt.bin";
  save_checkpoint(path, refs);
  auto net2 = mnist_dynamics<double>(6, 3);
  Linear<double> head2(6, 10);
  auto refs2 = parameter_refs(net2);
  add_head_parameters(refs2, head2);
  load_checkpoint(path, refs2);
  CHECK(head2.weight == head.weight);
  CHECK(head2.bias == head.bias);
  std::filesystem::remove(path);

  ParameterSet<double> grads;
  const std::vector<int> labels{1};
  RowMatrix<double> z = RowMatrix<double>::Ones(1, 6);
  add_head_gradient(grads, classifier_backward(head, classifier_forward(head, z, labels), labels));
  CHECK(grads.name(1) == "head.bias");
  CHECK(grads.value(1).rows() == 10);
  CHECK(grads.value(1).cols() == 1);
}

TEST_CASE("classifier: bad input is rejected with a message", "[nn][classifier]") {
  Linear<double> head(3, 10);
  RowMatrix<double> z = RowMatrix<double>::Zero(2, 3);
  const std::vector<int> ok{1, 2}, short_{1}, bad{1, 10}, negative{-1, 0};
  CHECK_NOTHROW(classifier_forward(head, z, ok));
  CHECK_THROWS_WITH(classifier_forward(head, z, short_), Catch::Contains("1 labels for a batch of 2"));
  CHECK_THROWS_WITH(classifier_forward(head, z, bad), Catch::Contains("label 10 at index 1"));
  CHECK_THROWS_AS(classifier_forward(head, z, negative), std::invalid_argument);
  CHECK_THROWS_WITH(classifier_forward(head, RowMatrix<double>::Zero(2, 4), ok), Catch::Contains("expects 3"));
  std::mt19937_64 rng(1);
  CHECK_THROWS_AS(make_classifier_head<double>(3, 1, rng), std::invalid_argument);
}

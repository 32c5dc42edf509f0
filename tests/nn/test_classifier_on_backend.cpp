// nn::ClassifierLossOnBackend (nn/classifier_on_backend.hpp), the classifier head in a backend's
// memory, against nn::ClassifierLoss (classifier.hpp, whose gradients test_classifier.cpp checks
// against finite differences) on backend::Cpu and on the host emulation of backend::Cuda: loss,
// R's mean, correct count, z̄1, r̄1, W̄, b̄ for a whole batch and for a row shard of a larger
// one; W̄ also against central differences of the backend's own loss; a graph of the head replayed
// on new labels; bad input.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "../ad/fd.hpp"
#include "taynode/cuda.hpp"
#include "taynode/nn/classifier.hpp"
#include "taynode/nn/classifier_on_backend.hpp"

using namespace taynode::nn;
using taynode::backend::to_backend;
using taynode::backend::to_host;
using taynode_test::relative_error;

namespace {

struct Problem {
  Linear<double> head{6, 4};
  RowMatrix<double> z{5, 6};
  Vector<double> r{5};
  std::vector<int> labels{0, 3, 1, 1, 2};
  Problem() {
    std::mt19937_64 rng(11);
    head = make_classifier_head<double>(6, 4, rng);
    std::normal_distribution<double> n01;
    for (Eigen::Index i = 0; i < head.bias.size(); ++i) head.bias[i] = 0.3 * n01(rng);
    for (Eigen::Index i = 0; i < z.size(); ++i) z.data()[i] = 1.5 * n01(rng);
    r = Vector<double>::LinSpaced(5, 0.5, 2.5);
  }
};

template <class B>
void compare_with_host(Eigen::Index batch) {
  Problem p;
  const Eigen::Index rows = p.z.rows();
  ClassifierLoss<double> host(p.head, p.labels, batch, 0.3);
  RowMatrix<double> zb_host;
  Vector<double> rb_host(rows);
  host(p.z, p.r, zb_host, rb_host);

  ClassifierLossOnBackend<double, B> dev(p.head, rows, batch, 0.3);
  dev.set_labels(p.labels);
  const auto z = to_backend<B>(p.z);
  const auto r = to_backend<B>(Vector<double>(p.r));
  typename B::template Matrix<double> zb(rows, p.z.cols());
  typename B::template Vector<double> rb(rows);
  dev(z, r, zb, rb);
  const auto t = dev.totals();
  CHECK(t.loss == Approx(host.loss).epsilon(1e-14));
  CHECK(t.reg == Approx(host.reg).epsilon(1e-14));
  CHECK(t.correct == host.correct);
  CHECK(relative_error(RowMatrix<double>(to_host<B>(zb)), zb_host) <= 1e-14);
  CHECK(relative_error(Vector<double>(to_host<B>(rb)), rb_host) <= 1e-15);
  const ParameterSet<double> g = dev.gradient().download();
  CHECK(g.name(0) == "head.weight");
  CHECK(g.name(1) == "head.bias");
  CHECK(relative_error(RowMatrix<double>(g.value(0)), host.grad.weight) <= 1e-14);
  CHECK(relative_error(Vector<double>(g.value(1)), host.grad.bias) <= 1e-14);
  // The head's values round-trip.
  Linear<double> back(6, 4);
  dev.store(back);
  CHECK(back.weight == p.head.weight);
  CHECK(back.bias == p.head.bias);
}

}  // namespace

TEST_CASE("ClassifierLossOnBackend equals ClassifierLoss on backend::Cpu and CudaEmulated", "[nn][classifier]") {
  SECTION("whole batch, Cpu") { compare_with_host<taynode::backend::Cpu>(0); }
  SECTION("a shard of 5 rows of a batch of 8, Cpu") { compare_with_host<taynode::backend::Cpu>(8); }
  SECTION("whole batch, CudaEmulated") { compare_with_host<taynode::backend::CudaEmulated>(0); }
  SECTION("a shard of 5 rows of a batch of 8, CudaEmulated") { compare_with_host<taynode::backend::CudaEmulated>(8); }
}

TEST_CASE("ClassifierLossOnBackend: W̄ and b̄ agree with central differences of its own loss", "[nn][classifier]") {
  using B = taynode::backend::CudaEmulated;
  Problem p;
  const Eigen::Index rows = p.z.rows();
  const auto z = to_backend<B>(p.z);
  const auto r = to_backend<B>(Vector<double>(p.r));
  typename B::template Matrix<double> zb(rows, p.z.cols());
  typename B::template Vector<double> rb(rows);
  auto loss = [&] {
    ClassifierLossOnBackend<double, B> h(p.head, rows, 0, 0.0);
    h.set_labels(p.labels);
    h(z, r, zb, rb);
    return h.totals().loss;
  };
  ClassifierLossOnBackend<double, B> dev(p.head, rows, 0, 0.0);
  dev.set_labels(p.labels);
  dev(z, r, zb, rb);
  const ParameterSet<double> g = dev.gradient().download();
  const Eigen::VectorXd fw = taynode_test::fd_gradient(loss, p.head.weight.data(), p.head.weight.size());
  const Eigen::VectorXd fb = taynode_test::fd_gradient(loss, p.head.bias.data(), p.head.bias.size());
  CHECK(relative_error(Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(g.value(0).data(), g.value(0).size())), fw) <=
        taynode_test::fd_tolerance);
  CHECK(relative_error(Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(g.value(1).data(), g.value(1).size())), fb) <=
        taynode_test::fd_tolerance);
}

TEST_CASE("ClassifierLossOnBackend: a captured head replays on the labels and states of the replay",
          "[nn][classifier]") {
  using B = taynode::backend::CudaEmulated;
  Problem p;
  const Eigen::Index rows = p.z.rows();
  ClassifierLossOnBackend<double, B> dev(p.head, rows, 0, 1.0);
  auto z = to_backend<B>(p.z);
  const auto r = to_backend<B>(Vector<double>(p.r));
  typename B::template Matrix<double> zb(rows, p.z.cols());
  typename B::template Vector<double> rb(rows);
  dev.set_labels(p.labels);
  B::Graph graph([&] { dev(z, r, zb, rb); });
  CHECK(graph.operations() == 11);
  // New labels and a new state, uploaded outside the graph; the replay sees them.
  const std::vector<int> other{3, 3, 0, 2, 1};
  const RowMatrix<double> z2 = -0.5 * p.z;
  B::upload(z2.size(), z2.data(), z.data());
  dev.set_labels(other);
  graph.replay();
  ClassifierLoss<double> host(p.head, other, 0, 1.0);
  RowMatrix<double> zb_host;
  Vector<double> rb_host(rows);
  host(z2, p.r, zb_host, rb_host);
  CHECK(dev.totals().loss == Approx(host.loss).epsilon(1e-14));
  CHECK(dev.totals().correct == host.correct);
  CHECK(relative_error(RowMatrix<double>(to_host<B>(zb)), zb_host) <= 1e-14);
}

TEST_CASE("ClassifierLossOnBackend: bad input names the problem", "[nn][classifier]") {
  using B = taynode::backend::CudaEmulated;
  Problem p;
  CHECK_THROWS_WITH((ClassifierLossOnBackend<double, B>(p.head, 5, 4)), Catch::Contains("batch >= rows"));
  ClassifierLossOnBackend<double, B> dev(p.head, 5);
  CHECK_THROWS_WITH(dev.set_labels(std::vector<int>{0, 1}), Catch::Contains("2 labels for 5 rows"));
  CHECK_THROWS_WITH(dev.set_labels(std::vector<int>{0, 1, 4, 0, 0}), Catch::Contains("label 4 at index 2"));
  Linear<double> wrong(7, 4);
  CHECK_THROWS_WITH(dev.load(wrong), Catch::Contains("a head of 7"));
  const auto z = to_backend<B>(RowMatrix<double>(RowMatrix<double>::Zero(4, 6)));
  const auto r = to_backend<B>(Vector<double>(Vector<double>::Zero(4)));
  typename B::template Matrix<double> zb(4, 6);
  typename B::template Vector<double> rb(4);
  CHECK_THROWS_WITH(dev(z, r, zb, rb), Catch::Contains("a state of 4 × 6 for a head of 5 × 6"));
}

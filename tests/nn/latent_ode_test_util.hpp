#pragma once
// Shared helpers of the latent-ODE tests: central differences per tensor, random fills, the tensors
// of a TanhMlp / LatentGru by name.
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "../ad/fd.hpp"
#include "taynode/nn/latent_gru.hpp"
#include "taynode/nn/tanh_mlp.hpp"

namespace latent_test {

using taynode::nn::RowMatrix;

// Central differences of L() w.r.t. every entry of `a`, shaped like a (h = 1e-5, tests/ad/fd.hpp).
template <class M>
M fd(M& a, const std::function<double()>& L) {
  M g(a.rows(), a.cols());
  Eigen::Map<Eigen::VectorXd>(g.data(), g.size()) = taynode_test::fd_gradient(L, a.data(), a.size());
  return g;
}

template <class M>
void fill(M& a, std::mt19937_64& rng, double scale, double shift = 0.0) {
  std::normal_distribution<double> n01;
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < a.cols(); ++j) a(i, j) = shift + scale * n01(rng);
}

template <class M>
M random_matrix(Eigen::Index r, Eigen::Index c, std::mt19937_64& rng, double scale = 1.0, double shift = 0.0) {
  M a(r, c);
  fill(a, rng, scale, shift);
  return a;
}

// f(name, tensor) for the four tensors of a TanhMlp.
template <class Mlp, class F>
void for_each_mlp_tensor(const std::string& prefix, Mlp& m, F&& f) {
  f(prefix + ".0.weight", m.hidden.weight);
  f(prefix + ".0.bias", m.hidden.bias);
  f(prefix + ".1.weight", m.output.weight);
  f(prefix + ".1.bias", m.output.bias);
}
template <class Gru, class F>
void for_each_gru_tensor(Gru& g, F&& f) {
  for_each_mlp_tensor("update", g.update, f);
  for_each_mlp_tensor("reset", g.reset, f);
  for_each_mlp_tensor("candidate", g.candidate, f);
}

// (name, view) of every tensor of a LatentGru, vectors as n × 1.
template <class Gru>
std::vector<std::pair<std::string, Eigen::Map<RowMatrix<double>>>> gru_tensors(Gru& g) {
  std::vector<std::pair<std::string, Eigen::Map<RowMatrix<double>>>> out;
  for_each_gru_tensor(g, [&](const std::string& n, auto& a) { out.emplace_back(n, Eigen::Map<RowMatrix<double>>(a.data(), a.rows(), a.cols())); });
  return out;
}

// FD of L() w.r.t. a view's entries, as a matrix.
inline RowMatrix<double> fd_view(Eigen::Map<RowMatrix<double>>& a, const std::function<double()>& L) {
  RowMatrix<double> g(a.rows(), a.cols());
  Eigen::Map<Eigen::VectorXd>(g.data(), g.size()) = taynode_test::fd_gradient(L, a.data(), a.size());
  return g;
}

}  // namespace latent_test

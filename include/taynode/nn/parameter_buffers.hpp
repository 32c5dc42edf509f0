#pragma once
// ParameterBuffers<T, Backend>: named parameter tensors in a backend's memory, with the interface
// of ParameterSet (size(), name(i), value(i), find(name)) — what an optimizer on that backend
// takes as parameters, gradients and slots. value(i) is a Backend::Matrix (data(), rows(), cols()).
// Transfers are explicit: upload(set) from a host collection, download() to a ParameterSet.
// ParameterViews<T, Backend>: the same interface over tensors in a backend's memory that something
// else owns (a NetworkTaylor's device copies of its network's parameters, a NetworkAdjoint's
// θ̄), so that an optimizer on that backend updates them in place.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "parameters.hpp"
#include "taynode/backend/matrix.hpp"

namespace taynode::nn {

namespace detail {
template <class Backend, class Values>
ParameterSet<typename Values::value_type::Scalar> download_all(const std::vector<std::string>& names,
                                                              const Values& values) {
  using T = typename Values::value_type::Scalar;
  ParameterSet<T> s;
  for (std::size_t i = 0; i < values.size(); ++i) {
    RowMatrix<T> v(values[i].rows(), values[i].cols());
    Backend::download(v.size(), values[i].data(), v.data());
    s.add(names[i], std::move(v));
  }
  return s;
}
}  // namespace detail

template <class T, class Backend>
class ParameterBuffers {
 public:
  using Scalar = T;
  using Tensor = typename Backend::template Matrix<T>;

  ParameterBuffers() = default;

  // Append a zero tensor rows × cols. Names must be unique and non-empty.
  Tensor& add(std::string name, Eigen::Index rows, Eigen::Index cols) {
    detail::check_new_name(names_, name, "taynode::nn::ParameterBuffers::add");
    names_.push_back(std::move(name));
    values_.emplace_back(rows, cols);
    Backend::fill(values_.back().size(), T(0), values_.back().data());
    return values_.back();
  }

  std::size_t size() const { return values_.size(); }
  const std::string& name(std::size_t i) const { return names_.at(i); }
  Tensor& value(std::size_t i) { return values_.at(i); }
  const Tensor& value(std::size_t i) const { return values_.at(i); }
  static constexpr std::size_t npos = std::size_t(-1);
  std::size_t find(const std::string& name) const { return detail::find_name(names_, name); }

  // Same names and shapes as any parameter collection, all zeros.
  template <class P>
  static ParameterBuffers zeros_like(const P& p) {
    ParameterBuffers z;
    for (std::size_t i = 0; i < p.size(); ++i) z.add(p.name(i), p.value(i).rows(), p.value(i).cols());
    return z;
  }
  // A copy of a host collection (ParameterSet, ParameterRefs) in backend memory.
  template <class P>
  static ParameterBuffers upload(const P& host) {
    ParameterBuffers b;
    for (std::size_t i = 0; i < host.size(); ++i) {
      const RowMatrix<T> v = host.value(i);  // row-major, contiguous
      Tensor& t = b.add(host.name(i), v.rows(), v.cols());
      Backend::upload(v.size(), v.data(), t.data());
    }
    return b;
  }
  // The values on the host.
  ParameterSet<T> download() const { return detail::download_all<Backend>(names_, values_); }

 private:
  std::vector<std::string> names_;
  std::vector<Tensor> values_;
};

template <class T, class Backend>
class ParameterViews {
 public:
  struct Tensor : backend::MatrixView<T> {
    using Scalar = T;
    using backend::MatrixView<T>::MatrixView;
  };

  // Append a view of rows × cols contiguous row-major values at `data` (backend memory).
  void add(std::string name, T* data, Eigen::Index rows, Eigen::Index cols) {
    detail::check_new_name(names_, name, "taynode::nn::ParameterViews::add");
    names_.push_back(std::move(name));
    values_.emplace_back(data, rows, cols);
  }

  std::size_t size() const { return values_.size(); }
  const std::string& name(std::size_t i) const { return names_.at(i); }
  const Tensor& value(std::size_t i) const { return values_.at(i); }
  static constexpr std::size_t npos = std::size_t(-1);
  std::size_t find(const std::string& name) const { return detail::find_name(names_, name); }

  // The values on the host.
  ParameterSet<T> download() const { return detail::download_all<Backend>(names_, values_); }

 private:
  std::vector<std::string> names_;
  std::vector<Tensor> values_;
};

}  // namespace taynode::nn

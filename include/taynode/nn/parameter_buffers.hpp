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
// Named tensors in a backend's memory: the ParameterSet interface both collections below share.
template <class T, class Backend, class TensorType>
class NamedBackendTensors {
 public:
  using Scalar = T;
  using Tensor = TensorType;

  std::size_t size() const { return values_.size(); }
  const std::string& name(std::size_t i) const { return names_.at(i); }
  Tensor& value(std::size_t i) { return values_.at(i); }
  const Tensor& value(std::size_t i) const { return values_.at(i); }
  static constexpr std::size_t npos = std::size_t(-1);
  std::size_t find(const std::string& name) const { return find_name(names_, name); }

  // The values on the host.
  ParameterSet<T> download() const {
    ParameterSet<T> s;
    for (std::size_t i = 0; i < size(); ++i) {
      RowMatrix<T> v(values_[i].rows(), values_[i].cols());
      Backend::download(v.size(), values_[i].data(), v.data());
      s.add(names_[i], std::move(v));
    }
    return s;
  }

 protected:
  // Appends a tensor built from args under a new name (unique, non-empty).
  template <class... Args>
  Tensor& append(std::string name, const char* who, Args&&... args) {
    check_new_name(names_, name, who);
    names_.push_back(std::move(name));
    return values_.emplace_back(std::forward<Args>(args)...);
  }

 private:
  std::vector<std::string> names_;
  std::vector<Tensor> values_;
};

template <class T>
struct ViewTensor : backend::MatrixView<T> {
  using Scalar = T;
  using backend::MatrixView<T>::MatrixView;
};
}  // namespace detail

template <class T, class Backend>
class ParameterBuffers : public detail::NamedBackendTensors<T, Backend, typename Backend::template Matrix<T>> {
 public:
  using Tensor = typename Backend::template Matrix<T>;

  ParameterBuffers() = default;

  // Append a zero tensor rows × cols. Names must be unique and non-empty.
  Tensor& add(std::string name, Eigen::Index rows, Eigen::Index cols) {
    Tensor& t = this->append(std::move(name), "taynode::nn::ParameterBuffers::add", rows, cols);
    Backend::fill(t.size(), T(0), t.data());
    return t;
  }

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
};

template <class T, class Backend>
class ParameterViews : public detail::NamedBackendTensors<T, Backend, detail::ViewTensor<T>> {
 public:
  // Append a view of rows × cols contiguous row-major values at `data` (backend memory).
  void add(std::string name, T* data, Eigen::Index rows, Eigen::Index cols) {
    this->append(std::move(name), "taynode::nn::ParameterViews::add", data, rows, cols);
  }
};

}  // namespace taynode::nn

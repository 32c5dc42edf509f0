#pragma once
// Named parameter tensors (docs/nn.md).
//
// ParameterSet<T>: an ordered list of (name, row-major matrix) pairs owning its data; vectors are
//   stored as n × 1 matrices. Iteration order is insertion order (stable, the order of flatten()).
// ParameterRefs<T>: the same interface over arrays owned elsewhere (Eigen::Map into a network's
//   layer structs), so an optimizer updates a network in place: `auto p = parameter_refs(net);`.
// Both expose size(), name(i), value(i) (an Eigen expression usable as lvalue), find(name).
// Names of a network's parameters: "layers.<index>.<field>" with field weight, bias, gate_weight,
// gate_bias, time_weight, in the order of for_each_parameter (layers.hpp).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "layers.hpp"

namespace taynode::nn {

// f(name, array) for every parameter array of a network (the order of for_each_parameter).
template <class Net, class F>
void for_each_named_parameter(Net& net, F&& f) {
  std::size_t index = 0;
  for (auto& l : net.layers) {
    const std::string prefix = "layers." + std::to_string(index++) + ".";
    std::visit(
        [&](auto& layer) {
          if constexpr (requires { layer.weight; }) {
            f(prefix + "weight", layer.weight);
            f(prefix + "bias", layer.bias);
          }
          if constexpr (requires { layer.gate_weight; }) {
            f(prefix + "gate_weight", layer.gate_weight);
            f(prefix + "gate_bias", layer.gate_bias);
            f(prefix + "time_weight", layer.time_weight);
          }
        },
        l);
  }
}

namespace detail {
// The index of `name` in `names`, or std::size_t(-1).
inline std::size_t find_name(const std::vector<std::string>& names, const std::string& name) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  return std::size_t(-1);
}
// A new tensor name for a collection `who` whose names are `names`: non-empty and unique.
inline void check_new_name(const std::vector<std::string>& names, const std::string& name, const char* who) {
  if (name.empty()) throw std::invalid_argument(std::string(who) + ": empty name");
  if (find_name(names, name) != std::size_t(-1))
    throw std::invalid_argument(std::string(who) + ": duplicate name '" + name + "'");
}
}  // namespace detail

// Every tensor of a collection (ParameterSet, ParameterRefs) into / from one flat buffer of
// total_size() scalars, in iteration order, each tensor row-major: flatten()'s layout, in storage
// the caller keeps (e.g. the buffer of one MPI_Allreduce, dist/mpi.hpp).
template <class P>
void pack_into(const P& p, typename P::Scalar* out) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    const auto& v = p.value(i);
    out = std::copy(v.data(), v.data() + v.size(), out);
  }
}
template <class P>
void unpack_from(P& p, const typename P::Scalar* in) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto& v = p.value(i);
    std::copy(in, in + v.size(), v.data());
    in += v.size();
  }
}

template <class T>
class ParameterSet {
 public:
  using Scalar = T;
  using Tensor = RowMatrix<T>;

  ParameterSet() = default;

  // Append a tensor (copied). Names must be unique and non-empty.
  Tensor& add(std::string name, Tensor value) {
    detail::check_new_name(names_, name, "taynode::nn::ParameterSet::add");
    names_.push_back(std::move(name));
    values_.push_back(std::move(value));
    return values_.back();
  }
  template <class Derived>
  Tensor& add(std::string name, const Eigen::DenseBase<Derived>& value) {
    return add(std::move(name), Tensor(value.derived()));
  }

  std::size_t size() const { return values_.size(); }
  bool empty() const { return values_.empty(); }
  const std::string& name(std::size_t i) const { return names_.at(i); }
  Tensor& value(std::size_t i) { return values_.at(i); }
  const Tensor& value(std::size_t i) const { return values_.at(i); }

  static constexpr std::size_t npos = std::size_t(-1);
  std::size_t find(const std::string& name) const { return detail::find_name(names_, name); }
  bool contains(const std::string& name) const { return find(name) != npos; }
  Tensor& operator[](const std::string& name) { return values_[checked(name)]; }
  const Tensor& operator[](const std::string& name) const { return values_[checked(name)]; }

  // Total number of scalars.
  Eigen::Index total_size() const {
    Eigen::Index n = 0;
    for (const auto& v : values_) n += v.size();
    return n;
  }

  // All tensors concatenated (each row-major) in iteration order.
  Vector<T> flatten() const {
    Vector<T> out(total_size());
    pack_into(*this, out.data());
    return out;
  }
  // The inverse of flatten (shapes kept); throws if the length differs.
  void unflatten(const Eigen::Ref<const Vector<T>>& flat) {
    if (flat.size() != total_size())
      throw std::invalid_argument("taynode::nn::ParameterSet::unflatten: length " + std::to_string(flat.size()) +
                                  " != total size " + std::to_string(total_size()));
    unpack_from(*this, flat.data());  // a Ref to a const vector is contiguous
  }

  // Same names and shapes, all zeros.
  template <class P>
  static ParameterSet zeros_like(const P& p) {
    ParameterSet z;
    for (std::size_t i = 0; i < p.size(); ++i) z.add(p.name(i), Tensor::Zero(p.value(i).rows(), p.value(i).cols()));
    return z;
  }
  // A copy of any parameter collection (ParameterSet of another scalar excluded).
  template <class P>
  static ParameterSet copy_of(const P& p) {
    ParameterSet c;
    for (std::size_t i = 0; i < p.size(); ++i) c.add(p.name(i), Tensor(p.value(i)));
    return c;
  }
  // A copy of a network's parameters (names as for_each_named_parameter).
  template <class Net>
  static ParameterSet from_network(const Net& net) {
    ParameterSet c;
    for_each_named_parameter(const_cast<Net&>(net), [&](std::string n, const auto& a) {
      c.add(std::move(n), Tensor(Eigen::Map<const Tensor>(a.data(), a.rows(), a.cols())));
    });
    return c;
  }
  // Write the values back into a network with the same names and shapes.
  template <class Net>
  void copy_to_network(Net& net) const {
    std::size_t i = 0;
    for_each_named_parameter(net, [&](const std::string& n, auto& a) {
      if (i >= size() || names_[i] != n || values_[i].rows() != a.rows() || values_[i].cols() != a.cols())
        throw std::invalid_argument("taynode::nn::ParameterSet::copy_to_network: mismatch at '" + n + "'");
      Eigen::Map<Tensor>(a.data(), a.rows(), a.cols()) = values_[i++];
    });
    if (i != size()) throw std::invalid_argument("taynode::nn::ParameterSet::copy_to_network: extra tensors");
  }

  friend bool operator==(const ParameterSet& a, const ParameterSet& b) {
    if (a.names_ != b.names_) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a.values_[i].rows() != b.values_[i].rows() || a.values_[i].cols() != b.values_[i].cols() ||
          a.values_[i] != b.values_[i])
        return false;
    return true;
  }

 private:
  std::size_t checked(const std::string& name) const {
    const std::size_t i = find(name);
    if (i == npos) throw std::out_of_range("taynode::nn::ParameterSet: no tensor named '" + name + "'");
    return i;
  }
  std::vector<std::string> names_;
  std::vector<Tensor> values_;
};

// Named views of arrays owned elsewhere. The referenced arrays must outlive the views and must not
// be resized or reallocated while the views are in use.
template <class T>
class ParameterRefs {
 public:
  using Scalar = T;
  using Tensor = RowMatrix<T>;
  using Map = Eigen::Map<Tensor>;

  template <class Derived>
  void add(std::string name, Eigen::PlainObjectBase<Derived>& a) {
    static_assert(std::is_same_v<typename Derived::Scalar, T>);
    static_assert(Derived::IsRowMajor || Derived::ColsAtCompileTime == 1,
                  "ParameterRefs: row-major matrices or column vectors only");
    names_.push_back(std::move(name));
    maps_.emplace_back(a.data(), a.rows(), a.cols());
  }
  std::size_t size() const { return maps_.size(); }
  const std::string& name(std::size_t i) const { return names_.at(i); }
  Map& value(std::size_t i) { return maps_.at(i); }
  const Map& value(std::size_t i) const { return maps_.at(i); }
  Eigen::Index total_size() const {
    Eigen::Index n = 0;
    for (const auto& v : maps_) n += v.size();
    return n;
  }

 private:
  std::vector<std::string> names_;
  std::vector<Map> maps_;
};

// Views of every parameter of a network (layers.hpp), names as for_each_named_parameter.
template <class T>
ParameterRefs<T> parameter_refs(Sequential<T>& net) {
  ParameterRefs<T> refs;
  for_each_named_parameter(net, [&](std::string n, auto& a) { refs.add(std::move(n), a); });
  return refs;
}

// Where a set of tensors (ParameterSet or ParameterRefs) holds its first NaN or infinity, as
// "tensor '<name>' holds <value> at (<row>, <col>)"; "" when every value is finite.
template <class P>
std::string first_non_finite(const P& set) {
  for (std::size_t i = 0; i < set.size(); ++i) {
    const auto& v = set.value(i);
    for (Eigen::Index r = 0; r < v.rows(); ++r)
      for (Eigen::Index c = 0; c < v.cols(); ++c)
        if (!std::isfinite(v(r, c)))
          return "tensor '" + set.name(i) + "' holds " + std::to_string(v(r, c)) + " at (" + std::to_string(r) +
                 ", " + std::to_string(c) + ")";
  }
  return {};
}

// Weight penalty ½ λ ‖θ‖² over every tensor, and its gradient λ θ added into `grads` (same layout).
template <class P>
double l2_penalty(const P& params, double lambda) {
  double s = 0;
  for (std::size_t i = 0; i < params.size(); ++i) s += double(params.value(i).squaredNorm());
  return 0.5 * lambda * s;
}
template <class P, class G>
void add_l2_gradient(G& grads, const P& params, double lambda) {
  if (grads.size() != params.size()) throw std::invalid_argument("taynode::nn::add_l2_gradient: tensor count differs");
  for (std::size_t i = 0; i < params.size(); ++i) {
    using S = typename std::remove_cvref_t<decltype(grads.value(i))>::Scalar;
    if (grads.value(i).rows() != params.value(i).rows() || grads.value(i).cols() != params.value(i).cols())
      throw std::invalid_argument("taynode::nn::add_l2_gradient: shape of '" + params.name(i) + "' differs");
    grads.value(i) += S(lambda) * params.value(i);
  }
}

}  // namespace taynode::nn

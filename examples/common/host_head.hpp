#pragma once
// The examples' device path (--device cuda): host data on a backend, and a host loss head for a
// solve on one.

#include <functional>
#include <type_traits>
#include <utility>

#include <taynode/backend/matrix.hpp>

namespace example_backend {

template <class T>
using HostMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using HostVector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// Host data on backend B: a copy in B's memory, reused from call to call (backend::Cpu reads the
// host matrix itself).
template <class B, class T>
class OnBackend {
 public:
  static constexpr bool host = taynode::backend::eigen_host<B>;
  const auto& operator()(const HostMatrix<T>& x) {
    if constexpr (host) {
      return x;
    } else {
      copy_.resize(x.rows(), x.cols());
      B::upload(x.size(), x.data(), copy_.data());
      return std::as_const(copy_);
    }
  }

 private:
  std::conditional_t<host, char, typename B::template Matrix<T>> copy_{};
};

// A loss head of solve_gradient on backend B behind one type: an example that solves with several
// heads (HostHead below, a head in device memory) instantiates solve_gradient — for each method —
// once instead of once per head, which keeps its device translation unit's compile time down.
template <class B, class T>
using Cotangents = std::function<void(const typename B::template Matrix<T>&, const typename B::template Vector<T>&,
                                      typename B::template Matrix<T>&, typename B::template Vector<T>&)>;

// A host loss head head(z1, r1, z̄1, r̄1) for a solve on backend B: z1 and r1 are copied to the
// host, the cotangents (zero on entry, as solve_gradient gives them) back. The examples' heads are
// small (a 10-way classifier, a squared error): not worth device kernels of their own.
template <class T, class B, class Head>
struct HostHead {
  explicit HostHead(Head& h) : head(h) {}
  Head& head;
  HostMatrix<T> z1, z1_bar;
  HostVector<T> r1, r1_bar;
  void operator()(const typename B::template Matrix<T>& z1_d, const typename B::template Vector<T>& r1_d,
                  typename B::template Matrix<T>& z1_bar_d, typename B::template Vector<T>& r1_bar_d) {
    z1 = taynode::backend::to_host<B>(z1_d);
    r1 = taynode::backend::to_host<B>(r1_d);
    z1_bar.setZero(z1.rows(), z1.cols());
    r1_bar.setZero(r1.size());
    head(std::as_const(z1), std::as_const(r1), z1_bar, r1_bar);
    B::upload(z1_bar.size(), z1_bar.data(), z1_bar_d.data());
    B::upload(r1_bar.size(), r1_bar.data(), r1_bar_d.data());
  }
};

}  // namespace example_backend

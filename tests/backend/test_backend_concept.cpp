// The SeriesBackend concept rejects a backend that lacks any one member the code uses: a probe
// backend with every member, and one variant per member with exactly that member removed.

#include <cstddef>
#include <type_traits>

#include <catch2/catch.hpp>

#include "taynode/backend/backend.hpp"
#include "taynode/backend/cpu.hpp"

namespace {

using taynode::backend::Index;
using taynode::backend::SeriesBackend;

enum class Omit {
  none, buffer, buffer_resize, mirror, matrix, vector, view, const_view, upload, download, copy, fill, gemm_nt,
  gemm_nn, gemm_tn, add_row, axpy, scale, column_sums, sum_of_products, sum, row_squared_norms, for_each, for_each_2d,
  sigmoid_values, tanh_values, softplus_values, exp_values, log_values, count
};

template <class T>
struct ProbeBuffer {
  explicit ProbeBuffer(std::size_t) {}
  T* data() { return nullptr; }
  const T* data() const { return nullptr; }
  std::size_t size() const { return 0; }
  void resize(std::size_t) {}
};
template <class T>
struct ProbeBufferWithoutResize {
  explicit ProbeBufferWithoutResize(std::size_t) {}
  T* data() { return nullptr; }
  const T* data() const { return nullptr; }
  std::size_t size() const { return 0; }
};
template <class T>
struct ProbeMirror {
  ProbeMirror(const T*, Index) {}
  void update(const T*, Index) {}
  const T* data() const { return nullptr; }
};
template <class T>
struct ProbeMatrix {
  ProbeMatrix(Index, Index = 1) {}
  const T* data() const { return nullptr; }
  Index rows() const { return 0; }
  Index cols() const { return 0; }
  Index size() const { return 0; }
};
template <class T>
struct ProbeView {
  ProbeView(T*, Index, Index) {}
};

// The member types, each in a base that a variant can leave out.
struct Nothing {};
template <Omit O>
struct BufferType {
  template <class T>
  using Buffer = std::conditional_t<O == Omit::buffer_resize, ProbeBufferWithoutResize<T>, ProbeBuffer<T>>;
};
struct MirrorType {
  template <class T>
  using Mirror = ProbeMirror<T>;
};
struct MatrixType {
  template <class T>
  using Matrix = ProbeMatrix<T>;
};
struct VectorType {
  template <class T>
  using Vector = ProbeMatrix<T>;
};
struct ViewType {
  template <class T>
  using View = ProbeView<T>;
};
struct ConstViewType {
  template <class T>
  using ConstView = ProbeView<const T>;
};
template <bool Keep, class Base>
using Maybe = std::conditional_t<Keep, Base, Nothing>;

template <Omit O>
struct Probe : Maybe<O != Omit::buffer, BufferType<O>>,
               Maybe<O != Omit::mirror, MirrorType>,
               Maybe<O != Omit::matrix, MatrixType>,
               Maybe<O != Omit::vector, VectorType>,
               Maybe<O != Omit::view, ViewType>,
               Maybe<O != Omit::const_view, ConstViewType> {
  template <class T> static void upload(Index, const T*, T*) requires(O != Omit::upload) {}
  template <class T> static void download(Index, const T*, T*) requires(O != Omit::download) {}
  template <class T> static void copy(Index, const T*, T*) requires(O != Omit::copy) {}
  template <class T> static void fill(Index, T, T*) requires(O != Omit::fill) {}
  template <class T>
  static void gemm_nt(Index, Index, Index, const T*, Index, const T*, Index, T*, Index, T, T) requires(O != Omit::gemm_nt) {}
  template <class T>
  static void gemm_nn(Index, Index, Index, const T*, Index, const T*, Index, T*, Index, T, T) requires(O != Omit::gemm_nn) {}
  template <class T>
  static void gemm_tn(Index, Index, Index, const T*, Index, const T*, Index, T*, Index, T, T) requires(O != Omit::gemm_tn) {}
  template <class T> static void add_row(Index, Index, T, const T*, Index, T*, Index) requires(O != Omit::add_row) {}
  template <class T> static void axpy(Index, T, const T*, T*) requires(O != Omit::axpy) {}
  template <class T> static void scale(Index, T, T*) requires(O != Omit::scale) {}
  template <class T>
  static void column_sums(Index, Index, T, const T*, Index, T*, Index) requires(O != Omit::column_sums) {}
  template <class T>
  static T sum_of_products(Index, Index, const T*, Index, const T*, Index) requires(O != Omit::sum_of_products) {
    return T(0);
  }
  template <class T>
  static T sum(Index, const T*) requires(O != Omit::sum) {
    return T(0);
  }
  template <class T>
  static void row_squared_norms(Index, Index, const T*, Index, T*) requires(O != Omit::row_squared_norms) {}
  template <class K> static void for_each(Index, K) requires(O != Omit::for_each) {}
  template <class K> static void for_each_2d(Index, Index, K) requires(O != Omit::for_each_2d) {}
  template <class T> static void sigmoid_values(Index, const T*, T*, T*) requires(O != Omit::sigmoid_values) {}
  template <class T> static void tanh_values(Index, const T*, T*, T*) requires(O != Omit::tanh_values) {}
  template <class T> static void softplus_values(Index, const T*, T*, T*, T*) requires(O != Omit::softplus_values) {}
  template <class T> static void exp_values(Index, const T*, T*) requires(O != Omit::exp_values) {}
  template <class T> static void log_values(Index, const T*, T*) requires(O != Omit::log_values) {}
};

static_assert(SeriesBackend<taynode::backend::Cpu>);
static_assert(SeriesBackend<Probe<Omit::none>>, "the complete probe is a backend");

template <int... I>
constexpr bool every_omission_rejected(std::integer_sequence<int, I...>) {
  return (!SeriesBackend<Probe<Omit(I + 1)>> && ...);
}
static_assert(every_omission_rejected(std::make_integer_sequence<int, int(Omit::count) - 1>{}),
              "a backend lacking any one member must not satisfy SeriesBackend");
// The ones that were missing from the concept before (named, so a failure points at them).
static_assert(!SeriesBackend<Probe<Omit::buffer_resize>>);
static_assert(!SeriesBackend<Probe<Omit::gemm_nn>>);
static_assert(!SeriesBackend<Probe<Omit::gemm_tn>>);
static_assert(!SeriesBackend<Probe<Omit::upload>>);
static_assert(!SeriesBackend<Probe<Omit::for_each>>);

}  // namespace

TEST_CASE("backend concept: every member is required", "[backend]") {
  // The checks are the static_asserts above; this case makes the file a test that ran.
  CHECK(SeriesBackend<Probe<Omit::none>>);
  CHECK_FALSE(SeriesBackend<Probe<Omit::column_sums>>);
}

#pragma once
// Bitwise comparison of Guarded-backend results with backend::Cpu results, and the end-of-test
// checks of the guarded memory (tests/backend/guarded_backend.hpp).

#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "guarded_backend.hpp"
#include "taynode/backend/matrix.hpp"
#include "taynode/series/series.hpp"

namespace taynode_test {

// Equal bit for bit (NaN payloads included), element by element.
template <class T>
bool same_bits(const T* a, const T* b, Index n) {
  return std::memcmp(a, b, std::size_t(n) * sizeof(T)) == 0;
}
// A Cpu matrix/map/view against a Guarded matrix/view (downloaded).
template <class A, class G>
bool same_bits_as_guarded(const A& cpu, const G& guarded) {
  if (cpu.rows() != guarded.rows() || cpu.cols() != guarded.cols()) return false;
  const auto host = taynode::backend::to_host<Guarded>(guarded);
  return same_bits(cpu.data(), host.data(), host.size());
}
// All coefficients 0..top of two series.
template <class T>
bool same_series(const taynode::Series<T>& cpu, const taynode::Series<T, Guarded>& g, int top) {
  if (cpu.rows() != g.rows() || cpu.cols() != g.cols()) return false;
  std::vector<T> host(std::size_t((top + 1) * g.size()));
  Guarded::download(Index(host.size()), g.data(), host.data());
  return same_bits(cpu.data(), host.data(), Index(host.size()));
}

// The guarded memory was used within bounds and only through the backend; nothing leaked once
// the objects of a test are gone (call with the count of buffers alive before the test).
inline void check_guards() {
  const auto& s = guarded_stats();
  CHECK(s.corruptions == 0);
  CHECK(s.foreign_pointers == 0);
}
inline void check_no_leak(long live_before) { CHECK(guarded_stats().live == live_before); }

}  // namespace taynode_test

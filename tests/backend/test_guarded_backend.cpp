// The guarded test backend itself: it must catch what it is there to catch, or the bitwise
// backend tests built on it (tests/ad, tests/taylor, tests/nn) prove nothing.

#include <cmath>

#include <catch2/catch.hpp>

#include "guarded_backend.hpp"

using taynode_test::Guarded;
using taynode_test::GuardedBuffer;
using taynode_test::guarded_stats;

TEST_CASE("guarded backend: out-of-bounds writes are detected on free", "[backend]") {
  guarded_stats().reset_counts();
  const long live = guarded_stats().live;
  {
    GuardedBuffer<double> b(10);
    b.data()[9] = 1.0;  // in bounds
  }
  CHECK(guarded_stats().corruptions == 0);
  {
    GuardedBuffer<double> b(10);
    b.data()[10] = 1.0;  // one past the end: in the guard region
  }
  CHECK(guarded_stats().corruptions == 1);
  {
    GuardedBuffer<float> b(3);
    b.data()[-1] = 2.0f;  // one before the start
  }
  CHECK(guarded_stats().corruptions == 2);
  CHECK(guarded_stats().live == live);
  guarded_stats().reset_counts();
}

TEST_CASE("guarded backend: memory is poisoned on allocation and resize", "[backend]") {
  GuardedBuffer<double> b(5);
  for (std::size_t i = 0; i < b.size(); ++i) CHECK(std::isnan(b.data()[i]));
  b.data()[0] = 1.0;
  b.resize(5);  // a new allocation: values not kept
  CHECK(std::isnan(b.data()[0]));
}

TEST_CASE("guarded backend: host pointers handed to the backend are counted, calls are counted", "[backend]") {
  guarded_stats().reset_counts();
  double host[4] = {1, 2, 3, 4};
  Guarded::Matrix<double> m(2, 2);
  Guarded::upload(4, host, m.data());
  CHECK(guarded_stats().foreign_pointers == 0);
  Guarded::axpy(4, 1.0, host, m.data());  // a host pointer where backend memory belongs
  CHECK(guarded_stats().foreign_pointers == 1);
  Guarded::upload(4, m.data(), m.data());  // backend memory where the host side belongs
  CHECK(guarded_stats().foreign_pointers == 2);
  CHECK(guarded_stats().count("upload") == 2);
  CHECK(guarded_stats().count("axpy") == 1);
  guarded_stats().reset_counts();
}

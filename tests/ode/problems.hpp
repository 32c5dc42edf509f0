#pragma once
// Test problems with outside truth: Hairer's (HNW I) Arenstorf orbit, Van der Pol, Brusselator
// and Pleiades; DETEST A1–A4 and D1–D5 (Hull, Enright, Fellen & Sedgwick 1972) with their
// closed-form solutions. Right-hand sides are written as in Hairer's drivers.

#include <cmath>

#include <Eigen/Core>

namespace taynode_test {

using Vec2 = Eigen::Vector2d;
using Vec4 = Eigen::Vector4d;

// Arenstorf orbit (HNW I, II.0, eq. (0.1)); period T.
struct Arenstorf {
  static constexpr double mu = 0.012277471;
  static constexpr double period = 17.0652165601579625588917206249;
  static Vec4 y0() { return Vec4(0.994, 0.0, 0.0, -2.00158510637908252240537862224); }
  void operator()(double, const Vec4& y, Vec4& f) const {
    const double amu = mu, amup = 1.0 - amu;
    f(0) = y(2);
    f(1) = y(3);
    double r1 = (y(0) + amu) * (y(0) + amu) + y(1) * y(1);
    r1 = r1 * std::sqrt(r1);
    double r2 = (y(0) - amup) * (y(0) - amup) + y(1) * y(1);
    r2 = r2 * std::sqrt(r2);
    f(2) = y(0) + 2 * y(3) - amup * (y(0) + amu) / r1 - amu * (y(0) - amup) / r2;
    f(3) = y(1) - 2 * y(2) - amup * y(1) / r1 - amu * y(1) / r2;
  }
};

// Van der Pol in Hairer's scaling (dr_dopri5.f / dr_dop853.f): y1' = y2,
// y2' = ((1 − y1²) y2 − y1) / eps.
struct VanDerPol {
  double eps;
  void operator()(double, const Vec2& y, Vec2& f) const {
    f(0) = y(1);
    f(1) = ((1 - y(0) * y(0)) * y(1) - y(0)) / eps;
  }
};

// Brusselator (HNW I, II.10, (10.2)): y1' = 1 + y1² y2 − 4 y1, y2' = 3 y1 − y1² y2,
// y(0) = (1.5, 3).
struct Brusselator {
  // y(20) from y(0) = (1.5, 3): Mathematica NDSolve at high precision, published with russell_ode.
  static Vec2 reference_at_20() { return Vec2(0.49863707126834783, 4.596780349452011); }
  void operator()(double, const Vec2& y, Vec2& f) const {
    f(0) = 1 + y(0) * y(0) * y(1) - 4 * y(0);
    f(1) = 3 * y(0) - y(0) * y(0) * y(1);
  }
};

// Pleiades (HNW I, II.10, (10.3)): 7 bodies, masses m_i = i, state (x, y, x', y'), 28 components.
struct Pleiades {
  using Vec = Eigen::Matrix<double, 28, 1>;
  static Vec y0() {
    Vec y;
    y << 3, 3, -1, -3, 2, -2, 2,  // x
        3, -3, 2, 0, 0, -4, 4,    // y
        0, 0, 0, 0, 0, 1.75, -1.5,  // x'
        0, 0, 0, -1.25, 1, 0, 0;    // y'
    return y;
  }
  // y(3): the IVP Test Set reference solution (Mazzia & Magherini, plei.pdf).
  static Vec reference_at_3() {
    Vec y;
    y << 0.3706139143970502, 3.237284092057233, -3.222559032418324, 0.6597091455775310,
        0.3425581707156584, 1.562172101400631, -0.7003092922212495, -3.943437585517392,
        -3.271380973972550, 5.225081843456543, -2.590612434977470, 1.198213693392275,
        -0.2429682344935824, 1.091449240428980, 3.417003806314313, 1.354584501625501,
        -2.590065597810775, 2.025053734714242, -1.155815100160448, -0.8072988170223021,
        0.5952396354208710, -3.741244961234010, 0.3773459685750630, 0.9386858869551073,
        0.3667922227200571, -0.3474046353808490, 2.344915448180937, -1.947020434263292;
    return y;
  }
  void operator()(double, const Vec& u, Vec& f) const {
    for (int i = 0; i < 7; ++i) {
      f(i) = u(14 + i);
      f(7 + i) = u(21 + i);
      double ax = 0, ay = 0;
      for (int j = 0; j < 7; ++j) {
        if (j == i) continue;
        const double dx = u(j) - u(i), dy = u(7 + j) - u(7 + i);
        const double r2 = dx * dx + dy * dy;
        const double r3 = r2 * std::sqrt(r2);
        ax += (j + 1) * dx / r3;
        ay += (j + 1) * dy / r3;
      }
      f(14 + i) = ax;
      f(21 + i) = ay;
    }
  }
};

// Kepler two-body problem (DETEST D1–D5): q'' = −q/|q|³, q(0) = (1 − e, 0),
// q'(0) = (0, √((1+e)/(1−e))); exact solution through Kepler's equation.
struct Kepler {
  double e;
  Vec4 y0() const { return Vec4(1 - e, 0, 0, std::sqrt((1 + e) / (1 - e))); }
  void operator()(double, const Vec4& y, Vec4& f) const {
    const double r2 = y(0) * y(0) + y(1) * y(1);
    const double r3 = r2 * std::sqrt(r2);
    f << y(2), y(3), -y(0) / r3, -y(1) / r3;
  }
  Vec4 exact(double t) const {
    double u = t;  // eccentric anomaly: u − e sin u = t, Newton's method
    for (int it = 0; it < 50; ++it) {
      const double du = (u - e * std::sin(u) - t) / (1 - e * std::cos(u));
      u -= du;
      if (std::abs(du) < 1e-16) break;
    }
    const double c = std::cos(u), s = std::sin(u), w = std::sqrt(1 - e * e);
    const double dudt = 1 / (1 - e * c);
    return Vec4(c - e, w * s, -s * dudt, w * c * dudt);
  }
};

}  // namespace taynode_test

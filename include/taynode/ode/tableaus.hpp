#pragma once
// The explicit Runge–Kutta methods of the library, as data.
//
// Each method lists c, a (lower triangular), b and, for adaptive methods, the error weights
// e = b − b̂ (the difference of the propagated and the embedded solution, as Hairer's codes store
// it). Orders are nominal: `order` is that of the propagated solution, `embedded_order` that of
// b̂. Dense output uses `d` rows (a method's own interpolant in Hairer's form) or, when `d` is
// empty, cubic Hermite interpolation through y0, y1, f(t0,y0), f(t1,y1).

#include <array>
#include <cstddef>

#include "taynode/ode/tableau.hpp"

namespace taynode {

// Defaults shared by all methods; each method overrides what it has.
struct TableauDefaults {
  static constexpr bool fsal = false;
  static constexpr int embedded_order = 0;
  static constexpr ErrorEstimate error_estimate = ErrorEstimate::none;
  static constexpr std::size_t dense_extra_stages = 0;
  static constexpr std::array<Coef, 0> dense_c{};
  static constexpr std::array<std::array<Coef, 1>, 0> dense_a{};
  static constexpr std::array<std::array<Coef, 1>, 0> d{};
};

// ---- fixed-step methods -------------------------------------------------------------------

// Forward Euler, order 1.
struct Euler : TableauDefaults {
  static constexpr const char* name = "Euler";
  static constexpr std::size_t stages = 1;
  static constexpr int order = 1;
  static constexpr auto c = row<1>({q(0)});
  static constexpr auto a = lower_triangular<1>({{}});
  static constexpr auto b = row<1>({q(1)});
};

// Explicit midpoint rule, order 2.
struct Midpoint : TableauDefaults {
  static constexpr const char* name = "Midpoint";
  static constexpr std::size_t stages = 2;
  static constexpr int order = 2;
  static constexpr auto c = row<2>({q(0), q(1, 2)});
  static constexpr auto a = lower_triangular<2>({{}, {q(1, 2)}});
  static constexpr auto b = row<2>({q(0), q(1)});
};

// Heun's method (explicit trapezoidal rule), order 2.
struct Heun : TableauDefaults {
  static constexpr const char* name = "Heun";
  static constexpr std::size_t stages = 2;
  static constexpr int order = 2;
  static constexpr auto c = row<2>({q(0), q(1)});
  static constexpr auto a = lower_triangular<2>({{}, {q(1)}});
  static constexpr auto b = row<2>({q(1, 2), q(1, 2)});
};

// The classic fourth-order Runge–Kutta method.
struct RK4 : TableauDefaults {
  static constexpr const char* name = "RK4";
  static constexpr std::size_t stages = 4;
  static constexpr int order = 4;
  static constexpr auto c = row<4>({q(0), q(1, 2), q(1, 2), q(1)});
  static constexpr auto a = lower_triangular<4>({{}, {q(1, 2)}, {q(0), q(1, 2)}, {q(0), q(0), q(1)}});
  static constexpr auto b = row<4>({q(1, 6), q(1, 3), q(1, 3), q(1, 6)});
};

// ---- adaptive methods ---------------------------------------------------------------------

// Heun–Euler 2(1): Heun's method with Euler as the embedded solution.
struct HeunEuler : TableauDefaults {
  static constexpr const char* name = "HeunEuler";
  static constexpr std::size_t stages = 2;
  static constexpr int order = 2;
  static constexpr int embedded_order = 1;
  static constexpr ErrorEstimate error_estimate = ErrorEstimate::embedded;
  static constexpr int error_exponent_order = 2;
  static constexpr auto c = row<2>({q(0), q(1)});
  static constexpr auto a = lower_triangular<2>({{}, {q(1)}});
  static constexpr auto b = row<2>({q(1, 2), q(1, 2)});
  static constexpr auto e = row<2>({q(-1, 2), q(1, 2)});  // b − (1, 0)
};

// Bogacki–Shampine 3(2), FSAL (Bogacki & Shampine 1989).
struct BogackiShampine : TableauDefaults {
  static constexpr const char* name = "BogackiShampine";
  static constexpr std::size_t stages = 4;
  static constexpr int order = 3;
  static constexpr int embedded_order = 2;
  static constexpr bool fsal = true;
  static constexpr ErrorEstimate error_estimate = ErrorEstimate::embedded;
  static constexpr int error_exponent_order = 3;
  static constexpr auto c = row<4>({q(0), q(1, 2), q(3, 4), q(1)});
  static constexpr auto a = lower_triangular<4>(
      {{}, {q(1, 2)}, {q(0), q(3, 4)}, {q(2, 9), q(1, 3), q(4, 9)}});
  static constexpr auto b = row<4>({q(2, 9), q(1, 3), q(4, 9), q(0)});
  // b − b̂ with b̂ = (7/24, 1/4, 1/3, 1/8)
  static constexpr auto e = row<4>({q(-5, 72), q(1, 12), q(1, 9), q(-1, 8)});
};

// Runge–Kutta–Fehlberg 4(5): propagates the 4th-order solution (Fehlberg 1969).
struct Fehlberg45 : TableauDefaults {
  static constexpr const char* name = "Fehlberg45";
  static constexpr std::size_t stages = 6;
  static constexpr int order = 4;
  static constexpr int embedded_order = 5;
  static constexpr ErrorEstimate error_estimate = ErrorEstimate::embedded;
  static constexpr int error_exponent_order = 5;
  static constexpr auto c = row<6>({q(0), q(1, 4), q(3, 8), q(12, 13), q(1), q(1, 2)});
  static constexpr auto a = lower_triangular<6>({
      {},
      {q(1, 4)},
      {q(3, 32), q(9, 32)},
      {q(1932, 2197), q(-7200, 2197), q(7296, 2197)},
      {q(439, 216), q(-8), q(3680, 513), q(-845, 4104)},
      {q(-8, 27), q(2), q(-3544, 2565), q(1859, 4104), q(-11, 40)},
  });
  static constexpr auto b = row<6>({q(25, 216), q(0), q(1408, 2565), q(2197, 4104), q(-1, 5), q(0)});
  // b − b̂ with b̂ = (16/135, 0, 6656/12825, 28561/56430, −9/50, 2/55)
  static constexpr auto e =
      row<6>({q(-1, 360), q(0), q(128, 4275), q(2197, 75240), q(-1, 50), q(-2, 55)});
};

// Cash–Karp 4(5): propagates the 4th-order solution (Cash & Karp 1990).
struct CashKarp45 : TableauDefaults {
  static constexpr const char* name = "CashKarp45";
  static constexpr std::size_t stages = 6;
  static constexpr int order = 4;
  static constexpr int embedded_order = 5;
  static constexpr ErrorEstimate error_estimate = ErrorEstimate::embedded;
  static constexpr int error_exponent_order = 5;
  static constexpr auto c = row<6>({q(0), q(1, 5), q(3, 10), q(3, 5), q(1), q(7, 8)});
  static constexpr auto a = lower_triangular<6>({
      {},
      {q(1, 5)},
      {q(3, 40), q(9, 40)},
      {q(3, 10), q(-9, 10), q(6, 5)},
      {q(-11, 54), q(5, 2), q(-70, 27), q(35, 27)},
      {q(1631, 55296), q(175, 512), q(575, 13824), q(44275, 110592), q(253, 4096)},
  });
  static constexpr auto b =
      row<6>({q(2825, 27648), q(0), q(18575, 48384), q(13525, 55296), q(277, 14336), q(1, 4)});
  // b − b̂ with b̂ = (37/378, 0, 250/621, 125/594, 0, 512/1771)
  static constexpr auto e = row<6>({q(277, 64512), q(0), q(-6925, 370944), q(6925, 202752),
                                    q(277, 14336), q(-277, 7084)});
};

// Dormand–Prince 5(4), FSAL, with Shampine's 4th-order dense output — exactly the coefficients
// of Hairer's DOPRI5 (dopri5.f, HNW I, Table II.5.2 and II.6).
struct Dopri5 : TableauDefaults {
  static constexpr const char* name = "Dopri5";
  static constexpr std::size_t stages = 7;
  static constexpr int order = 5;
  static constexpr int embedded_order = 4;
  static constexpr bool fsal = true;
  static constexpr ErrorEstimate error_estimate = ErrorEstimate::embedded;
  static constexpr int error_exponent_order = 5;
  static constexpr auto c = row<7>({q(0), q(1, 5), q(3, 10), q(4, 5), q(8, 9), q(1), q(1)});
  static constexpr auto a = lower_triangular<7>({
      {},
      {q(1, 5)},
      {q(3, 40), q(9, 40)},
      {q(44, 45), q(-56, 15), q(32, 9)},
      {q(19372, 6561), q(-25360, 2187), q(64448, 6561), q(-212, 729)},
      {q(9017, 3168), q(-355, 33), q(46732, 5247), q(49, 176), q(-5103, 18656)},
      {q(35, 384), q(0), q(500, 1113), q(125, 192), q(-2187, 6784), q(11, 84)},
  });
  static constexpr auto b =
      row<7>({q(35, 384), q(0), q(500, 1113), q(125, 192), q(-2187, 6784), q(11, 84), q(0)});
  // Hairer's E1..E7: b − b̂ with b̂ = (5179/57600, 0, 7571/16695, 393/640, −92097/339200,
  // 187/2100, 1/40).
  static constexpr auto e = row<7>({q(71, 57600), q(0), q(-71, 16695), q(71, 1920),
                                    q(-17253, 339200), q(22, 525), q(-1, 40)});
  static constexpr int dense_order = 4;
  // Shampine (1986) dense output, Hairer's D1..D7 (stage 7 = f(t+h, y1)).
  static constexpr std::array<std::array<Coef, 7>, 1> d{
      row<7>({q(-12715105075.0, 11282082432.0), q(0), q(87487479700.0, 32700410799.0),
              q(-10690763975.0, 1880347072.0), q(701980252875.0, 199316789632.0),
              q(-1453857185.0, 822651844.0), q(69997945.0, 29380423.0)})};
};

// The reference code's variant of Dopri5 (jax.experimental.ode of 2020, copied into the paper's
// lib/ode.py; REFERENCE.md §5): the same stages and propagated solution, but the embedded solution
// b̂ of the old scipy/JAX code (not Hairer's 5179/57600 …) and Shampine's midpoint weights for a
// quartic interpolant. As in that code, the error weights are formed as b − b̂ in the working
// precision, and c_mid is (num/den)/2. Used by StepControl::jax.
struct Dopri5JaxData {
  static constexpr auto b_hat = row<7>({q(1951, 21600), q(0), q(22642, 50085), q(451, 720),
                                        q(-12231, 42400), q(649, 6300), q(1, 60)});
  // y(t0 + h/2) ≈ y0 + h Σ c_mid_j k_j (k_7 = f(t0 + h, y1)).
  static constexpr auto c_mid =
      row<7>({q(6025192743.0, 2 * 30085553152.0), q(0), q(51252292925.0, 2 * 65400821598.0),
              q(-2691868925.0, 2 * 45128329728.0), q(187940372067.0, 2 * 1594534317056.0),
              q(-1776094331.0, 2 * 19743644256.0), q(11237099.0, 2 * 235043384.0)});
};

// Tsitouras 5(4), FSAL (Tsitouras 2011, "Runge–Kutta pairs of order 5(4) satisfying only the
// first column simplifying assumption"); coefficients and the 4th-order interpolant as published
// (decimal, 16–19 digits).
struct Tsit5 : TableauDefaults {
  static constexpr const char* name = "Tsit5";
  static constexpr std::size_t stages = 7;
  static constexpr int order = 5;
  static constexpr int embedded_order = 4;
  static constexpr bool fsal = true;
  static constexpr ErrorEstimate error_estimate = ErrorEstimate::embedded;
  static constexpr int error_exponent_order = 5;
  static constexpr auto c =
      row<7>({q(0), r(0.161), r(0.327), r(0.9), r(0.9800255409045097), q(1), q(1)});
  static constexpr auto a = lower_triangular<7>({
      {},
      {r(0.161)},
      {r(-0.008480655492356989), r(0.335480655492357)},
      {r(2.897153057105493), r(-6.359448489975075), r(4.3622954328695815)},
      {r(5.325864828439257), r(-11.748883564062828), r(7.4955393428898365),
       r(-0.09249506636175525)},
      {r(5.86145544294642), r(-12.92096931784711), r(8.159367898576159), r(-0.071584973281401),
       r(-0.028269050394068383)},
      {r(0.09646076681806523), r(0.01), r(0.4798896504144996), r(1.379008574103742),
       r(-3.290069515436081), r(2.324710524099774)},
  });
  static constexpr auto b =
      row<7>({r(0.09646076681806523), r(0.01), r(0.4798896504144996), r(1.379008574103742),
              r(-3.290069515436081), r(2.324710524099774), q(0)});
  static constexpr auto e =
      row<7>({r(-0.00178001105222577714), r(-0.0008164344596567469), r(0.007880878010261995),
              r(-0.1447110071732629), r(0.5823571654525552), r(-0.45808210592918697),
              q(1, 66)});
  // Tsitouras's own continuous extension (the paper's b_i(θ), quartic, 4th order for every θ).
  // Each b_i(θ) has b_i(1) = b_i, b_i'(0) = δ_i1 and b_i'(1) = δ_i7, so it is exactly Hairer's form
  // with P constant: d_i is the θ⁴ coefficient of b_i(θ) (the leading factor of its published
  // factored form, e.g. b_7(θ) = 2.5 θ²(θ − 1)(θ − 0.6)).
  static constexpr int dense_order = 4;
  static constexpr std::array<std::array<Coef, 7>, 1> d{
      row<7>({r(-1.0530884977290216), r(0.1017), r(2.490627285651252793), r(-16.54810288924490272),
              r(47.37952196281928122), r(-34.87065786149660974), r(2.5)})};
};

// Dormand–Prince 8(5,3) as in Hairer's DOP853 (dop853.f; HNW I, II.10): 12 stages, an 8th-order
// solution, a 5th-order error estimate stretched by a 3rd-order one, f(t+h, y1) after every
// accepted step, and a 7th-order interpolant with 3 extra stages.
// The coefficients involve √6 and are stored as Hairer's 30-digit decimals.
struct Dop853 : TableauDefaults {
  static constexpr const char* name = "Dop853";
  static constexpr std::size_t stages = 12;
  static constexpr int order = 8;
  static constexpr int embedded_order = 5;
  static constexpr ErrorEstimate error_estimate = ErrorEstimate::dop853;
  static constexpr int error_exponent_order = 8;  // Hairer: EXPO1 = 1/8 − 0.2·β
  static constexpr auto c = row<12>({
      q(0), r(0.526001519587677318785587544488e-01), r(0.789002279381515978178381316732e-01),
      r(0.118350341907227396726757197510e+00), r(0.281649658092772603273242802490e+00),
      r(0.333333333333333333333333333333e+00), r(0.25e+00), r(0.307692307692307692307692307692e+00),
      r(0.651282051282051282051282051282e+00), r(0.6e+00), r(0.857142857142857142857142857142e+00),
      q(1)});
  static constexpr auto a = lower_triangular<12>({
      {},
      {r(5.26001519587677318785587544488e-2)},
      {r(1.97250569845378994544595329183e-2), r(5.91751709536136983633785987549e-2)},
      {r(2.95875854768068491816892993775e-2), q(0), r(8.87627564304205475450678981324e-2)},
      {r(2.41365134159266685502369798665e-1), q(0), r(-8.84549479328286085344864962717e-1),
       r(9.24834003261792003115737966543e-1)},
      {r(3.7037037037037037037037037037e-2), q(0), q(0), r(1.70828608729473871279604482173e-1),
       r(1.25467687566822425016691814123e-1)},
      {r(3.7109375e-2), q(0), q(0), r(1.70252211019544039314978060272e-1),
       r(6.02165389804559606850219397283e-2), r(-1.7578125e-2)},
      {r(3.70920001185047927108779319836e-2), q(0), q(0), r(1.70383925712239993810214054705e-1),
       r(1.07262030446373284651809199168e-1), r(-1.53194377486244017527936158236e-2),
       r(8.27378916381402288758473766002e-3)},
      {r(6.24110958716075717114429577812e-1), q(0), q(0), r(-3.36089262944694129406857109825e0),
       r(-8.68219346841726006818189891453e-1), r(2.75920996994467083049415600797e1),
       r(2.01540675504778934086186788979e1), r(-4.34898841810699588477366255144e1)},
      {r(4.77662536438264365890433908527e-1), q(0), q(0), r(-2.48811461997166764192642586468e0),
       r(-5.90290826836842996371446475743e-1), r(2.12300514481811942347288949897e1),
       r(1.52792336328824235832596922938e1), r(-3.32882109689848629194453265587e1),
       r(-2.03312017085086261358222928593e-2)},
      {r(-9.3714243008598732571704021658e-1), q(0), q(0), r(5.18637242884406370830023853209e0),
       r(1.09143734899672957818500254654e0), r(-8.14978701074692612513997267357e0),
       r(-1.85200656599969598641566180701e1), r(2.27394870993505042818970056734e1),
       r(2.49360555267965238987089396762e0), r(-3.0467644718982195003823669022e0)},
      {r(2.27331014751653820792359768449e0), q(0), q(0), r(-1.05344954667372501984066689879e1),
       r(-2.00087205822486249909675718444e0), r(-1.79589318631187989172765950534e1),
       r(2.79488845294199600508499808837e1), r(-2.85899827713502369474065508674e0),
       r(-8.87285693353062954433549289258e0), r(1.23605671757943030647266201528e1),
       r(6.43392746015763530355970484046e-1)},
  });
  static constexpr auto b = row<12>({r(5.42937341165687622380535766363e-2), q(0), q(0), q(0), q(0),
                                     r(4.45031289275240888144113950566e0),
                                     r(1.89151789931450038304281599044e0),
                                     r(-5.8012039600105847814672114227e0),
                                     r(3.1116436695781989440891606237e-1),
                                     r(-1.52160949662516078556178806805e-1),
                                     r(2.01365400804030348374776537501e-1),
                                     r(4.47106157277725905176885569043e-2)});
  // The 5th-order error weights ER (b − b̂5).
  static constexpr auto e = row<12>({r(0.1312004499419488073250102996e-01), q(0), q(0), q(0), q(0),
                                     r(-0.1225156446376204440720569753e+01),
                                     r(-0.4957589496572501915214079952e+00),
                                     r(0.1664377182454986536961530415e+01),
                                     r(-0.3503288487499736816886487290e+00),
                                     r(0.3341791187130174790297318841e+00),
                                     r(0.8192320648511571246570742613e-01),
                                     r(-0.2235530786388629525884427845e-01)});
  // The 3rd-order solution b̂3 (BHH1, BHH2, BHH3 on stages 1, 9, 12).
  static constexpr auto b_hat3 = row<12>({r(0.244094488188976377952755905512e+00), q(0), q(0), q(0),
                                          q(0), q(0), q(0), q(0),
                                          r(0.733846688281611857341361741547e+00), q(0), q(0),
                                          r(0.220588235294117647058823529412e-01)});

  // Dense output: stage 13 (index 12) is f(t+h, y1); stages 14–16 (indices 13–15) are extra.
  static constexpr int dense_order = 7;
  static constexpr std::size_t dense_extra_stages = 3;
  static constexpr auto dense_c = row<3>({r(0.1e+00), r(0.2e+00), r(0.777777777777777777777777777778e+00)});
  static constexpr std::array<std::array<Coef, 16>, 3> dense_a{
      row<16>({r(5.61675022830479523392909219681e-2), q(0), q(0), q(0), q(0), q(0),
               r(2.53500210216624811088794765333e-1), r(-2.46239037470802489917441475441e-1),
               r(-1.24191423263816360469010140626e-1), r(1.5329179827876569731206322685e-1),
               r(8.20105229563468988491666602057e-3), r(7.56789766054569976138603589584e-3),
               r(-8.298e-3)}),
      row<16>({r(3.18346481635021405060768473261e-2), q(0), q(0), q(0), q(0),
               r(2.83009096723667755288322961402e-2), r(5.35419883074385676223797384372e-2),
               r(-5.49237485713909884646569340306e-2), q(0), q(0),
               r(-1.08347328697249322858509316994e-4), r(3.82571090835658412954920192323e-4),
               r(-3.40465008687404560802977114492e-4), r(1.41312443674632500278074618366e-1)}),
      row<16>({r(-4.28896301583791923408573538692e-1), q(0), q(0), q(0), q(0),
               r(-4.69762141536116384314449447206e0), r(7.68342119606259904184240953878e0),
               r(4.06898981839711007970213554331e0), r(3.56727187455281109270669543021e-1), q(0),
               q(0), q(0), r(-1.39902416515901462129418009734e-3),
               r(2.9475147891527723389556272149e0), r(-9.15095847217987001081870187138e0)}),
  };
  static constexpr std::array<std::array<Coef, 16>, 4> d{
      row<16>({r(-0.84289382761090128651353491142e+01), q(0), q(0), q(0), q(0),
               r(0.56671495351937776962531783590e+00), r(-0.30689499459498916912797304727e+01),
               r(0.23846676565120698287728149680e+01), r(0.21170345824450282767155149946e+01),
               r(-0.87139158377797299206789907490e+00), r(0.22404374302607882758541771650e+01),
               r(0.63157877876946881815570249290e+00), r(-0.88990336451333310820698117400e-01),
               r(0.18148505520854727256656404962e+02), r(-0.91946323924783554000451984436e+01),
               r(-0.44360363875948939664310572000e+01)}),
      row<16>({r(0.10427508642579134603413151009e+02), q(0), q(0), q(0), q(0),
               r(0.24228349177525818288430175319e+03), r(0.16520045171727028198505394887e+03),
               r(-0.37454675472269020279518312152e+03), r(-0.22113666853125306036270938578e+02),
               r(0.77334326684722638389603898808e+01), r(-0.30674084731089398182061213626e+02),
               r(-0.93321305264302278729567221706e+01), r(0.15697238121770843886131091075e+02),
               r(-0.31139403219565177677282850411e+02), r(-0.93529243588444783865713862664e+01),
               r(0.35816841486394083752465898540e+02)}),
      row<16>({r(0.19985053242002433820987653617e+02), q(0), q(0), q(0), q(0),
               r(-0.38703730874935176555105901742e+03), r(-0.18917813819516756882830838328e+03),
               r(0.52780815920542364900561016686e+03), r(-0.11573902539959630126141871134e+02),
               r(0.68812326946963000169666922661e+01), r(-0.10006050966910838403183860980e+01),
               r(0.77771377980534432092869265740e+00), r(-0.27782057523535084065932004339e+01),
               r(-0.60196695231264120758267380846e+02), r(0.84320405506677161018159903784e+02),
               r(0.11992291136182789328035130030e+02)}),
      row<16>({r(-0.25693933462703749003312586129e+02), q(0), q(0), q(0), q(0),
               r(-0.15418974869023643374053993627e+03), r(-0.23152937917604549567536039109e+03),
               r(0.35763911791061412378285349910e+03), r(0.93405324183624310003907691704e+02),
               r(-0.37458323136451633156875139351e+02), r(0.10409964950896230045147246184e+03),
               r(0.29840293426660503123344363579e+02), r(-0.43533456590011143754432175058e+02),
               r(0.96324553959188282948394950600e+02), r(-0.39177261675615439165231486172e+02),
               r(-0.14972683625798562581422125276e+03)}),
  };
};

}  // namespace taynode

#!/bin/sh
# Deterministic instruction counts per attempted step (valgrind --tool=callgrind) of taynode's
# Dopri5 (Hairer mode and StepControl::jax) and Boost.Odeint's runge_kutta_dopri5 (std::array
# and Eigen states) on the four benchmark problems, from bench_ode_step_instructions:
#   total     (Ir(reps = R) − Ir(reps = 0)) / (R · attempts): everything a solve does per attempt
#   f         the instructions inside the right-hand side's own function (inclusive), per attempt,
#             when the compiler did not inline it (0 means it was inlined: then it is in "total")
#   pow       the instructions inside libm's pow, per attempt
#   overhead  total − f;  "w/o pow": overhead − pow
#   benchmarks/ode/count_instructions.sh <path to bench_ode_step_instructions> [tol] [reps] [inline]
# inline: never (default: f behind a noinline call on both sides, so "f" is exact), asis, always
# (see step_instructions.cpp).
set -eu
bin=$1; tol=${2:-1e-10}; reps=${3:-10}; mode=${4:-never}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {  # run <out> <args...>: callgrind profile of one run, prints total Ir
  out=$1; shift
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
incl() {  # incl <profile> <regex>: inclusive Ir of the functions matching regex (summed)
  callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$1" 2>/dev/null |
    awk -v re="$2" '$0 ~ re { gsub(",", "", $1); if ($1 ~ /^[0-9]+$/) s += $1 } END { print s + 0 }'
}
printf '| problem | solver | attempts | total | f | pow | overhead | overhead w/o pow |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for p in kepler arenstorf brusselator pleiades; do
  case $p in kepler) fn=Kepler;; arenstorf) fn=Arenstorf;; brusselator) fn=Brusselator;;
    pleiades) fn=Pleiades;; esac
  if [ "$mode" = never ]; then fre="NeverInline<taynode_test::$fn>::operator"
  else fre="taynode_test::$fn::operator"; fi
  for s in taynode boost-eigen boost-array taynode-jax; do
    a=$("$bin" $p $s 0 "$tol" "$mode" 2>/dev/null) || continue
    i0=$(run "$tmp/0" "$bin" $p $s 0 "$tol" "$mode")
    i1=$(run "$tmp/1" "$bin" $p $s "$reps" "$tol" "$mode")
    f0=$(incl "$tmp/0" "$fre"); f1=$(incl "$tmp/1" "$fre")
    p0=$(incl "$tmp/0" ':pow@@GLIBC|:pow\(' ); p1=$(incl "$tmp/1" ':pow@@GLIBC|:pow\(')
    n=$((reps * a))
    tot=$(( (i1 - i0) / n )); ff=$(( (f1 - f0) / n )); pw=$(( (p1 - p0) / n ))
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' $p $s $a $tot $ff $pw \
      $((tot - ff)) $((tot - ff - pw))
  done
done

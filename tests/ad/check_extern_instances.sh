#!/usr/bin/env bash
# TAYNODE_EXTERN_INSTANCES must actually keep the solve-gradient sweeps and the workspace
# constructors out of a user's translation unit (that is its whole point: compile cost). An
# `extern template` that does not match the specialization the code uses (a changed signature) or
# a member defined inline in its class (which `extern template` does not suppress) compiles,
# links and passes every test, and silently instantiates everything again. So: in the object file
# of a unit built with the macro, the sweeps it calls must be undefined references (U), never
# definitions (T/W).
# usage: check_extern_instances.sh <object file>...
set -euo pipefail
(($#)) || { echo "usage: $0 <object file>..." >&2; exit 2; }
syms="$(nm -C "$@")"
status=0
# What a unit running Backprop on RK4 / Dopri5 and Adjoint on Dopri5 with R_K and RNODE calls.
for want in \
  'taynode::ad::solve_backprop_detail::forward<taynode::RK4, taynode::ad::NetworkDynamics<double, taynode::backend::Cpu, taynode::ad::TaylorRegularizer<double> > >' \
  'taynode::ad::solve_backprop_detail::backward<taynode::RK4, taynode::ad::NetworkDynamics<double, taynode::backend::Cpu, taynode::ad::TaylorRegularizer<double> > >' \
  'taynode::ad::solve_backprop_detail::record<taynode::Dopri5, taynode::ad::NetworkDynamics<double, taynode::backend::Cpu, taynode::ad::TaylorRegularizer<double> > >' \
  'taynode::ad::adjoint_detail::backward<taynode::Dopri5, taynode::ad::NetworkDynamics<double, taynode::backend::Cpu, taynode::ad::RnodeRegularizer<double, taynode::backend::Cpu> > >' \
  'taynode::NetworkTaylor<double, taynode::backend::Cpu>::NetworkTaylor(' \
  'taynode::ad::NetworkAdjoint<double, taynode::backend::Cpu>::NetworkAdjoint('; do
  if ! grep -E '^ +U ' <<<"$syms" | grep -F "$want" >/dev/null; then  # (no -q: SIGPIPE under pipefail)
    echo "not an undefined reference in $*: $want" >&2
    status=1
  fi
done
# No sweep of the instantiated configurations may be defined here.
defined="$(grep -E ' [TW] ' <<<"$syms" |
  grep -E 'taynode::ad::(solve_backprop_detail::(forward|backward|record)|adjoint_detail::(forward|backward))<taynode::(RK4|Dopri5), taynode::ad::NetworkDynamics<(double|float), taynode::backend::Cpu, taynode::ad::(TaylorRegularizer<(double|float)>|RnodeRegularizer<(double|float), taynode::backend::Cpu>) > >\(' || true)"
if [[ -n "$defined" ]]; then
  echo "instantiated in $* although declared extern:" >&2
  printf '%s\n' "$defined" | cut -c1-300 >&2
  status=1
fi
((status == 0)) && echo "extern instances: the sweeps and workspace constructors are references only"
exit $status

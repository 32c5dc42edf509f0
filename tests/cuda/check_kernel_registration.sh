#!/usr/bin/env bash
# Every kernel the host code of a CUDA translation unit launches must be compiled and registered
# by nvcc's device pass; a kernel the host pass instantiates and the device pass does not (the two
# passes can disagree, e.g. on a `requires` test) links fine and fails only on a GPU, with
# "invalid device function" (seen on an H200, 2026-11-30). This compares the two lists, on the
# object file and the stub file nvcc keeps (--keep):
#   host stubs      __device_stub__<kernel> symbols in the object (what host code can launch)
#   registered      __cudaRegisterEntry(…, <kernel>, …) calls in <tu>.cudafe1.stub.c
# usage: check_kernel_registration.sh <object file> <tu>.cudafe1.stub.c
set -euo pipefail
obj="$1" stub="$2"
for f in "$obj" "$stub"; do [[ -f "$f" ]] || { echo "missing $f (built with --keep?)" >&2; exit 1; }; done
host="$(nm "$obj" | perl -ne 'print "$1\n" while /__device_stub__(Z\w*?vT_)/g' | sort -u)"
registered="$(grep -o '__cudaRegisterEntry([^;]*' "$stub" | perl -ne 'print "$1\n" while /, _(Z\w+), \(-1\)/g' | sort -u)"
n_host="$(grep -c . <<<"$host" || true)"
missing="$(comm -23 <(printf '%s\n' "$host") <(printf '%s\n' "$registered") | grep . || true)"
if [[ "$n_host" -eq 0 ]]; then
  echo "no kernel stubs found in $obj: the check itself is broken" >&2
  exit 1
fi
if [[ -n "$missing" ]]; then
  echo "kernels launched by host code but not compiled for the device:" >&2
  printf '%s\n' "$missing" | sed 's/^/_/' | c++filt | sed 's/^/  /' >&2
  exit 1
fi
echo "$n_host kernels launched by host code, all compiled and registered for the device"

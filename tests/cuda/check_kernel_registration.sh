#!/usr/bin/env bash
# Every kernel the host code of a CUDA translation unit launches must be compiled and registered
# by nvcc's device pass; a kernel the host pass instantiates and the device pass does not (the two
# passes can disagree, e.g. on a `requires` test) links fine and fails only on a GPU, with
# "invalid device function" (seen on an H200, 2026-11-30). This compares the two lists, on the
# object file and the stub files nvcc keeps (--keep):
#   host stubs      __device_stub__<kernel> symbols in the object (what host code can launch)
#   registered      __cudaRegisterEntry(…, <kernel>, …) calls in <tu>[.compute_XX].cudafe1.stub.c, one
#                   stub file per device architecture (each must register every kernel)
# usage: check_kernel_registration.sh <object file> <keep dir> <tu basename>
set -euo pipefail
obj="$1" keep="$2" tu="$3"
[[ -f "$obj" ]] || { echo "missing $obj" >&2; exit 1; }
shopt -s nullglob
stubs=("$keep/$tu"*.cudafe1.stub.c)  # <tu>.cudafe1.stub.c, or <tu>.compute_XX.cudafe1.stub.c per architecture
((${#stubs[@]})) || { echo "no $keep/$tu*.cudafe1.stub.c (built with --keep --keep-dir $keep?)" >&2; exit 1; }
host="$(nm "$obj" | perl -ne 'print "$1\n" while /__device_stub__(Z\w*?vT_)/g' | sort -u)"
n_host="$(grep -c . <<<"$host" || true)"
if [[ "$n_host" -eq 0 ]]; then
  echo "no kernel stubs found in $obj: the check itself is broken" >&2
  exit 1
fi
status=0
for stub in "${stubs[@]}"; do
  registered="$(grep -o '__cudaRegisterEntry([^;]*' "$stub" | perl -ne 'print "$1\n" while /, _(Z\w+), \(-1\)/g' | sort -u)"
  missing="$(comm -23 <(printf '%s\n' "$host") <(printf '%s\n' "$registered") | grep . || true)"
  if [[ -n "$missing" ]]; then
    echo "$(basename "$stub"): kernels launched by host code but not compiled for this device pass:" >&2
    printf '%s\n' "$missing" | sed 's/^/_/' | c++filt | sed 's/^/  /' >&2
    status=1
  else
    echo "$(basename "$stub"): all $n_host kernels launched by host code compiled and registered"
  fi
done
exit $status

# shellcheck shell=bash
# Shared set-up for scripts/demo and scripts/test (sourced, not run).
#   taynode_setup           Debian packages (installs them as root, else prints the apt-get line)
#   taynode_configure       cmake configure of $TAYNODE_BUILD_DIR ($TAYNODE_BUILD_TYPE, default Release)
#   taynode_build [target]  build the default targets, or the given ones, with -j$(nproc)
# Environment: TAYNODE_BUILD_DIR (default <repo>/build), TAYNODE_CMAKE_ARGS (extra configure args),
#              TAYNODE_JOBS (default: nproc).

set -euo pipefail

TAYNODE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TAYNODE_BUILD_DIR="${TAYNODE_BUILD_DIR:-$TAYNODE_ROOT/build}"
TAYNODE_JOBS="${TAYNODE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
TAYNODE_BUILD_TYPE="${TAYNODE_BUILD_TYPE:-Release}"

# What the build needs, and what it uses when present (Boost.Odeint: optional benchmark baseline;
# MPI: the data-parallel tests; Ninja: the generator of new build dirs).
TAYNODE_REQUIRED_PACKAGES=(cmake make g++ libeigen3-dev catch2 libbenchmark-dev libcli11-dev gnuplot-nox)
TAYNODE_OPTIONAL_PACKAGES=(libboost-dev libopenmpi-dev openmpi-bin ninja-build)

taynode_log() { printf '[taynode] %s\n' "$*" >&2; }
taynode_die() { taynode_log "error: $*"; exit 1; }

# Prints the packages among "$@" that dpkg does not report as installed.
taynode_missing_packages() {
  local pkg
  for pkg in "$@"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" != ii* ]]; then
      printf '%s\n' "$pkg"
    fi
  done
}

taynode_apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet: on failure, update them and try once more.
  if ! apt-get install -y -q --no-install-recommends "$@"; then
    taynode_log "apt-get install failed; running apt-get update and retrying"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "$@"
  fi
}

taynode_setup() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    taynode_log "no dpkg: not a Debian system. Needed: CMake >= 3.25, a C++20 compiler, Eigen 3.4,"
    taynode_log "Catch2 2.x, Google Benchmark (optional: Boost headers). Continuing with what is installed."
    return 0
  fi
  local missing_required missing_optional
  mapfile -t missing_required < <(taynode_missing_packages "${TAYNODE_REQUIRED_PACKAGES[@]}")
  mapfile -t missing_optional < <(taynode_missing_packages "${TAYNODE_OPTIONAL_PACKAGES[@]}")
  local missing=("${missing_required[@]}" "${missing_optional[@]}")
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ "$(id -u)" == 0 ]]; then
    taynode_log "installing Debian packages: ${missing[*]}"
    taynode_apt_install "${missing[@]}"
  elif ((${#missing_required[@]} > 0)); then
    taynode_log "missing Debian packages; install them with:"
    printf '  sudo apt-get install -y --no-install-recommends %s\n' "${missing[*]}" >&2
    exit 1
  else
    taynode_log "optional package(s) not installed (some benchmark baselines, or the MPI tests, are skipped): ${missing_optional[*]}"
    taynode_log "  sudo apt-get install -y --no-install-recommends ${missing_optional[*]}"
  fi
}

taynode_configure() {
  local cache="$TAYNODE_BUILD_DIR/CMakeCache.txt"
  # A build dir configured for another source tree (e.g. a copied checkout) cannot be reused.
  if [[ -f "$cache" ]]; then
    local src
    src="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")"
    if [[ -n "$src" && "$(cd "$src" 2>/dev/null && pwd -P)" != "$TAYNODE_ROOT" ]]; then
      taynode_log "$TAYNODE_BUILD_DIR was configured for $src; starting it afresh"
      rm -rf "$TAYNODE_BUILD_DIR"
    fi
  fi
  # Ninja when installed (Debian: ninja-build) for a new build dir: it rebuilds an object only when
  # its command line changed, so reconfiguring with another option (.ci/run's CUDA step) does not
  # recompile what the option does not touch, as Make does when a target's flags file is rewritten.
  # An existing build dir keeps its generator (CMake refuses to switch).
  local generator=()
  if [[ ! -f "$cache" ]] && command -v ninja >/dev/null 2>&1 && [[ -z "${CMAKE_GENERATOR:-}" ]]; then
    generator=(-G Ninja)
  fi
  # Always re-run: cheap, and picks up new test/example/benchmark folders (they are globbed).
  # shellcheck disable=SC2086  # TAYNODE_CMAKE_ARGS is a list of words on purpose
  cmake -S "$TAYNODE_ROOT" -B "$TAYNODE_BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE="$TAYNODE_BUILD_TYPE" \
        ${TAYNODE_CMAKE_ARGS:-} >/dev/null \
    || taynode_die "cmake configure failed (rerun without >/dev/null: cmake -S $TAYNODE_ROOT -B $TAYNODE_BUILD_DIR)"
}

# shellcheck disable=SC2120  # called with and without targets
taynode_build() {
  local targets=()
  local t
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$TAYNODE_BUILD_DIR" -j "$TAYNODE_JOBS" "${targets[@]}" \
    || taynode_die "build failed (see the compiler messages above)"
}

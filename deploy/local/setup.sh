#!/usr/bin/env bash
# Installs what is missing (Debian bookworm packages) and builds everything in build/.
# Used by deploy/local/run.sh, tests/run.sh and bench/run.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

packages=(build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libpq-dev libssl-dev googletest libgtest-dev libgmock-dev
  postgresql postgresql-contrib prometheus-cpp-dev openssl clang-format clang-14)
# Callers add their own (tests/sanitize.sh and tests/fuzz/run.sh: clang-14, libfuzzer-14-dev).
read -r -a extra <<<"${EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_dir=${BUILD_DIR:-$root/build}
# The project's compiler is clang-14: its -Wthread-safety analysis checks the lock annotations
# (CMakeLists.txt), and -Werror makes a finding fail the build. CXX picks another one.
cxx=$(command -v "${CXX:-clang++-14}")
# CMAKE_ARGS (e.g. -DSANITIZE=thread for build-tsan/) configures a build directory of its own;
# BUILD_TARGETS limits what is built (default: everything). A build directory configured with
# another compiler (before clang-14 was the project's) is configured again, from scratch.
read -r -a cmake_args <<<"${CMAKE_ARGS:-}"
cache=$build_dir/CMakeCache.txt
compiler_args=()
if ! [[ " ${cmake_args[*]} " == *" -DCMAKE_CXX_COMPILER="* ]]; then
  compiler_args=(-DCMAKE_CXX_COMPILER="$cxx")
  if [ -f "$cache" ] && ! grep -qx "CMAKE_CXX_COMPILER:[A-Z]*=$cxx" "$cache"; then
    echo "setup.sh: $build_dir was configured with another compiler; configuring it for $cxx"
    rm -rf "$cache" "$build_dir/CMakeFiles"
  fi
fi
if [ ! -f "$cache" ] || ((${#cmake_args[@]})); then
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${compiler_args[@]}" "${cmake_args[@]}"
fi
read -r -a targets <<<"${BUILD_TARGETS:-}"
build_args=()
if ((${#targets[@]})); then build_args=(--target "${targets[@]}"); fi
cmake --build "$build_dir" "${build_args[@]}" -- -j"${BUILD_JOBS:-$(nproc)}"

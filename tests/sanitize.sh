#!/usr/bin/env bash
# Runs test subsets under sanitizers, each in a build directory of its own made from the same
# CMakeLists.txt (option SANITIZE), against a private PostgreSQL (tests/run.sh):
#   tests/sanitize.sh asan   unit and integration tests under AddressSanitizer (with LeakSanitizer)
#                            and UndefinedBehaviorSanitizer, in build-asan/
#   tests/sanitize.sh tsan   the relay, create batcher and connection pool tests (and the outbox and
#                            group-commit tests that drive them) under ThreadSanitizer, in build-tsan/
# Any report fails the test that produced it (-fno-sanitize-recover, halt_on_error). Extra
# arguments go to ctest (e.g. -R Outbox). Prints the wall time of the build and of the tests.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:?usage: tests/sanitize.sh asan|tsan [ctest arguments]}
shift

case "$mode" in
  asan)
    # The same tree as tests/fuzz/run.sh (FUZZ=ON adds coverage counters and the fuzz targets),
    # so the two share one clang build.
    cmake_args="-DSANITIZE=address,undefined -DFUZZ=ON"
    targets=""
    default_filter=(-L 'unit|integration')
    # detect_leaks: LSan runs at every normal exit, the services' included.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    ;;
  tsan)
    cmake_args="-DSANITIZE=thread"
    # Only what the subset runs: the order tests and the two service binaries they start.
    targets="order_unit_tests order_integration_tests order_service payment_service orderctl"
    default_filter=(-R 'CreateBatcher|GroupCommit|Outbox|RelayProcess|Pool|Repository')
    # The suppressions name only uninstrumented system libraries (tests/tsan.supp says why).
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp}
    ;;
  *)
    echo "usage: tests/sanitize.sh asan|tsan [ctest arguments]" >&2
    exit 2
    ;;
esac
(($#)) || set -- "${default_filter[@]}"

build_dir=$root/build-$mode
start=$(date +%s)
EXTRA_PACKAGES="clang-14 llvm-14 libfuzzer-14-dev" BUILD_DIR=$build_dir BUILD_TARGETS=$targets \
  CMAKE_ARGS="-DCMAKE_CXX_COMPILER=clang++-14 $cmake_args" "$root/deploy/local/setup.sh"
built=$(date +%s)
echo "sanitize $mode: build took $((built - start)) s"
# tests/run.sh starts the private PostgreSQL; setup.sh finds the tree built and does nothing.
status=0
BUILD_DIR=$build_dir BUILD_TARGETS=$targets "$root/tests/run.sh" "$@" || status=$?
echo "sanitize $mode: tests took $(($(date +%s) - built)) s, exit $status"
exit $status

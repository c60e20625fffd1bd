#!/usr/bin/env bash
# Builds every libFuzzer target of tests/fuzz/ with ASan and UBSan (clang-14, libFuzzer from
# Debian's libfuzzer-14-dev) into build-asan/ (the tree tests/sanitize.sh asan also uses: the
# same CMakeLists.txt with -DSANITIZE=address,undefined -DFUZZ=ON), then runs each target for
# SECONDS on its checked-in seed corpus tests/fuzz/corpus/<target>/. New inputs go to a scratch
# directory (FUZZ_WORK, default a fresh temporary one), never into the repository.
#
#   tests/fuzz/run.sh SECONDS [target ...]
#
# Prints one line per target: name, executions per second, coverage (edges) and features, corpus
# size (inputs), result. Exits non-zero on any finding (crash, sanitizer report, broken
# invariant, leak, timeout, out-of-memory); the input that caused it is copied to
# FUZZ_WORK/findings/<target>/ and the log kept in FUZZ_WORK/<target>.log. A fixed finding's
# input belongs in the target's corpus as a regression seed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${1:?usage: tests/fuzz/run.sh SECONDS [target ...]}
shift
build_dir=$root/build-asan

EXTRA_PACKAGES="clang-14 llvm-14 libfuzzer-14-dev" BUILD_DIR=$build_dir BUILD_TARGETS=fuzz_targets \
  CMAKE_ARGS="-DCMAKE_CXX_COMPILER=clang++-14 -DSANITIZE=address,undefined -DFUZZ=ON" \
  "$root/deploy/local/setup.sh" >&2

targets=("$@")
if ((${#targets[@]} == 0)); then
  for dir in "$root"/tests/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi
work=${FUZZ_WORK:-$(mktemp -d /tmp/fuzz.XXXXXX)}
mkdir -p "$work"
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, scratch $work" >&2

# A sanitizer report or a broken invariant aborts; a leak fails (LSan at exit of each input).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
printf '%-28s %10s %8s %9s %7s  %s\n' target execs/s cov features corpus result
for t in "${targets[@]}"; do
  bin=$build_dir/tests/fuzz/$t
  seeds=$root/tests/fuzz/corpus/$t
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    printf '%-28s %10s %8s %9s %7s  %s\n' "$t" - - - - "MISSING (binary or corpus)"
    failed=1
    continue
  fi
  scratch=$work/corpus/$t findings=$work/findings/$t log=$work/$t.log
  mkdir -p "$scratch" "$findings"
  status=0
  # The scratch directory comes first: new inputs are written there; the seeds are read only.
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$scratch" "$seeds" >"$log" 2>&1 ||
    status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo -)
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo -)
  corpus=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo -)
  if ((status == 0)); then
    result=ok
  else
    result="FINDING (exit $status, $execs runs; see $log, input in $findings/)"
    failed=1
  fi
  printf '%-28s %10s %8s %9s %7s  %s\n' "$t" "$rate" "$cov" "$ft" "$corpus" "$result"
done
exit $failed

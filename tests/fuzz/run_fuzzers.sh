#!/usr/bin/env bash
# Runs every libFuzzer target of a CORREIO_FUZZ build for FUZZ_SECONDS each
# (`make fuzz`; docs/fuzzing.md).
#
#   tests/fuzz/run_fuzzers.sh <build-dir> [target ...]
#
# Environment: FUZZ_SECONDS (default 60), FUZZ_JOBS (parallel fuzzing
# processes per target, default 1), FUZZ_ARGS (extra libFuzzer flags).
#
# The seed corpus in tests/fuzz/corpus/<target>/ is read-only input; what
# the fuzzer learns goes to <build-dir>/fuzz-corpus/<target>/ and crashes to
# <build-dir>/fuzz-crashes/<target>/. Exit status 1 if any target crashed,
# leaked, timed out or went over 512 MB; the crash files are listed so each
# can be copied into the seed corpus (then it is a regression test in
# `make test`, label fuzz-replay).
set -uo pipefail

build=$(cd "${1:?usage: run_fuzzers.sh <build-dir> [target ...]}" && pwd)
shift
src=$(cd "$(dirname "$0")" && pwd)
list="$build/tests/fuzz/fuzz_targets.txt"
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
if [ ! -f "$list" ]; then
  echo "run_fuzzers: $list missing: is $build a CORREIO_FUZZ build?" >&2
  exit 2
fi

# Symbolised stacks: the clang 16 runtime does not find Debian's unversioned
# llvm-symbolizer by itself.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  sym=$(command -v llvm-symbolizer-16 || command -v llvm-symbolizer || true)
  [ -n "$sym" ] && export ASAN_SYMBOLIZER_PATH=$sym
fi

failed=()
while read -r name exe; do
  [ -n "$name" ] || continue
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  work="$build/fuzz-corpus/$name"
  crashes="$build/fuzz-crashes/$name"
  mkdir -p "$work" "$crashes"
  seeds="$src/corpus/$name"
  echo "== $name: ${seconds}s"
  # -rss_limit_mb: unbounded allocation counts as a crash (issue 7);
  # -malloc_limit_mb defaults to it. -timeout: one input may not take more
  # than 10 s (quadratic behaviour shows up as a timeout).
  par=()
  # -jobs writes fuzz-<n>.log files into the current directory.
  [ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
  # shellcheck disable=SC2086
  (cd "$build/fuzz-crashes" && "$exe" -max_total_time="$seconds" \
    -rss_limit_mb=512 -timeout=10 -max_len=65536 -print_final_stats=1 \
    "${par[@]}" -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} "$work" "$seeds") \
    > "$build/fuzz-crashes/$name.log" 2>&1
  rc=$?
  tail -n 12 "$build/fuzz-crashes/$name.log" | grep -E '^(stat::|#[0-9]+.*DONE|==[0-9]+==ERROR|SUMMARY)' || true
  if [ $rc -ne 0 ] || [ -n "$(ls -A "$crashes")" ]; then
    echo "!! $name: exit $rc; log $build/fuzz-crashes/$name.log"
    ls "$crashes"
    failed+=("$name")
  fi
done < "$list"

if [ ${#failed[@]} -gt 0 ]; then
  echo "run_fuzzers: findings in: ${failed[*]}"
  exit 1
fi
echo "run_fuzzers: no findings"

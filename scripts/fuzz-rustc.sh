#!/bin/sh
# RUSTC_WRAPPER for scripts/fuzz.sh: adds libFuzzer's coverage
# instrumentation (SanitizerCoverage, stable rustc options) to gate's own
# code only: the gate-host library built with its `fuzzing` feature, and the
# fuzz targets. Dependencies are compiled as usual, so the fuzz build reuses
# what `cargo xtask test` already compiled, and the fuzzer's feedback comes
# from the code under test.
rustc="$1"
shift
instrument=no
previous=
for arg in "$@"; do
  case "$arg" in
    */fuzz_targets/*.rs) instrument=yes ;;
    'feature="fuzzing"') [ "$previous" = --cfg ] && instrument=yes ;;
  esac
  previous="$arg"
done
if [ "$instrument" = yes ]; then
  exec "$rustc" "$@" \
    -Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares
fi
exec "$rustc" "$@"

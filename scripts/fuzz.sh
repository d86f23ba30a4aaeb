#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60): coverage-guided
# libFuzzer on the stable toolchain, no cargo-fuzz and no nightly needed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Targets (fuzz/fuzz_targets/, entry points in host/src/fuzzing.rs):
#   config          gate.toml text: parsing, validation, environments
#   host_call_args  what guests hand the host and what the host decodes for
#                   them: URLs against the allow-list, durations, sizes,
#                   limits, guest text cleaning, Prometheus answers,
#                   minisign signatures
#   decision_log    a decision log anyone may have edited, read back as
#                   gate log stats and gate log show do
#   policy_bytes    arbitrary bytes loaded as a policy
#
# The build shares CARGO_TARGET_DIR (default ./target) with `cargo xtask
# test` and instruments only gate's code (scripts/fuzz-rustc.sh). Corpora
# grow under $CARGO_TARGET_DIR/fuzz/corpus. A crash stops the script with
# exit 1 and leaves the input in $CARGO_TARGET_DIR/fuzz/artifacts/TARGET/:
# fix the bug, then copy the input to fuzz/regressions/TARGET/, where
# `cargo test -p gate-host fuzzing` replays it forever.
#
# FUZZ_SEED=N makes a run reproducible: libFuzzer's random seed is fixed
# and the corpus starts afresh from the committed seeds (in
# $CARGO_TARGET_DIR/fuzz/seeded/), so a slower machine explores a prefix of
# what a faster one did with the same seed. `cargo xtask test`, and so CI,
# sets it: a test run must not fail on a new random find that has nothing
# to do with the change under test. Without it, every run explores anew
# and keeps its corpus: that is how bugs are hunted (`scripts/fuzz.sh 600`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(config host_call_args decision_log policy_bytes)
fi
target_dir=${CARGO_TARGET_DIR:-$root/target}
work=$target_dir/fuzz

# Not --locked: fuzz/Cargo.lock follows the main Cargo.lock, and a
# dependency added to gate-host must not break this step.
RUSTC_WRAPPER=$root/scripts/fuzz-rustc.sh \
  cargo build --manifest-path fuzz/Cargo.toml --target-dir "$target_dir" \
  $(printf -- '--bin %s ' "${targets[@]}")

seed_args=()
if [ -n "${FUZZ_SEED:-}" ]; then
  seed_args=(-seed="$FUZZ_SEED")
fi

for target in "${targets[@]}"; do
  corpus=$work/corpus/$target
  if [ -n "${FUZZ_SEED:-}" ]; then
    corpus=$work/seeded/$target
    rm -rf "$corpus"
  fi
  artifacts=$work/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  seeds=(fuzz/seeds/"$target" fuzz/regressions/"$target")
  max_len=65536
  if [ "$target" = policy_bytes ]; then
    # Real components to mutate: the committed fixture and whatever guests
    # are built.
    max_len=1048576
    for wasm in tests/fixtures/*.wasm policies/*.wasm smoke/*.wasm; do
      [ -f "$wasm" ] && cp "$wasm" "$corpus/"
    done
  fi
  echo "fuzz: $target for ${seconds}s${FUZZ_SEED:+ (seed $FUZZ_SEED)}"
  # -timeout: one input taking longer is a hang, reported as a crash.
  "$target_dir/debug/$target" "$corpus" "${seeds[@]}" \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${seed_args[@]}" \
    2>"$work/$target.log" || {
      tail -n 60 "$work/$target.log"
      echo "fuzz: $target found a crash; the input is in $artifacts/ (see scripts/fuzz.sh)" >&2
      exit 1
    }
  grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/$target.log" | sed "s/^/fuzz: $target /" || true
  echo "fuzz: $target ok"
done

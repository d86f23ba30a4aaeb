#!/usr/bin/env bash
# Instructions gate spends per check, counted by callgrind: stable on a
# noisy machine, unlike time. Runs host/benches/hot_path.rs (the one-check
# no-I/O policy through Runtime::run) with N runs and with none, prints the
# difference per run and the functions that cost the most.
#
#   bench/callgrind.sh [N]          (default 500; GATE_POOLING=off to compare)
#   bench/callgrind.sh --http [N]   the fifty HTTP checks against the sample
#                                   service, one at a time (default N: 10);
#                                   GATE_BENCH_CHECKS=C declares C instead
#
# Needs valgrind (Debian: `apt-get install valgrind`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
http=false
if [ "${1:-}" = --http ]; then http=true; shift; fi
checks=1
if $http; then runs=${1:-10}; checks=${GATE_BENCH_CHECKS:-50}; else runs=${1:-500}; fi
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 2; }

cargo build --quiet --target wasm32-wasip2 --profile guest -p gate-policy-bench
export GATE_BENCH_GUEST="$CARGO_TARGET_DIR/wasm32-wasip2/guest/gate_policy_bench.wasm"
bin=$(cargo bench --no-run -p gate-host --bench hot_path --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "hot_path" and m.get("executable"):
        print(m["executable"])')
[ -x "$bin" ] || { echo "callgrind.sh: the hot_path bench did not build" >&2; exit 2; }

work=$(mktemp -d)
service_pid=
cleanup() { [ -z "$service_pid" ] || kill "$service_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if $http; then
  # The server runs in its own process, so that its instructions are not
  # counted as gate's.
  cargo build --quiet --release -p gate-demo --bin sample-service
  "$CARGO_TARGET_DIR/release/sample-service" --listen 127.0.0.1:0 >"$work/service.out" &
  service_pid=$!
  for _ in $(seq 100); do grep -q listening "$work/service.out" && break; sleep 0.05; done
  url="$(sed -n 's/.*listening on //p' "$work/service.out")"
  [ -n "$url" ] || { echo "callgrind.sh: the sample service did not start" >&2; exit 2; }
  export GATE_BENCH_TARGET="$url"
fi
for n in 0 "$runs"; do
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.$n" "$bin" "$n" >/dev/null 2>"$work/log.$n" || {
    cat "$work/log.$n" >&2; exit 1; }
done
total() { sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$1"; }
base=$(total "$work/cg.0")
with=$(total "$work/cg.$runs")
what="no-I/O check"
$http && what="HTTP check (GET /api/v1/products from the sample service)"
echo "instructions per $what: $(( (with - base) / (runs * checks) )) (pooling ${GATE_POOLING:-on}; $runs runs of $checks)"
echo
# Where the per-check instructions go: a third run counting only inside
# each run of the check (Runtime::run: store, instantiation, run-check,
# report), so that compiling, done once, does not drown it.
valgrind --tool=callgrind --callgrind-out-file="$work/cg.check" --collect-atstart=no \
  '--toggle-collect=*setup::run_passing*' "$bin" "$runs" >/dev/null 2>"$work/log.check"
warm=""
$http && warm=", and the run before them that made the connections"
echo "inside Runtime::run, by inclusive cost over the $runs runs of $checks checks$warm:"
callgrind_annotate --inclusive=yes "$work/cg.check" 2>/dev/null |
  grep -E '^ *[0-9,]+ ' | head -n 60 || true

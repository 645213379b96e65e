#!/usr/bin/env bash
# Does the baseline gate cry wolf, and does it still catch a real regression?
#
#   A/A         PAIRS pairs of back-to-back runs of scenarios/ci-gate.toml against the embedded
#               verifier, the second compared with the first: every regression is false.
#   A/B latency the same scenario against `jwtstorm serve --delay 4ms` (baseline) and
#               `--delay 5ms` (current): 25% more service time; a pair without a regression
#               is a miss.
#   A/B rate    an open-loop run at 1,000/s against `serve --delay 10ms` with
#               `--max-concurrency 20` (capacity 2,000/s, baseline) and 9 (900/s, current):
#               throughput 10% below the offered rate; a pair without a throughput
#               regression is a miss.
#
# In the second half of each experiment's pairs a CPU hog (a shell busy loop) keeps the other
# core busy through both runs of the pair. Loopback only; every run is bounded by the scenario.
#   usage: benches/gate_noise.sh [PAIRS]        (default 20; about 6 s per run, 6 runs a pair)
set -euo pipefail
pairs=${1:-20}
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/jwtstorm
scenario=$PWD/scenarios/ci-gate.toml
tmp=$(mktemp -d)
hog=
trap '[ -n "$hog" ] && kill $hog 2>/dev/null; kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
head -c 32 /dev/urandom | base64 >"$tmp/secret"

serve() { # name, then serve flags; prints the URL
  local name=$1; shift
  $bin serve --scenario "$scenario" --secret-file "$tmp/secret" --listen 127.0.0.1:0 \
    --exit-after 3600s "$@" >"$tmp/$name.addr" 2>/dev/null &
  for _ in $(seq 100); do [ -s "$tmp/$name.addr" ] && break; sleep 0.1; done
  sed 's/listening on //' "$tmp/$name.addr"
}

hog_for() { # pair index: the second half of the pairs runs beside a busy loop
  if [ "$1" -gt $((pairs / 2)) ] && [ -z "$hog" ]; then
    sh -c 'while :; do :; done' &
    hog=$!
  fi
}

hog_off() { if [ -n "$hog" ]; then kill "$hog" 2>/dev/null || true; wait "$hog" 2>/dev/null || true; hog=; fi; }

run() { # out-dir, then run flags
  local out=$1; shift
  $bin run "$scenario" -q --out "$out" "$@" >/dev/null 2>"$out.err" || [ $? -eq 1 ]
}

verdicts() { # baseline, current: prints "REGRESSIONS THROUGHPUT? TOLERANCE-ALONE? WHICH.." (compare --json)
  $bin compare "$1/results.json" "$2/results.json" --json 2>/dev/null | python3 -c '
import json, sys
c = json.load(sys.stdin)["comparison"]["comparisons"]
reg = [x for x in c if x["verdict"] == "regression"]
tp = any(x["metric"] == "throughput" for x in reg)
# The rule before the statistical gate: any change beyond the tolerance.
def naive(x):
    ch, tol, d = x["change"], x["tolerance"], x["direction"]
    if d == "count_must_not_rise":
        return x["current"] > x["baseline"]
    if ch is None:
        return False
    return ch < -tol if d == "higher_is_better" else ch > tol
print(len(reg), int(tp), int(any(naive(x) for x in c)), " ".join(x["scope"] + "/" + x["metric"] for x in reg))'
}

experiment() { # name, baseline flags ; current flags (as two strings)
  local name=$1 base_flags=$2 cur_flags=$3 hits=0 tp_hits=0 naive_hits=0
  for i in $(seq "$pairs"); do
    hog_for "$i"
    local d="$tmp/$name/$i"; mkdir -p "$d"
    # shellcheck disable=SC2086
    run "$d/base" $base_flags
    # shellcheck disable=SC2086
    run "$d/cur" $cur_flags
    hog_off
    read -r n tp naive which <<<"$(verdicts "$d/base" "$d/cur") "
    [ "$n" -gt 0 ] && hits=$((hits + 1))
    [ "$tp" -gt 0 ] && tp_hits=$((tp_hits + 1))
    [ "$naive" -gt 0 ] && naive_hits=$((naive_hits + 1))
    printf '%-10s pair %2d %-5s %d regression(s) %s\n' "$name" "$i" \
      "$([ "$i" -gt $((pairs / 2)) ] && echo hog || echo idle)" "$n" "${which:-}"
  done
  echo "$name: $hits of $pairs pairs with a regression, $tp_hits with a throughput regression ($naive_hits with a change beyond a tolerance alone)" | tee -a "$tmp/summary"
}

experiment aa "" ""
slow4=$(serve slow4 --delay 4ms)
slow5=$(serve slow5 --delay 5ms)
experiment ab_latency "--url $slow4/protected --secret-file $tmp/secret" "--url $slow5/protected --secret-file $tmp/secret"
wide=$(serve wide --delay 10ms --max-concurrency 20)
capped=$(serve capped --delay 10ms --max-concurrency 9)
experiment ab_rate "--url $wide/protected --secret-file $tmp/secret" "--url $capped/protected --secret-file $tmp/secret"
echo
cat "$tmp/summary"

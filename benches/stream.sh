#!/usr/bin/env bash
# The streaming token source (tokens.source = "stream") against a batch minted before the run.
#
#   memory    peak RSS of the whole process (embedded verifier included) for HS256 at 20,000/s
#             with a fresh token every request: streamed for 60 s, pre-minted for 60 s (1.2
#             million tokens), and streamed for LONG (default 10m);
#   rates     the highest rate of unique ES256 and EdDSA tokens sustained on this machine's
#             cores with the embedded verifier: 10 s runs at growing rates, the last with no
#             mint-bound request and at least 99% of the schedule completed;
#   cpu       generator CPU per request (user + sys of the jwtstorm run process, start-up and any
#             pre-minting included) against a separate `jwtstorm serve`, HS256 and ES256 at
#             5,000/s for 20 s, streamed and pre-minted.
#
# Needs GNU time (/usr/bin/time, Debian package `time`). Loopback only; every run is bounded.
#   usage: benches/stream.sh [memory|rates|cpu|all] [LONG]
set -euo pipefail
what=${1:-all}
long=${2:-10m}
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || { echo "skipping: GNU time is not installed (apt-get install time)"; exit 0; }
cargo build --release --quiet
bin=$PWD/target/release/jwtstorm
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
soak=$PWD/scenarios/stream-soak.toml

field() { # results.json, python expression over r
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"
}

if [ "$what" = memory ] || [ "$what" = all ]; then
  for run in "stream 60s" "batch 60s" "stream $long"; do
    set -- $run
    flags=(-d "$2")
    [ "$1" = batch ] && flags+=(--count 1.2m)
    [ "$1" = batch ] && sed 's/^source = "stream"/source = "batch"/; s/^count = "unbounded".*$//' "$soak" >"$tmp/batch.toml"
    scenario=$soak
    [ "$1" = batch ] && scenario=$tmp/batch.toml
    /usr/bin/time -f '%M %e %U %S' -o "$tmp/time" "$bin" run "$scenario" -q --out "$tmp/m" "${flags[@]}" || true
    read -r kb wall user sys < <(tail -n 1 "$tmp/time")
    r=$tmp/m/results.json
    printf 'memory  %-6s %-4s  peak RSS %4d MB  wall %6.1fs  completed %s of %s  mint-bound %s\n' "$1" "$2" \
      $((kb / 1024)) "$wall" "$(field "$r" 'r["totals"]["completed"]')" "$(field "$r" 'r["totals"]["scheduled"]')" \
      "$(field "$r" '(r.get("stream") or {}).get("mint_bound", "-")')"
  done
fi

if [ "$what" = rates ] || [ "$what" = all ]; then
  for alg in ES256 EdDSA; do
    best=0
    for rate in 5000 10000 15000 20000 25000 30000 40000; do
      "$bin" run "$soak" -q --out "$tmp/r" --alg "$alg" --generate-keys --rate "$rate" -d 10s >/dev/null 2>&1 || true
      r=$tmp/r/results.json
      ok=$(field "$r" 'int(r["stream"]["mint_bound"] == 0 and r["totals"]["completed"] >= 0.99 * r["totals"]["scheduled"])')
      printf 'rates   %-5s %6d/s  completed %s of %s  mint-bound %s\n' "$alg" "$rate" \
        "$(field "$r" 'r["totals"]["completed"]')" "$(field "$r" 'r["totals"]["scheduled"]')" \
        "$(field "$r" 'r["stream"]["mint_bound"]')"
      [ "$ok" = 1 ] || break
      best=$rate
    done
    echo "rates   $alg: highest sustained unique-token rate $best/s"
  done
fi

if [ "$what" = cpu ] || [ "$what" = all ]; then
  head -c 32 /dev/urandom | base64 >"$tmp/secret"
  for alg in HS256 ES256; do
    "$bin" keys generate --alg "$alg" --out "$tmp/k$alg" >/dev/null
    "$bin" serve --keys-dir "$tmp/k$alg" --listen 127.0.0.1:0 --exit-after 600s >"$tmp/addr" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do [ -s "$tmp/addr" ] && break; sleep 0.1; done
    url=$(sed 's/listening on //' "$tmp/addr")/protected
    for source in stream batch; do
      flags=(--url "$url" --keys-dir "$tmp/k$alg" --alg "$alg" --rate 5000 -d 20s --no-preflight)
      if [ "$source" = stream ]; then flags+=(--stream --count unbounded); else flags+=(--count 100k); fi
      /usr/bin/time -f '%M %e %U %S' -o "$tmp/time" "$bin" run "$soak" -q --out "$tmp/c" "${flags[@]}" >/dev/null 2>&1 || true
      read -r kb wall user sys < <(tail -n 1 "$tmp/time")
      n=$(field "$tmp/c/results.json" 'r["totals"]["completed"] + r["warmup"]["completed"]')
      us=$(python3 -c "print(f'{($user + $sys) / $n * 1e6:.1f}')")
      printf 'cpu     %-5s %-6s  %s responses  %s us CPU/request  peak RSS %d MB\n' "$alg" "$source" "$n" "$us" $((kb / 1024))
    done
    kill $pid; wait $pid 2>/dev/null || true
    : >"$tmp/addr"
  done
fi

#!/usr/bin/env bash
# Throughput and server CPU per request of `jwtstorm serve`, against /healthz (a static 200),
# a valid HS256 token and a valid RS256 token. The server is pinned to core 0 with one worker
# thread, wrk (Debian package `wrk`) to core 1. Loopback only; each run is bounded by -d.
#   usage: benches/serve.sh [SECONDS]        (default 5)
set -euo pipefail
secs=${1:-5}
command -v wrk >/dev/null || { echo "skipping: wrk is not installed (apt-get install wrk)"; exit 0; }
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/jwtstorm
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
ticks=$(getconf CLK_TCK)

run_case() { # name alg
  local name=$1 alg=$2
  $bin keys generate --alg "$alg" --out "$tmp/k$alg" >/dev/null
  $bin mint --quiet --keys-dir "$tmp/k$alg" -n 1 --mix valid=1 --ttl 1h --out "$tmp/$alg.jwts"
  local token; token=$(tail -n 1 "$tmp/$alg.jwts" | cut -f3)
  taskset -c 0 $bin serve --keys-dir "$tmp/k$alg" --listen 127.0.0.1:0 --threads 1 --exit-after 120s >"$tmp/addr" 2>/dev/null &
  local pid=$!
  for _ in $(seq 50); do [ -s "$tmp/addr" ] && break; sleep 0.1; done
  local url; url=$(sed 's/listening on //' "$tmp/addr")
  for target in healthz protected; do
    local path=/$target header=()
    [ "$target" = protected ] && header=(-H "Authorization: Bearer $token")
    local before; before=$(awk '{print $14+$15}' /proc/$pid/stat)
    local out; out=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" "${header[@]}" "$url$path")
    local after; after=$(awk '{print $14+$15}' /proc/$pid/stat)
    local rps; rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    local reqs; reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    local non2xx; non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    local us; us=$(awk -v t=$((after-before)) -v hz="$ticks" -v n="$reqs" 'BEGIN {printf "%.1f", t/hz*1e6/n}')
    printf '%-6s %-10s %10s req/s  %6s us CPU/request  non-2xx: %s\n' "$name" "$path" "$rps" "$us" "${non2xx:-0}"
  done
  kill $pid; wait $pid 2>/dev/null || true
  : >"$tmp/addr"
}
run_case HS256 HS256
run_case RS256 RS256

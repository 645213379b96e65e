#!/usr/bin/env bash
# Load-generator CPU per request: jwtstorm (hyper and reqwest transports) against wrk and oha,
# side by side in one run. The target is nginx returning a small 200 (worker_processes 1,
# access_log off, keepalive_requests 1000000) pinned to core 0; every generator is pinned to
# core 1 and sends a ~300-byte bearer token. CPU is user+sys of the generator process divided by
# the responses it got. A peer that is not installed is skipped. Loopback only; every run is
# bounded by its duration.
#   usage: benches/replay.sh [SECONDS]        (default 10)
#   needs: nginx (apt-get install nginx-light); optional: wrk (apt), oha (cargo install oha)
set -euo pipefail
secs=${1:-10}
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "skipping: nginx is not installed (apt-get install nginx-light)"; exit 0; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/jwtstorm
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; kill "$(cat "$tmp/nginx.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$tmp"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp; uwsgi_temp_path $tmp; scgi_temp_path $tmp;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "ok\n"; }
  }
}
EOF
taskset -c 0 "$nginx_bin" -c "$tmp/nginx.conf" -p "$tmp" &
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$port/protected

# One batch of valid ~300-byte HS256 tokens for jwtstorm, and one such token for the others.
head -c 32 /dev/urandom | base64 >"$tmp/secret"
$bin mint --quiet --secret-file "$tmp/secret" --count 200k --mix valid=1 --size 300 --ttl 1h --out "$tmp/batch.jwts"
token=$(tail -n 1 "$tmp/batch.jwts" | cut -f3)
cat >"$tmp/bench.toml" <<EOF
name = "bench"
[target]
url = "$url"
[keys]
secret_file = "secret"
[tokens]
batch = "batch.jwts"
[load]
concurrency = 64
threads = 1
EOF

cpu() { awk '{printf "%.3f", $1 + $2}' "$1"; }
report() { # label responses cpu_seconds
  awk -v l="$1" -v n="$2" -v c="$3" -v s="$secs" 'BEGIN {
    if (n > 0) printf "%-34s %9.0f req/s  %6.1f us CPU/request  (%d responses, %.2f s CPU)\n", l, n/s, c*1e6/n, n, c;
    else printf "%-34s no responses\n", l }'
}

jwtstorm_case() { # label extra-args...
  local label=$1; shift
  rm -rf "$tmp/out"
  taskset -c 1 /usr/bin/time -f "%U %S" -o "$tmp/time" $bin run "$tmp/bench.toml" -q --out "$tmp/out" -d "${secs}s" "$@" || true
  local n; n=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["totals"]["completed"]+r["warmup"]["completed"])' "$tmp/out/results.json")
  report "$label" "$n" "$(cpu "$tmp/time")"
}

oha_case() { # label extra-args...
  local label=$1; shift
  command -v oha >/dev/null || { echo "$label: skipped (oha is not installed: cargo install oha)"; return; }
  taskset -c 1 /usr/bin/time -f "%U %S" -o "$tmp/time" oha --no-tui --output-format json -c 64 -z "${secs}s" \
    -H "Authorization: Bearer $token" "$@" "$url" >"$tmp/oha.json" 2>/dev/null || true
  local n; n=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(r["statusCodeDistribution"].values()))' "$tmp/oha.json")
  report "$label" "$n" "$(cpu "$tmp/time")"
}

echo "closed loop, 64 connections, ${secs}s, generator on core 1, nginx on core 0"
if command -v wrk >/dev/null; then
  taskset -c 1 /usr/bin/time -f "%U %S" -o "$tmp/time" wrk -t1 -c64 -d"${secs}s" -H "Authorization: Bearer $token" "$url" >"$tmp/wrk.txt"
  report "wrk -t1 -c64" "$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")" "$(cpu "$tmp/time")"
else
  echo "wrk: skipped (not installed: apt-get install wrk)"
fi
oha_case "oha -c64"
jwtstorm_case "jwtstorm run (hyper)"
jwtstorm_case "jwtstorm run (reqwest)" --transport reqwest

for rate in 2000 10000; do
  echo "open loop, ${rate} requests/s, ${secs}s"
  oha_case "oha -q $rate --latency-correction" -q "$rate" --latency-correction
  jwtstorm_case "jwtstorm run --rate $rate (hyper)" --rate "$rate"
done

#!/usr/bin/env bash
# `jwtstorm merge` at fleet scale: 1,000 segment results files merged, wall time and peak RSS of
# the merge process (GNU time), median of REPEATS runs with the range.
#
# The segments are real: three segments (0, 1 and 2 of 1,000) of one 60-second open-model run at
# a fleet-wide 1,000,000 requests/s (1,000/s per segment, 2 connections each) against a
# `jwtstorm serve` on loopback, with five token classes, so each file holds 60 timeline seconds
# with their histograms and a dozen class histograms; each is copied to stand for every third
# segment of the 1,000 (only the segment number differs). The merge reads them all and renders
# every report of the merged run.
#
# Needs GNU time (/usr/bin/time, Debian package `time`) and python3. Loopback only; every run is
# bounded by its duration.
#   usage: benches/merge.sh [SEGMENTS] [REPEATS]        (default 1000 3)
set -euo pipefail
segments=${1:-1000}
repeats=${2:-3}
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || { echo "skipping: GNU time is not installed (apt-get install time)"; exit 0; }
cargo build --release --quiet
bin=$PWD/target/release/jwtstorm
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

"$bin" keys generate --alg HS256 --out "$tmp/keys" >/dev/null
"$bin" serve --keys-dir "$tmp/keys" --listen 127.0.0.1:0 >"$tmp/serve.out" 2>/dev/null &
for _ in $(seq 100); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$tmp/serve.out" | head -1)/protected
pids=()
start=$(date -u -d '+5 sec' +%Y-%m-%dT%H:%M:%SZ)
for i in 0 1 2; do
  "$bin" run --url "$url" --keys-dir "$tmp/keys" --rate 1000000 -d 60s -c $((2 * segments)) \
    --mix valid=80,expired=5,bad_signature=5,alg_none=5,tampered_payload=5 --count 60m \
    --segment "$i/$segments" --start-at "$start" --no-preflight -q -o "$tmp/real/seg-$i" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
python3 - "$tmp" "$segments" <<'PY'
import json, os, sys
tmp, n = sys.argv[1], int(sys.argv[2])
real = [json.load(open(f"{tmp}/real/seg-{i}/results.json")) for i in range(3)]
for s in range(n):
    r = real[s % 3]
    r["fleet"]["segment"] = s
    os.makedirs(f"{tmp}/fleet/seg-{s}", exist_ok=True)
    with open(f"{tmp}/fleet/seg-{s}/results.json", "w") as f:
        json.dump(r, f)
size = sum(os.path.getsize(f"{tmp}/fleet/seg-{s}/results.json") for s in range(n))
print(f"{n} segment files, {size / 1e6:.0f} MB in all ({size / n / 1e3:.0f} kB each), "
      f"{len(real[0]['timeline'])} timeline seconds and {len(real[0]['histograms'])} histograms each")
PY
for r in $(seq "$repeats"); do
  rm -rf "$tmp/merged"
  /usr/bin/time -f "%e %M" -o "$tmp/time.$r" "$bin" merge "$tmp/fleet" --out "$tmp/merged" -q
done
python3 - "$tmp" "$repeats" <<'PY'
import json, statistics, sys
tmp, k = sys.argv[1], int(sys.argv[2])
runs = [tuple(float(x) for x in open(f"{tmp}/time.{i}").read().split()) for i in range(1, k + 1)]
wall = sorted(w for w, _ in runs)
rss = sorted(m / 1024 for _, m in runs)
r = json.load(open(f"{tmp}/merged/results.json"))
print(f"merge of {len(r['fleet']['merged'])} segments ({r['totals']['sent']:,} requests): "
      f"wall {statistics.median(wall):.2f} s (range {wall[0]:.2f}-{wall[-1]:.2f}), "
      f"peak RSS {statistics.median(rss):.0f} MB (range {rss[0]:.0f}-{rss[-1]:.0f}), {k} runs")
PY

#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 1,000,000) and prints one line each:
# target, executions, seconds, crashes. Needs cargo-fuzz (`cargo install cargo-fuzz`); the
# stable toolchain builds it with RUSTC_BOOTSTRAP=1. Crashes land in fuzz/artifacts/TARGET/.
set -uo pipefail
cd "$(dirname "$0")"
RUNS="${1:-1000000}"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O >/dev/null 2>&1 || { echo "cargo fuzz build failed" >&2; exit 2; }
for t in scenario batch token units thresholds results; do
  start=$(date +%s)
  log=$(mktemp)
  cargo fuzz run -O "$t" -- -runs="$RUNS" -max_len=4096 >"$log" 2>&1
  code=$?
  end=$(date +%s)
  done_line=$(grep -E "^Done [0-9]+ runs" "$log" | tail -1)
  crashes=$(ls "artifacts/$t" 2>/dev/null | wc -l)
  echo "$t: ${done_line:-did not finish (exit $code)} in $((end - start)) s wall, $crashes crash file(s)"
  rm -f "$log"
done

#!/usr/bin/env bash
# Run posture's fuzz targets (cargo fuzz, nightly toolchain; `cargo install cargo-fuzz` once).
#
#   scripts/fuzz.sh [--runs N | --seconds S] [TARGET...]
#
# Each target starts from its seeds (fuzz/seeds/TARGET: records, files and flights from the
# lab) and keeps what it learns in fuzz/corpus/TARGET (not committed). Default: every target,
# 60 seconds each. It prints each target's executions and ends non-zero if one crashed; the
# crashing input is in fuzz/artifacts/TARGET/ (make it a regression test).
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time=60)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) limit=(-runs="$2"); shift 2 ;;
    --seconds) limit=(-max_total_time="$2"); shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
failed=0
mkdir -p target/fuzz-logs
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log="target/fuzz-logs/$t.log"
  if cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- "${limit[@]}" -print_final_stats=1 > "$log" 2>&1; then
    result=ok
  else
    result=CRASH
    failed=1
  fi
  runs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  printf '%-18s %-6s %s executions\n' "$t" "$result" "${runs:-?}"
done
exit $failed

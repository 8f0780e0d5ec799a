#!/usr/bin/env bash
# The collector's performance figures (issue 11): ingestion through the API (findings judged
# and stored per second) and GET /api/v1/scores latency, on SQLite and on PostgreSQL
# (127.0.0.1:5432, a scratch database created and dropped here). Release build.
#
#   scripts/bench-collector.sh [DOMAINS]     default 10000 domains (about 40,000 observations)
set -euo pipefail
cd "$(dirname "$0")/.."
domains="${1:-10000}"
cargo build --release --quiet -p posture-lab --bin posture-collector-bench
bench=target/release/posture-collector-bench
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
"$bench" --domains "$domains"
if command -v psql >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  db="posture_bench_$$"
  psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $db"
  trap 'psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
  "$bench" --domains "$domains" --database "postgres://postgres@127.0.0.1:5432/$db"
else
  echo "PostgreSQL is not running at 127.0.0.1:5432: its figure is skipped"
fi

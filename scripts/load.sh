#!/usr/bin/env bash
# The collector under load (issue 15): N simulated agents at once (default 1000) against one
# collector process, on SQLite and on PostgreSQL (127.0.0.1:5432, a scratch database created
# and dropped here), loopback only. Release build. Prints throughput, latency percentiles, the
# waits agents were told to make, errors and the collector's peak memory; fails on any error.
#
#   scripts/load.sh [AGENTS] [BATCHES]
set -euo pipefail
cd "$(dirname "$0")/.."
agents="${1:-1000}"
batches="${2:-3}"
cargo build --release --quiet -p posture-lab --bin posture-load --bin posture-collector-lab
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
target/release/posture-load --agents "$agents" --batches "$batches"
if command -v psql >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  db="posture_load_$$"
  psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $db"
  trap 'psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
  target/release/posture-load --agents "$agents" --batches "$batches" \
    --database "postgres://postgres@127.0.0.1:5432/$db"
else
  echo "PostgreSQL is not running at 127.0.0.1:5432: its run is skipped"
fi

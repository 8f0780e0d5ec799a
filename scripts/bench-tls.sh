#!/usr/bin/env bash
# Side-by-side timing of a full TLS enumeration by posture, sslscan and sslyze against the same
# local openssl s_server instances (127.0.0.1 only), median of N runs each, with ratios.
#
#   scripts/bench-tls.sh [RUNS]       needs what scripts/test.sh installs; builds posture-agent --release
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
sslyze=${POSTURE_SSLYZE:-/opt/posture-venvs/sslyze/bin/sslyze}
cargo build --quiet --release -p posture-agent
agent=target/release/posture-agent
# shellcheck source=scripts/lib/openssl-servers.sh
. scripts/lib/openssl-servers.sh
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() { # command...
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s.%N); "$@" > /dev/null 2>&1 || true; t1=$(date +%s.%N)
    awk "BEGIN {print $t1 - $t0}"
  done | median
}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); runs: $runs (median)"
for spec in "default:" "legacy:-cipher ALL:@SECLEVEL=0 -min_protocol TLSv1"; do
  name=${spec%%:*}; args=${spec#*:}
  # shellcheck disable=SC2086
  port=$(start "$name" $args)
  p=$(time_runs "$agent" scan "tls://127.0.0.1:$port" --format json)
  s=$(time_runs sslscan --no-colour "127.0.0.1:$port")
  y=$(time_runs "$sslyze" --sslv2 --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3 "127.0.0.1:$port{127.0.0.1}")
  conns=$("$agent" scan "tls://127.0.0.1:$port" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["observations"][0]["scan"]["connections"])')
  printf '%-8s posture %6.2fs (%s connections)  sslscan %6.2fs (x%.1f)  sslyze %6.2fs (x%.1f)\n' \
    "$name" "$p" "$conns" "$s" "$(awk "BEGIN {print $s / $p}")" "$y" "$(awk "BEGIN {print $y / $p}")"
done

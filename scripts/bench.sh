#!/usr/bin/env bash
# The benchmarks of issue 16, side by side on this machine, and BENCHMARKS.md regenerated from
# them: posture's TLS scan next to sslyze, sslscan, nmap's ssl-enum-ciphers and testssl.sh on
# the lab's TLS configurations (scripts/lib/bench_tls.py), and the collector's ingestion and
# scores latency (scripts/bench-collector.sh). Loopback only. Needs root (as scripts/test.sh:
# it installs what is missing, and the STARTTLS server listens on 127.0.0.2:25).
#
#   scripts/bench.sh [--runs N] [--only CONFIG,...] [--tools TOOL,...] [--no-collector] [--no-sweep]
#
# The national sweep (tests/src/bin/posture-sweep.rs, 10,000 domains) takes about five minutes.
#
# testssl.sh takes about a minute per run: `--runs 5` over nine configurations is most of an
# hour. BENCHMARKS.md is rewritten only by a full run (no --only / --tools).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5 only="" tools="" collector=1 sweep=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    --only) only=$2; shift ;;
    --tools) tools=$2; shift ;;
    --no-collector) collector=0 ;;
    --no-sweep) sweep=0 ;;
    *) sed -n '2,12p' "$0" >&2; exit 64 ;;
  esac
  shift
done

scripts/test.sh --setup-only
need=()
command -v nmap >/dev/null 2>&1 || need+=(nmap)
command -v testssl >/dev/null 2>&1 || need+=(testssl.sh)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
cargo build --quiet --release --locked -p posture-agent
venvs="${POSTURE_VENVS:-/opt/posture-venvs}"
raw=target/bench/tls.json
mkdir -p target/bench
tables=$(python3 scripts/lib/bench_tls.py --agent target/release/posture-agent \
  --sslyze "$venvs/sslyze/bin/sslyze" --openssl111 target/lab/openssl-1.1.1w/apps/openssl \
  --aiosmtpd-python "$venvs/aiosmtpd/bin/python" --runs "$runs" --only "$only" --tools "$tools" \
  --raw "$raw")
echo "$tables"
floor=target/bench/floor.json
python3 scripts/lib/bench_floor.py --agent target/release/posture-agent \
  --sslyze "$venvs/sslyze/bin/sslyze" > "$floor"

domains=target/bench/domains.json
if [ -z "$only$tools" ]; then
  cargo build --quiet --release --locked -p posture-lab --bin posture-demo
  python3 scripts/lib/bench_domains.py --demo target/release/posture-demo \
    --agent target/release/posture-agent --sslyze "$venvs/sslyze/bin/sslyze" \
    --checkdmarc "$venvs/checkdmarc/bin/checkdmarc" \
    --openssl111 target/lab/openssl-1.1.1w/apps/openssl --runs "$runs" --raw "$domains"
fi

collector_figures=""
if [ "$collector" = 1 ]; then
  collector_figures=$(scripts/bench-collector.sh 10000 2>&1; echo; scripts/load.sh 1000 3 2>&1)
  echo "$collector_figures"
fi

sweep_figures=""
if [ "$sweep" = 1 ]; then
  cargo build --quiet --release --locked -p posture-lab --bin posture-sweep
  sweep_figures=$(target/release/posture-sweep --domains 10000 --addresses 16 --ceiling-seconds 10 2>&1)
  echo "$sweep_figures"
fi

if [ -z "$only$tools" ]; then
  versions="posture-agent $(target/release/posture-agent --version | awk '{print $2}'); \
sslyze $("$venvs/sslyze/bin/pip" show sslyze 2>/dev/null | awk '/^Version/ {print $2}'); \
sslscan $(sslscan --version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | awk 'NF {print $1; exit}'); \
$(nmap --version | head -n1 | sed 's/ version//; s/ (.*//'); \
testssl.sh $(testssl --version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | awk '/testssl +[0-9]/ {print $2; exit}'); \
checkdmarc $("$venvs/checkdmarc/bin/pip" show checkdmarc 2>/dev/null | awk '/^Version/ {print $2}'); \
OpenSSL $(openssl version | awk '{print $2}') (servers), 1.1.1w (SSLv3 servers, testssl.sh's client); GnuTLS $(gnutls-serv --version 2>/dev/null | awk 'NR==1 {print $NF}')"
  python3 scripts/lib/write_benchmarks.py --tls "$raw" --domains "$domains" --floor "$floor" --runs "$runs" --versions "$versions" \
    --machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(. /etc/os-release; echo "$PRETTY_NAME")" \
    --collector "$collector_figures" --sweep "$sweep_figures" > BENCHMARKS.md
  echo "BENCHMARKS.md written"
fi

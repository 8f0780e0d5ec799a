#!/usr/bin/env bash
# Compares posture's TLS scan with testssl.sh on a few local servers (testssl takes about a
# minute per server, too slow for the test suite). Prints, per server and protocol, the suites
# each tool found and any difference. Everything runs on 127.0.0.1.
#
#   scripts/compare-testssl.sh            needs: testssl.sh (apt), openssl; builds posture-agent
set -euo pipefail
cd "$(dirname "$0")/.."
command -v testssl >/dev/null || { echo "install testssl.sh: apt-get install testssl.sh" >&2; exit 1; }
cargo build --quiet -p posture-agent
agent=target/debug/posture-agent
# shellcheck source=scripts/lib/openssl-servers.sh
. scripts/lib/openssl-servers.sh

compare() { # name, port
  local name=$1 port=$2
  echo "== $name (127.0.0.1:$port)"
  local t0=$(date +%s.%N)
  "$agent" scan "tls://127.0.0.1:$port" --format json > "$work/$name.posture.json"
  local t1=$(date +%s.%N)
  testssl --quiet --nodns none --warnings off --color 0 -p -E --jsonfile "$work/$name.testssl.json" "127.0.0.1:$port" > "$work/$name.testssl.txt" 2>&1 || true
  local t2=$(date +%s.%N)
  python3 - "$work/$name.posture.json" "$work/$name.testssl.json" "$t0" "$t1" "$t2" <<'PY'
import json, sys
posture = json.load(open(sys.argv[1]))
ours = {p["version"]: {s["id"] for s in p["cipher_suites"]} for p in posture["observations"][0]["tls"]["protocols"]}
conns = posture["observations"][0]["scan"]["connections"]
names = {"SSLv2": "SSLv2", "SSLv3": "SSLv3", "TLS1": "TLSv1.0", "TLS1_1": "TLSv1.1", "TLS1_2": "TLSv1.2", "TLS1_3": "TLSv1.3"}
theirs = {v: set() for v in names.values()}
offered = {}
for f in json.load(open(sys.argv[2])):
    fid = f.get("id", "")
    if fid in names:
        offered[names[fid]] = f.get("finding", "")
    if fid.startswith("cipher-tls") or fid.startswith("cipher-ssl"):
        # testssl -E: ids like "cipher-tls1_2_xc02f", "cipher-ssl3_x0a"
        proto, _, hexid = fid[len("cipher-"):].rpartition("_x")
        v = names.get(proto.upper(), {"SSL2": "SSLv2", "SSL3": "SSLv3"}.get(proto.upper()))
        if v:
            theirs[v].add(int(hexid, 16))
same = True
for v in names.values():
    o, t = ours.get(v, set()), theirs.get(v, set())
    mark = "same" if o == t else "DIFFERENT"
    same &= o == t
    extra = f" ours-only {sorted(hex(i) for i in o - t)} testssl-only {sorted(hex(i) for i in t - o)}" if o != t else ""
    print(f"  {v:8} posture {len(o):3}  testssl {len(t):3}  {mark}{extra}   (testssl: {offered.get(v, '?')})")
t0, t1, t2 = map(float, sys.argv[3:6])
print(f"  time: posture {t1 - t0:.1f}s ({conns} connections), testssl {t2 - t1:.1f}s; {'all suites agree' if same else 'suites differ'}")
PY
}

compare "openssl-default" "$(start openssl-default)"
compare "openssl-legacy" "$(start openssl-legacy -cipher 'ALL:@SECLEVEL=0' -min_protocol TLSv1 -serverpref)"
compare "openssl-tls1-only" "$(start openssl-tls1-only -tls1 -cipher 'ALL:@SECLEVEL=0')"

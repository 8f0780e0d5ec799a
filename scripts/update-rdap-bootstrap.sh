#!/usr/bin/env bash
# Refresh agent/data/rdap-dns.json from IANA (needs internet; never run by the tests).
# Keeps the HTTPS base URLs of each service (RFC 9224 section 3) and drops services without one.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
curl --fail --silent --show-error --proto '=https' https://data.iana.org/rdap/dns.json -o "$tmp"
python3 - "$tmp" "$here/agent/data/rdap-dns.json" <<'PY'
import json, sys
src = json.load(open(sys.argv[1]))
services = []
for entries, urls in src["services"]:
    https = [u for u in urls if u.startswith("https://")]
    if https:
        services.append([entries, https])
lines = ",\n".join("    " + json.dumps(s, separators=(",", ":")) for s in services)
out = ('{\n  "version": "%s",\n  "publication": "%s",\n  "description": "%s",\n  "services": [\n%s\n  ]\n}\n'
       % (src["version"], src["publication"], src["description"], lines))
json.loads(out)
open(sys.argv[2], "w").write(out)
print(f"{len(services)} services, publication {src['publication']}")
PY
echo "now update the publication date in agent/data/README.md"

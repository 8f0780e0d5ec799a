#!/usr/bin/env python3
"""`posture-agent scan DOMAIN` on the lab's two demo domains (well-run.test and
neglected.test: their nameservers, websites, mail servers, MTA-STS policy and registry), next
to checkdmarc on the same domains (the mail part) and the TLS peers on the well-run website
(the web part). Wall time, CPU and peak memory from GNU time (median of RUNS); DNS requests
counted by the lab's nameservers (`posture-demo --serve`), not by the tools.

Called by scripts/bench.sh; writes a Markdown table on stdout and the raw figures to --raw.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from bench_tls import timed  # noqa: E402
from write_benchmarks import domains_table  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", required=True, help="the posture-demo binary")
    ap.add_argument("--agent", required=True)
    ap.add_argument("--sslyze", required=True)
    ap.add_argument("--checkdmarc", required=True)
    ap.add_argument("--openssl111", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--raw", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="posture-bench-domains-")
    demo = subprocess.Popen([args.demo, "--serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        info = json.loads(demo.stdout.readline())

        def queries():
            demo.stdin.write("q\n")
            demo.stdin.flush()
            return int(demo.stdout.readline())

        domains = ["well-run.test", "neglected.test"]
        scan_args = [a for a in info["scan_args"] if a not in domains]
        web = next(a for a in scan_args if a.startswith("well-run.test:443:"))
        port = web.rsplit(":", 1)[1]
        out = os.path.join(work, "out")
        tools = [
            ("posture", "both domains whole: web, TLS, DNS, mail, registration",
             [args.agent, "scan", *domains, *scan_args, "--format", "json", "-o", out,
              "--progress", "never"]),
            ("checkdmarc", "both domains' mail DNS (SPF, DMARC, MX, MTA-STS, TLS-RPT; no TLS)",
             [args.checkdmarc, *domains, "--skip-tls", "-f", "json", "-n", info["port_53"],
              "-t", "3", "-o", out + ".json"]),
            ("sslyze", "the well-run website's TLS",
             [args.sslyze, "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2",
              "--tlsv1_3", f"127.0.0.1:{port}"]),
            ("sslscan", "the well-run website's TLS", ["sslscan", "--no-colour", f"127.0.0.1:{port}"]),
            ("nmap", "the well-run website's TLS",
             ["nmap", "-n", "-Pn", "-p", port, "--script", "ssl-enum-ciphers", "127.0.0.1"]),
            ("testssl.sh", "the well-run website's TLS",
             ["testssl", "--nodns", "none", "--warnings", "batch", "--quiet", "--color", "0",
              "--openssl", args.openssl111, "-p", "-E", f"127.0.0.1:{port}"]),
        ]
        raw = []
        for name, what, argv in tools:
            runs, asked = [], []
            for _ in range(args.runs):
                before = queries()
                runs.append(timed(argv, work))
                asked.append(queries() - before)
            row = {"tool": name, "what": what,
                   "wall_s": statistics.median(r[0] for r in runs),
                   "cpu_s": statistics.median(r[1] for r in runs),
                   "peak_mib": max(r[2] for r in runs) / 1024,
                   "exit": sorted({r[3] for r in runs}),
                   "dns_requests": statistics.median(asked)}
            raw.append(row)
            print(f"  {name}: {row['wall_s']:.2f} s, {row['dns_requests']:.0f} DNS requests",
                  file=sys.stderr)
    finally:
        demo.stdin.close()
        demo.wait(10)
    json.dump(raw, open(args.raw, "w"), indent=1)
    print(domains_table(args.raw))


if __name__ == "__main__":
    main()

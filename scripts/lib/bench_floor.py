#!/usr/bin/env python3
"""Where a short TLS scan's time goes, for the wall-time ratios in BENCHMARKS.md: posture's
fixed cost (start, load the standards, judge, write the report: a scan of a closed port), a
whole scan of the `modern` lab server with the CPU the server itself spent on it (from
/proc/PID/stat), and the peers' own start-up (`sslyze --help`, `testssl --version`).
Medians of RUNS. Called by scripts/bench.sh; JSON on stdout."""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_tls import THREE_TLS12, THREE_TLS13, Lab  # noqa: E402


def wall(argv, runs):
    out = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.monotonic() - started)
    return statistics.median(out)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", required=True)
    ap.add_argument("--sslyze", required=True)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="posture-bench-floor-")
    lab = Lab(work, "openssl", "")
    out = os.path.join(work, "out.json")
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        fixed = wall([args.agent, "scan", f"tls://127.0.0.1:{closed}", "--format", "json",
                      "-o", out], args.runs)
        host, port = lab.s_server(["-min_protocol", "TLSv1.2", "-cipher", THREE_TLS12,
                                   "-ciphersuites", THREE_TLS13])
        server = lab.procs[-1].pid
        before = cpu_seconds(server)
        whole = wall([args.agent, "scan", f"tls://{host}:{port}", "--format", "json", "-o", out],
                     args.runs)
        server_cpu = (cpu_seconds(server) - before) / args.runs
        sslyze_start = wall([args.sslyze, "--help"], 5)
        testssl_start = wall(["testssl", "--version"], 5)
    finally:
        lab.stop()
    json.dump({"runs": args.runs, "posture_fixed_s": fixed, "posture_modern_s": whole,
               "server_cpu_per_posture_scan_s": server_cpu, "sslyze_start_s": sslyze_start,
               "testssl_start_s": testssl_start}, sys.stdout)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""posture's TLS scan next to sslyze, sslscan, nmap's ssl-enum-ciphers and testssl.sh, side by
side on one machine: the same lab servers (127.0.0.0/8 only), each tool run RUNS times per
configuration. Wall time, CPU time (user + system, children included) and peak memory come from
GNU time; connections are counted on the server side, by a counting TCP proxy in front of the
server, in one more run per tool (never from a tool's own word); the protocol and suite sets
each tool reports are compared with posture's.

Called by scripts/bench.sh, which installs the tools and builds the agent; writes a Markdown
section on stdout and the raw figures as JSON to --raw.
"""

import argparse
import asyncio
import json
import logging
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

VERSIONS = ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


class CountingProxy:
    """Accepts on (host, port), counts each connection, and pipes it to the upstream."""

    def __init__(self, host, port, upstream):
        self.host, self.port, self.upstream = host, port, upstream
        self.count = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        )
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _serve(self, reader, writer):
        self.count += 1
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return

        async def pipe(r, w):
            try:
                while True:
                    data = await r.read(65536)
                    if not data:
                        break
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                try:
                    w.close()
                except OSError:
                    pass

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_open(host, port, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port}")


class Lab:
    """The servers of one benchmark run, stopped at the end."""

    def __init__(self, work, openssl111, aiosmtpd_python):
        self.work, self.openssl111, self.aiosmtpd_python = work, openssl111, aiosmtpd_python
        self.procs = []
        self.cert = os.path.join(work, "cert.pem")
        self.key = os.path.join(work, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
             "-out", self.cert, "-days", "30", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2"],
            check=True, capture_output=True)

    def s_server(self, args, binary="openssl"):
        port = free_port()
        p = subprocess.Popen(
            [binary, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", self.cert,
             "-key", self.key, "-www", "-quiet"] + args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_open("127.0.0.1", port)
        return ("127.0.0.1", port)

    def gnutls(self, priority):
        port = free_port()
        p = subprocess.Popen(
            ["gnutls-serv", "--port", str(port), "--x509certfile", self.cert,
             "--x509keyfile", self.key, "--priority", priority, "--http"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_open("127.0.0.1", port)
        return ("127.0.0.1", port)

    def smtp(self):
        """SMTP with STARTTLS on 127.0.0.2:25 (port 25, so nmap knows to ask STARTTLS): the
        dialogue written here, each reply in one write (sslscan reads a reply in one read), the
        TLS Python's (OpenSSL 3, its default settings)."""
        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)

        async def session(reader, writer):
            writer.write(b"220 127.0.0.2 ESMTP posture-bench\r\n")
            tls = False
            try:
                while True:
                    line = await asyncio.wait_for(reader.readline(), 30)
                    if not line:
                        break
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        extra = b"" if tls else b"250-STARTTLS\r\n"
                        writer.write(b"250-127.0.0.2\r\n" + extra + b"250 8BITMIME\r\n")
                    elif verb == b"STAR" and not tls:
                        writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                        await writer.drain()
                        await writer.start_tls(ctx)
                        tls = True
                    elif verb == b"QUIT":
                        writer.write(b"221 2.0.0 Bye\r\n")
                        await writer.drain()
                        break
                    else:
                        writer.write(b"250 2.0.0 OK\r\n")
                    await writer.drain()
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                pass
            finally:
                writer.close()

        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(loop)
            loop.run_until_complete(asyncio.start_server(session, "127.0.0.2", 25,
                                                         reuse_address=True))
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        wait_open("127.0.0.2", 25)
        return ("127.0.0.2", 25)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


# Mozilla's server-side TLS configurations (ssl-config.mozilla.org, guideline 5.7).
MOZILLA_INTERMEDIATE = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")
MOZILLA_OLD = (
    MOZILLA_INTERMEDIATE + ":ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:"
    "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA:"
    "DES-CBC3-SHA:@SECLEVEL=0")
THREE_TLS12 = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
THREE_TLS13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
GNUTLS_WEAK = ("NORMAL:+VERS-TLS1.0:+VERS-TLS1.1:+RSA:+3DES-CBC:+ARCFOUR-128:+SHA1:+MD5:"
               "%SERVER_PRECEDENCE")


def configurations(lab):
    """(name, what it is, start) for each lab configuration."""
    o111 = lab.openssl111
    return [
        ("modern", "TLS 1.2 + 1.3, three suites each (OpenSSL 3: the client's order)",
         lambda: lab.s_server(["-min_protocol", "TLSv1.2", "-cipher", THREE_TLS12,
                               "-ciphersuites", THREE_TLS13])),
        ("server-order", "the same, the server's order (-serverpref)",
         lambda: lab.s_server(["-min_protocol", "TLSv1.2", "-cipher", THREE_TLS12,
                               "-ciphersuites", THREE_TLS13, "-serverpref"])),
        ("tls13-only", "TLS 1.3 only (OpenSSL 3 defaults)",
         lambda: lab.s_server(["-tls1_3"])),
        ("intermediate", "Mozilla intermediate (TLS 1.2 + 1.3)",
         lambda: lab.s_server(["-min_protocol", "TLSv1.2", "-cipher", MOZILLA_INTERMEDIATE])),
        ("old", "Mozilla old (TLS 1.0-1.3, CBC and 3DES; OpenSSL 1.1.1w)",
         lambda: lab.s_server(["-min_protocol", "TLSv1", "-cipher", MOZILLA_OLD,
                               "-serverpref"], binary=o111)),
        ("legacy-cbc", "TLS 1.0-1.2, CBC suites only (OpenSSL 3)",
         lambda: lab.s_server(["-min_protocol", "TLSv1", "-max_protocol", "TLSv1.2", "-cipher",
                               "AES128-SHA:AES256-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:"
                               "DHE-RSA-AES128-SHA:@SECLEVEL=0"])),
        ("all-weak", "everything weak: SSLv3-TLS 1.2, RC4, 3DES, NULL, anonymous (OpenSSL 1.1.1w)",
         lambda: lab.s_server(["-min_protocol", "SSLv3", "-cipher",
                               "ALL:RC4:3DES:eNULL:aNULL:@SECLEVEL=0"], binary=o111)),
        ("gnutls-rc4-3des", "RC4 and 3DES with TLS 1.0-1.3, server order (GnuTLS)",
         lambda: lab.gnutls(GNUTLS_WEAK)),
        ("starttls", "SMTP STARTTLS (Python's OpenSSL 3 defaults behind an SMTP dialogue)",
         lambda: lab.smtp()),
    ]


def tools(agent, sslyze, openssl111):
    """name -> (command for host:port and an output file, starttls?) -> argv."""
    def posture(host, port, out, smtp):
        scheme = "smtp" if smtp else "tls"
        return [agent, "scan", f"{scheme}://{host}:{port}", "--format", "json", "--output", out,
                "--progress", "never"]

    def sslyze_cmd(host, port, out, smtp):
        argv = [sslyze, f"--json_out={out}", "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1",
                "--tlsv1_2", "--tlsv1_3"]
        if smtp:
            argv += ["--starttls", "smtp"]
        return argv + [f"{host}:{port}"]

    def sslscan(host, port, out, smtp):
        argv = ["sslscan", "--no-colour", f"--xml={out}"]
        if smtp:
            argv.append("--starttls-smtp")
        return argv + [f"{host}:{port}"]

    def nmap(host, port, out, smtp):
        return ["nmap", "-n", "-Pn", "-p", str(port), "--script", "ssl-enum-ciphers", "-oX", out,
                host]

    def testssl(host, port, out, smtp):
        argv = ["testssl", "--nodns", "none", "--warnings", "batch", "--quiet", "--color", "0",
                "--jsonfile", out, "--openssl", openssl111, "-p", "-E"]
        if smtp:
            argv += ["-t", "smtp"]
        return argv + [f"{host}:{port}"]

    return {"posture": posture, "sslyze": sslyze_cmd, "sslscan": sslscan, "nmap": nmap,
            "testssl.sh": testssl}


def timed(argv, work):
    """Run argv under GNU time: (wall s, cpu s, peak KiB, exit code)."""
    tf = os.path.join(work, "time")
    started = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", tf] + argv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - started
    with open(tf) as f:
        user, system, peak = f.read().strip().splitlines()[-1].split()
    return wall, float(user) + float(system), int(peak), p.returncode


# --- what each tool found: {(version, suite id or IANA name)} --------------------------------

def parse_posture(path):
    data = json.load(open(path))
    found = set()
    names = {}
    for p in data["observations"][0]["tls"]["protocols"]:
        for s in p.get("cipher_suites") or []:
            found.add((p["version"], s["id"]))
            names[s["name"]] = s["id"]
    return found, names


def parse_sslyze(path, names):
    data = json.load(open(path))
    keys = {"ssl_2_0": "SSLv2", "ssl_3_0": "SSLv3", "tls_1_0": "TLSv1.0", "tls_1_1": "TLSv1.1",
            "tls_1_2": "TLSv1.2", "tls_1_3": "TLSv1.3"}
    found = set()
    for server in data.get("server_scan_results", []):
        result = server.get("scan_result") or {}
        for k, v in keys.items():
            attempt = result.get(f"{k}_cipher_suites") or {}
            for a in (attempt.get("result") or {}).get("accepted_cipher_suites", []):
                name = a["cipher_suite"]["name"]
                found.add((v, names.get(name, name)))
    return found


def parse_sslscan(path, names):
    found = set()
    for c in ET.parse(path).getroot().iter("cipher"):
        if c.get("status") in ("accepted", "preferred"):
            found.add((c.get("sslversion"), int(c.get("id"), 16)))
    return found


def parse_nmap(path, names):
    found = set()
    for script in ET.parse(path).getroot().iter("script"):
        if script.get("id") != "ssl-enum-ciphers":
            continue
        for version in script.findall("table"):
            for cipher in version.iter("table"):
                for elem in cipher.findall("elem"):
                    if elem.get("key") == "name":
                        # nmap names TLS 1.3 suites as the drafts did (TLS_AKE_WITH_...).
                        name = elem.text.replace("TLS_AKE_WITH_", "TLS_")
                        found.add((version.get("key"), names.get(name, name)))
    return found


def parse_testssl(path, names):
    versions = {"ssl2": "SSLv2", "ssl3": "SSLv3", "tls1": "TLSv1.0", "tls1_1": "TLSv1.1",
                "tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}
    found = set()
    for entry in json.load(open(path)):
        m = re.match(r"^cipher-(ssl2|ssl3|tls1|tls1_1|tls1_2|tls1_3)_x([0-9a-f]+)$",
                     entry.get("id", ""))
        if m and "not offered" not in entry.get("finding", ""):
            found.add((versions[m.group(1)], int(m.group(2), 16)))
    return found


PARSERS = {"sslyze": parse_sslyze, "sslscan": parse_sslscan, "nmap": parse_nmap,
           "testssl.sh": parse_testssl}


def agreement(posture, other):
    if other == posture:
        return "same"
    missing = len(posture - other)
    extra = len(other - posture)
    versions = sorted({v for v, _ in (posture ^ other)})
    return f"differs: -{missing} +{extra} ({', '.join(versions)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", required=True)
    ap.add_argument("--sslyze", required=True)
    ap.add_argument("--openssl111", required=True)
    ap.add_argument("--aiosmtpd-python", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated configurations")
    ap.add_argument("--tools", default="", help="comma-separated tools")
    ap.add_argument("--raw", required=True)
    args = ap.parse_args()
    # The STARTTLS server's TLS ends are closed by clients mid-session: not worth a word.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    work = tempfile.mkdtemp(prefix="posture-bench-")
    lab = Lab(work, args.openssl111, args.aiosmtpd_python)
    commands = tools(args.agent, args.sslyze, args.openssl111)
    if args.tools:
        commands = {k: v for k, v in commands.items() if k in args.tools.split(",")}
    raw = []
    try:
        for name, what, start in configurations(lab):
            if args.only and name not in args.only.split(","):
                continue
            host, port = start()
            smtp = name == "starttls"
            print(f"{name}: {what} on {host}:{port}", file=sys.stderr)
            # The counting proxy: another loopback address, the same port.
            proxy_host = "127.0.0.3" if smtp else "127.0.0.1"
            proxy = CountingProxy(proxy_host, 25 if smtp else 0, (host, port))
            posture_set, names = None, {}
            for tool, argv_for in commands.items():
                out = os.path.join(work, f"{name}-{tool}.out")
                runs = []
                for _ in range(args.runs):
                    if os.path.exists(out):
                        os.remove(out)
                    runs.append(timed(argv_for(host, port, out, smtp), work))
                before = proxy.count
                subprocess.run(argv_for(proxy_host, proxy.port, out + ".counted", smtp),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.3)
                connections = proxy.count - before
                try:
                    if tool == "posture":
                        posture_set, names = parse_posture(out)
                        found, agrees = posture_set, "-"
                    else:
                        found = PARSERS[tool](out, names)
                        agrees = agreement(posture_set, found) if posture_set is not None else "?"
                except Exception as e:  # a tool that wrote nothing usable
                    found, agrees = set(), f"no result ({type(e).__name__})"
                row = {
                    "configuration": name, "what": what, "tool": tool, "runs": len(runs),
                    "wall_s": statistics.median(r[0] for r in runs),
                    "cpu_s": statistics.median(r[1] for r in runs),
                    "peak_mib": max(r[2] for r in runs) / 1024,
                    "exit": sorted({r[3] for r in runs}),
                    "connections": connections, "suites": len(found), "agreement": agrees,
                }
                raw.append(row)
                print(f"  {tool}: {row['wall_s']:.2f} s, {connections} connections, "
                      f"{row['suites']} suites, {agrees}", file=sys.stderr)
    finally:
        lab.stop()
    json.dump(raw, open(args.raw, "w"), indent=1)
    print(markdown(raw))


def markdown(raw):
    lines = []
    configs = []
    for r in raw:
        if r["configuration"] not in configs:
            configs.append(r["configuration"])
    for c in configs:
        rows = [r for r in raw if r["configuration"] == c]
        base = next((r for r in rows if r["tool"] == "posture"), None)
        lines.append(f"\n#### {c}\n")
        lines.append("| tool | connections | wall (median) | × posture | CPU (median) | peak memory "
                     "| suites | same sets as posture |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for r in rows:
            ratio = (f"{r['wall_s'] / base['wall_s']:.1f}" if base and base["wall_s"] > 0
                     else "-")
            lines.append(
                f"| {r['tool']} | {r['connections']} | {r['wall_s']:.2f} s | {ratio} "
                f"| {r['cpu_s']:.2f} s | {r['peak_mib']:.0f} MiB | {r['suites']} "
                f"| {r['agreement']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

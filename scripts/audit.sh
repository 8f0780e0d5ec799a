#!/usr/bin/env bash
# Known vulnerabilities in the dependency tree: `cargo deny check advisories`, which fetches the
# RustSec advisory database and so needs a network (it cannot run on the offline lab machine;
# the test command runs the offline checks: licenses, bans, sources).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo deny --version >/dev/null 2>&1 || cargo install --locked cargo-deny
exec cargo deny check advisories

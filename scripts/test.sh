#!/usr/bin/env bash
# The project's one test command: sets up what the tests need on this machine, then runs every
# check CI runs. Safe to run again; it installs nothing that is already there.
#
#   scripts/test.sh              set up, then fmt + clippy + all tests
#   scripts/test.sh --no-lint    set up, then tests only
#   scripts/test.sh --setup-only set up the lab only (scripts/bench.sh uses it)
set -euo pipefail
cd "$(dirname "$0")/.."

lint=1
setup_only=0
for arg in "$@"; do
  case "$arg" in
    --no-lint) lint=0 ;;
    --setup-only) setup_only=1 ;;
    *) echo "usage: scripts/test.sh [--no-lint | --setup-only]" >&2; exit 64 ;;
  esac
done

step() { printf '\n== %s\n' "$*"; }

# --- set-up -------------------------------------------------------------------------------
# The lab's real servers and reference scanners, each installed only when missing, so a fresh
# machine passes: Debian's openssl, gnutls-serv and sslscan, and sslyze and checkdmarc from
# PyPI, each in its own virtualenv (they pin conflicting cryptography versions). The checkdmarc
# comparison serves DNS on 127.0.0.35:53, so the tests need root (as CI runs them).
need_apt=()
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v gnutls-serv >/dev/null 2>&1 || need_apt+=(gnutls-bin)
command -v sslscan >/dev/null 2>&1 || need_apt+=(sslscan)
# To record where checkdmarc sends packets (loopback only, asserted by its test).
command -v strace >/dev/null 2>&1 || need_apt+=(strace)
# To measure the agent's peak memory against hostile peers.
[ -x /usr/bin/time ] || need_apt+=(time)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
# promtool, which parses the collector's /metrics as Prometheus does.
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# Alertmanager, which the collector's alerts may be routed to.
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
# Headless Chromium and its WebDriver, for the collector's page tests.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need_apt+=(fonts-dejavu-core)
# To build OpenSSL 1.1.1w (SSLv3, zlib compression) for the lab.
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v perl >/dev/null 2>&1 || need_apt+=(perl)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh: need root to install ${need_apt[*]} (or install them yourself)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

venvs="${POSTURE_VENVS:-/opt/posture-venvs}"
export POSTURE_SSLYZE="$venvs/sslyze/bin/sslyze"
if [ ! -x "$POSTURE_SSLYZE" ]; then
  step "pip install sslyze (into $venvs/sslyze)"
  mkdir -p "$venvs"
  python3 -m venv "$venvs/sslyze"
  "$venvs/sslyze/bin/pip" install -q --disable-pip-version-check 'sslyze>=6,<7'
fi

if [ ! -x target/lab/openssl-1.1.1w/apps/openssl ]; then
  step "build OpenSSL 1.1.1w for the lab (about a minute, once)"
  scripts/build-openssl-1.1.1.sh
fi

export POSTURE_CHECKDMARC="$venvs/checkdmarc/bin/checkdmarc"
if [ ! -x "$POSTURE_CHECKDMARC" ]; then
  step "pip install checkdmarc (into $venvs/checkdmarc)"
  python3 -m venv "$venvs/checkdmarc"
  "$venvs/checkdmarc/bin/pip" install -q --disable-pip-version-check 'checkdmarc>=5,<7'
fi

# A real SMTP server (aiosmtpd, with STARTTLS) for the collector's alert tests.
export POSTURE_AIOSMTPD_PYTHON="$venvs/aiosmtpd/bin/python"
if [ ! -x "$POSTURE_AIOSMTPD_PYTHON" ] || ! "$POSTURE_AIOSMTPD_PYTHON" -c 'import aiosmtpd' 2>/dev/null; then
  step "pip install aiosmtpd (into $venvs/aiosmtpd)"
  python3 -m venv "$venvs/aiosmtpd"
  "$venvs/aiosmtpd/bin/pip" install -q --disable-pip-version-check 'aiosmtpd>=1.4,<2'
fi

# The SPF community's conformance suite (the openspf RFC 7208 suite), from pyspf's source
# distribution on PyPI: test/rfc7208-tests.yml becomes tests/tests/e2e/spf_suite.rs's input.
if [ ! -s target/lab/rfc7208-tests.yml ]; then
  step "fetch the RFC 7208 conformance suite (pyspf 2.0.14 sdist)"
  scratch="$(mktemp -d)"
  "$venvs/checkdmarc/bin/pip" download -q --disable-pip-version-check --no-deps \
    --no-binary :all: pyspf==2.0.14 -d "$scratch"
  mkdir -p target/lab
  tar -xzf "$scratch"/pyspf-2.0.14.tar.gz -C "$scratch" pyspf-2.0.14/test/rfc7208-tests.yml
  mv "$scratch"/pyspf-2.0.14/test/rfc7208-tests.yml target/lab/rfc7208-tests.yml
  rm -rf "$scratch"
fi

step "toolchain"
cargo --version
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# Supply chain and fuzzing tools, built once from crates.io when missing.
if ! cargo deny --version >/dev/null 2>&1; then
  step "cargo install cargo-deny (once)"
  cargo install --locked --quiet cargo-deny
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && ! cargo fuzz --version >/dev/null 2>&1; then
  step "cargo install cargo-fuzz (once)"
  cargo install --locked --quiet cargo-fuzz
fi

# PostgreSQL is started by this machine kind before each session; make sure it is up for the
# store tests that will use it.
if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi

[ "$setup_only" = 1 ] && exit 0

# --- checks -------------------------------------------------------------------------------
if [ "$lint" = 1 ]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

step "cargo deny check licenses bans sources (advisories: scripts/audit.sh, needs a network)"
cargo deny --log-level error check licenses bans sources

# Every fuzz target builds (running them is scripts/fuzz.sh): a quick unoptimised build.
if cargo fuzz --version >/dev/null 2>&1 && rustup toolchain list | grep -q '^nightly'; then
  step "cargo +nightly fuzz build (every target)"
  cargo +nightly fuzz build --dev --sanitizer none
else
  echo "(no nightly toolchain or cargo-fuzz: the fuzz targets are not built)"
fi

step "policy lint"
cargo run --quiet --locked -p posture-agent -- policy lint policies/standards

# Tests reach servers only through --connect-to rules and addresses on loopback; a name that
# slipped through must fail rather than reach the machine's resolver.
export POSTURE_NO_SYSTEM_DNS=1

step "cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-targets --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one "test result" per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"

#!/usr/bin/env bash
# Builds OpenSSL 1.1.1w's `openssl` program with SSLv3, weak ciphers and zlib compression, for
# the TLS lab (Debian's OpenSSL 3 has none of them). The source comes from the crates.io
# package openssl-src 111.28.2 (which ships it); nothing is downloaded from anywhere else.
# Result: target/lab/openssl-1.1.1w/apps/openssl (about a minute on two cores; cached).
set -euo pipefail
cd "$(dirname "$0")/.."
out="target/lab/openssl-1.1.1w"
bin="$out/apps/openssl"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p target/lab/fetch-openssl-src/src
cat > target/lab/fetch-openssl-src/Cargo.toml <<'TOML'
[package]
name = "fetch-openssl-src"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
openssl-src = "=111.28.2"
[workspace]
TOML
echo 'fn main() {}' > target/lab/fetch-openssl-src/src/main.rs
cargo fetch --quiet --manifest-path target/lab/fetch-openssl-src/Cargo.toml
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/openssl-src-111.28.2*/openssl | head -n1)
[ -d "$src" ] || { echo "openssl-src 111.28.2 source not found after cargo fetch" >&2; exit 1; }
rm -rf "$out"
cp -r "$src" "$out"
cd "$out"
./config enable-ssl3 enable-ssl3-method enable-weak-ssl-ciphers zlib no-shared no-tests >/dev/null
make -j"$(nproc)" build_programs >/dev/null 2>&1
test -x apps/openssl
echo "$PWD/apps/openssl"

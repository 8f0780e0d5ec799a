# Sourced by scripts/bench-tls.sh and scripts/compare-testssl.sh: a scratch directory, a
# self-signed certificate for 127.0.0.1, and `start NAME S_SERVER_ARGS...`, which starts an
# openssl s_server on 127.0.0.1 port 0 and prints the port it got. Everything started is
# stopped, and the directory removed, when the calling script exits.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 30 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null

start() { # name, s_server args...
  local name=$1; shift
  openssl s_server -accept 127.0.0.1:0 -cert "$work/cert.pem" -key "$work/key.pem" -www "$@" \
    > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  for _ in $(seq 50); do
    port=$(grep -o 'ACCEPT 127.0.0.1:[0-9]*' "$work/$name.out" 2>/dev/null | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  echo "$port"
}

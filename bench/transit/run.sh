#!/usr/bin/env bash
# Transit benchmark: one dev server, wrk with 64 keep-alive connections on the same machine.
#   bench/transit/run.sh [seconds]       (default 20 s per case; needs build/tresor and wrk)
# Prints one line per case and the `openssl speed -multi 2 rsa2048` figure for comparison
# (with -elapsed, wall clock like wrk; plain `openssl speed` divides by CPU time instead).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${TRESOR_BUILD_DIR:-$root/build}"
dur="${1:-20}"
threads="${BENCH_THREADS:-2}"
conns="${BENCH_CONNS:-64}"
port="${BENCH_PORT:-18299}"
addr="http://127.0.0.1:$port"
work="$(mktemp -d)"
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; rm -rf "$work"' EXIT

# A non-dev server (in-memory storage, one unseal key) so only transit needs to be registered.
cat >"$work/config.hcl" <<HCL
storage "inmem" {}
listener "tcp" {
  address = "127.0.0.1:$port"
  tls_disable = 1
}
disable_mlock = true
HCL
"$build/tresor" server -config="$work/config.hcl" >"$work/server.log" 2>&1 &
srv=$!
for _ in $(seq 100); do curl -s "$addr/v1/sys/seal-status" >/dev/null 2>&1 && break; sleep 0.1; done
init="$(curl -sf -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$addr/v1/sys/init")"
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
TRESOR_TOKEN="$(echo "$init" | field 'd["root_token"]')"
export TRESOR_TOKEN
unseal_key="$(echo "$init" | field 'd["keys"][0]')"
curl -sf -X PUT -d "{\"key\":\"$unseal_key\"}" "$addr/v1/sys/unseal" >/dev/null

api() { curl -sf -H "X-Vault-Token: $TRESOR_TOKEN" -H "Content-Type: application/json" "$@"; }
api -X POST -d '{"type":"transit"}' "$addr/v1/sys/mounts/transit" >/dev/null
api -X POST -d '{"type":"aes256-gcm96"}' "$addr/v1/transit/keys/bench-aes" >/dev/null
api -X POST -d '{"type":"ed25519"}' "$addr/v1/transit/keys/bench-ed" >/dev/null
api -X POST -d '{"type":"rsa-2048"}' "$addr/v1/transit/keys/bench-rsa" >/dev/null

plain="$(head -c 1024 /dev/urandom | base64 -w0)"
printf '{"plaintext":"%s"}' "$plain" >"$work/encrypt.json"
ct="$(api -X POST --data-binary @"$work/encrypt.json" "$addr/v1/transit/encrypt/bench-aes" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["ciphertext"])')"
printf '{"ciphertext":"%s"}' "$ct" >"$work/decrypt.json"
msg="$(head -c 256 /dev/urandom | base64 -w0)"
printf '{"input":"%s"}' "$msg" >"$work/sign.json"

case_run() {  # name path body
  local out
  out="$(BENCH_PATH="$2" BENCH_BODY_FILE="$3" wrk -t"$threads" -c"$conns" -d"${dur}s" --latency \
        -s "$here/post.lua" "$addr" | grep '^RESULT')"
  printf '%-28s %s\n' "$1" "${out#RESULT }"
}

echo "transit benchmark: $conns keep-alive connections, $threads wrk threads, ${dur}s per case, $(nproc) cores"
# Warm-up (not reported): worker threads, allocator arenas and connections are set up on the
# first requests; without it the first case measured a cold server.
BENCH_PATH=/v1/transit/encrypt/bench-aes BENCH_BODY_FILE="$work/encrypt.json" \
  wrk -t"$threads" -c"$conns" -d"${BENCH_WARMUP:-2}s" -s "$here/post.lua" "$addr" >/dev/null
case_run "encrypt aes256-gcm96 1KiB" /v1/transit/encrypt/bench-aes "$work/encrypt.json"
case_run "decrypt aes256-gcm96 1KiB" /v1/transit/decrypt/bench-aes "$work/decrypt.json"
case_run "sign ed25519" /v1/transit/sign/bench-ed "$work/sign.json"
case_run "sign rsa-2048 (pss)" /v1/transit/sign/bench-rsa "$work/sign.json"
echo "openssl speed -multi 2 rsa2048:"
openssl speed -elapsed -multi 2 -seconds "${OPENSSL_SECONDS:-10}" rsa2048 2>/dev/null |
  awk '/^rsa 2048/ {print "  wall clock: " $6 " sign/s"}'
openssl speed -multi 2 -seconds "${OPENSSL_SECONDS:-10}" rsa2048 2>/dev/null |
  awk '/^rsa 2048/ {print "  cpu time:   " $6 " sign/s"}'

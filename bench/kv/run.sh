#!/usr/bin/env bash
# KV v2 and token benchmark (issue 3): one persistent node (`storage "file"`, fsync on),
# wrk with 64 keep-alive connections on the same machine.
#   bench/kv/run.sh [seconds]     (default 15 s per case; needs build/tresor, wrk, python3)
# Prints one RESULT line per case: requests/s, p50, p99 and non-2xx count.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${TRESOR_BUILD_DIR:-$root/build}"
dur="${1:-15}"
port="${BENCH_PORT:-18298}"
addr="http://127.0.0.1:$port"
work="$(mktemp -d)"
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; rm -rf "$work"' EXIT

cat >"$work/config.hcl" <<HCL
storage "file" { path = "$work/data" }
listener "tcp" {
  address = "127.0.0.1:$port"
  tls_disable = 1
}
disable_mlock = true
HCL
"$build/tresor" server -config="$work/config.hcl" >"$work/server.log" 2>&1 &
srv=$!
for _ in $(seq 100); do curl -s "$addr/v1/sys/seal-status" >/dev/null 2>&1 && break; sleep 0.1; done

# Initialise with one share, unseal, mount secret/ as kv v2, write the key the reads fetch.
token="$(python3 - "$addr" <<'PY'
import sys, requests
a = sys.argv[1]
init = requests.put(a + "/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}).json()
requests.put(a + "/v1/sys/unseal", json={"key": init["keys"][0]}).raise_for_status()
h = {"X-Vault-Token": init["root_token"]}
requests.post(a + "/v1/sys/mounts/secret", headers=h, json={"type": "kv", "options": {"version": "2"}}).raise_for_status()
requests.post(a + "/v1/secret/data/bench/read", headers=h, json={"data": {"value": "x" * 100}}).raise_for_status()
print(init["root_token"])
PY
)"
echo '{"ttl": "1h"}' >"$work/token.json"

run() {  # name, lua script, env assignments...
  local name="$1" script="$2"
  shift 2
  local line
  line="$(env "$@" TRESOR_TOKEN="$token" VAULT_TOKEN="$token" wrk -t2 -c64 -d"${dur}s" --latency \
          -s "$script" "$addr" | grep '^RESULT' || true)"
  echo "$name ${line:-RESULT missing (see wrk output)}"
}

run "kv2-read       " "$here/get.lua" BENCH_PATH=/v1/secret/data/bench/read
run "kv2-write      " "$here/write.lua"
run "token-lookup   " "$here/get.lua" BENCH_PATH=/v1/auth/token/lookup-self
run "token-create   " "$root/bench/transit/post.lua" BENCH_PATH=/v1/auth/token/create BENCH_BODY_FILE="$work/token.json"

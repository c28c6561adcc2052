-- wrk script: POST a fixed JSON body to a fixed path with a Vault token.
-- Env: TRESOR_TOKEN, BENCH_PATH (e.g. /v1/transit/encrypt/bench-aes), BENCH_BODY_FILE.
local token = os.getenv("TRESOR_TOKEN") or "root"
local path = os.getenv("BENCH_PATH")
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.path = path
wrk.body = body
wrk.headers["X-Vault-Token"] = token
wrk.headers["Content-Type"] = "application/json"

-- No response() callback: wrk would then parse every body in Lua on the same two cores.
-- Non-2xx answers are still counted (summary.errors.status -> non2xx).
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status))
end

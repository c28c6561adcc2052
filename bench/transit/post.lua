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
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "../lib/result.lua")  -- done(): the RESULT line

-- wrk script: KV v2 writes to distinct keys (each connection its own sequence), 100-byte values.
-- Env: TRESOR_TOKEN.
local token = os.getenv("TRESOR_TOKEN") or "root"
local counter = 0
local prefix = tostring(math.random(1, 1000000000))

function request()
  counter = counter + 1
  local path = string.format("/v1/secret/data/bench/w-%s-%d", prefix, counter)
  return wrk.format("POST", path, {["X-Vault-Token"] = token, ["Content-Type"] = "application/json"},
                    '{"data":{"value":"' .. string.rep("x", 100) .. '"}}')
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  prefix = tostring(math.random(1, 1000000000))
end

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "../lib/result.lua")  -- done(): the RESULT line

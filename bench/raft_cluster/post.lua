-- KV v2 writes with unique keys; token from the environment (VAULT_TOKEN).
local token = os.getenv("VAULT_TOKEN")
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(os.time() + (tid or 0))
end
function request()
  counter = counter + 1
  local path = string.format("/v1/secret/data/bench/%d-%d-%d", tid or 0, math.random(1, 1000000000), counter)
  local body = '{"data":{"value":"' .. string.rep("x", 100) .. '"}}'
  return wrk.format("POST", path, {["X-Vault-Token"] = token, ["Content-Type"] = "application/json"}, body)
end

-- wrk script: GET a fixed path with a Vault token. Env: TRESOR_TOKEN, BENCH_PATH.
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["X-Vault-Token"] = os.getenv("TRESOR_TOKEN") or "root"

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "../lib/result.lua")  -- done(): the RESULT line

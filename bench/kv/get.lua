-- wrk script: GET a fixed path with a Vault token. Env: TRESOR_TOKEN, BENCH_PATH.
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["X-Vault-Token"] = os.getenv("TRESOR_TOKEN") or "root"

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status))
end

-- Shared by the wrk scripts under bench/: prints the one RESULT line every run.sh parses.
-- Load it with dofile(<this script's folder> .. "/../lib/result.lua").
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status))
end

-- The report scenario: a staff GET with the bearer token from BENCH_TOKEN.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

function done(summary, latency, requests)
   bench_report(summary, latency)
end

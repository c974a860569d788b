-- GET scenarios: the URL given to wrk is the request; nothing per request in Lua (wrk stays cheap).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")

function done(summary, latency, requests)
   bench_report(summary, latency)
end

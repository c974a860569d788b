-- POST /api/v1/orders: a real buyer token, a new Idempotency-Key per request
-- (thread id + counter + random + run nonce), 1–2 lines of distinct random SKUs, quantity 1–3.
-- Environment: BENCH_DIR, BENCH_TOKEN, BENCH_SKU_FILE (one sellable SKU id a line), BENCH_NONCE.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")

local threads = {}
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("id", next_id)
   table.insert(threads, thread)
end

local skus = {}
local counter = 0
statuses = {}  -- global: done() reads it from each thread
local token, nonce, headers

local addresses = {
   '{"name":"王建国","phone":"13712345678","detail":"坊子区凤凰街道北海路1号","region_code":"370704003009"}',
   '{"name":"李秀英","phone":"15866554433","detail":"坊子区九龙街道东风街88号","region_code":"370704004218"}',
   '{"name":"张志强","phone":"18653600001","detail":"坊子区坊城街道东郭家村6号","region_code":"370704005269"}',
}

function init(args)
   for line in io.lines(os.getenv("BENCH_SKU_FILE")) do
      if #line > 0 then skus[#skus + 1] = line end
   end
   token = os.getenv("BENCH_TOKEN")
   nonce = os.getenv("BENCH_NONCE") or "0"
   math.randomseed(os.time() * 1000 + id)
   headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. token,
   }
end

function request()
   counter = counter + 1
   headers["Idempotency-Key"] = string.format("bench-%s-%d-%d-%d", nonce, id, counter, math.random(0, 2147483647))
   local first = skus[math.random(#skus)]
   local lines = string.format('{"sku_id":"%s","quantity":%d}', first, math.random(3))
   if math.random() < 0.5 then
      local second = skus[math.random(#skus)]
      if second ~= first then
         lines = lines .. string.format(',{"sku_id":"%s","quantity":%d}', second, math.random(3))
      end
   end
   local body = '{"lines":[' .. lines .. '],"shipping_address":' .. addresses[math.random(#addresses)] ..
      ',"payment_method":"offline"}'
   return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      local counts = thread:get("statuses")
      for status, n in pairs(counts) do
         merged[status] = (merged[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(merged) do
      parts[#parts + 1] = string.format('"%d":%d', status, n)
   end
   bench_report(summary, latency, ',"statuses":{' .. table.concat(parts, ",") .. '}')
end

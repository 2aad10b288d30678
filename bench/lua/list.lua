-- A random page of 20, sorted by a non-indexed integer field (requests pre-built, see get.lua).
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS") or "10000")
local pool, n, i = {}, 4096, 0
init = function(args)
  math.randomseed(os.time() + 1)
  for k = 1, n do
    pool[k] = wrk.format("GET", "/api/bench_items:list?sort=score&pageSize=20&page=" ..
                         math.random(1, math.floor(rows / 20)), {["Authorization"] = "Bearer " .. token})
  end
end
request = function()
  i = i % n + 1
  return pool[i]
end

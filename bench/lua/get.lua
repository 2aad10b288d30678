-- GET one record by a random id (1..ROWS). Requests are built once, in init, from a pool of
-- random ids, so the client spends its CPU sending, not formatting.
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS") or "10000")
local pool, n, i = {}, 8192, 0
init = function(args)
  math.randomseed(os.time() + (args[1] and tonumber(args[1]) or 0))
  for k = 1, n do
    pool[k] = wrk.format("GET", "/api/bench_items:get?filterByTk=" .. math.random(1, rows),
                         {["Authorization"] = "Bearer " .. token})
  end
end
request = function()
  i = i % n + 1
  return pool[i]
end

-- GET one record by a random id (1..ROWS).
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS") or "10000")
math.randomseed(os.time())
request = function()
  local id = math.random(1, rows)
  return wrk.format("GET", "/api/bench_items:get?filterByTk=" .. id, {["Authorization"] = "Bearer " .. token})
end

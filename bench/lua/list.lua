-- A random page of 20, sorted by a non-indexed integer field.
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS") or "10000")
math.randomseed(os.time() + 1)
request = function()
  local page = math.random(1, math.floor(rows / 20))
  return wrk.format("GET", "/api/bench_items:list?sort=score&pageSize=20&page=" .. page,
                    {["Authorization"] = "Bearer " .. token})
end

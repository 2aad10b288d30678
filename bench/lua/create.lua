-- Create one record (requests pre-built, see get.lua).
local token = os.getenv("BENCH_TOKEN")
local pool, n, i = {}, 4096, 0
init = function(args)
  math.randomseed(os.time() + 2)
  for k = 1, n do
    local body = '{"title":"item ' .. math.random(1, 1000000) .. '","score":' ..
                 math.random(1, 1000000) .. ',"note":"created by wrk"}'
    pool[k] = wrk.format("POST", "/api/bench_items:create",
                         {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
  end
end
request = function()
  i = i % n + 1
  return pool[i]
end

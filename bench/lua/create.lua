-- Create one record.
local token = os.getenv("BENCH_TOKEN")
math.randomseed(os.time() + 2)
request = function()
  local body = '{"title":"item ' .. math.random(1, 1000000) .. '","score":' .. math.random(1, 1000000) ..
               ',"note":"created by wrk"}'
  return wrk.format("POST", "/api/bench_items:create",
                    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

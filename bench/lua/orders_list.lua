-- The list of an unrelated collection, while plugins are enabled and disabled elsewhere.
local token = os.getenv("BENCH_TOKEN")
local req
init = function(args)
  req = wrk.format("GET", "/api/orders:list?pageSize=20", {["Authorization"] = "Bearer " .. token})
end
request = function() return req end

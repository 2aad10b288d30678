-- auth:signIn in a loop, one in BENCH_RIGHT_EVERY with the right password (0: never), the
-- others with a wrong one, each from an address of its own in X-Forwarded-For when
-- BENCH_SPREAD_ADDRESSES is set (the node trusts 127.0.0.1 as a proxy in the benchmark).
local right_every = tonumber(os.getenv("BENCH_RIGHT_EVERY") or "4")
local spread = os.getenv("BENCH_SPREAD_ADDRESSES") ~= nil
local i = 0
request = function()
  i = i + 1
  local right = right_every > 0 and i % right_every == 0
  local body = '{"account":"admin@nocobase.com","password":"' .. (right and "admin123" or "wrong") .. '"}'
  local headers = {["Content-Type"] = "application/json", ["X-Authenticator"] = "basic"}
  if spread then headers["X-Forwarded-For"] = "10." .. (i % 250) .. "." .. (i % 97) .. ".1" end
  return wrk.format("POST", "/api/auth:signIn", headers, body)
end
statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  -- wrk runs response() per thread; each thread prints its own counts.
end

-- A wrk script: send the requests of a Lua data file in turn, then print a JSON summary.
--
--   wrk -t1 -c32 -d10s -s bench/lua/requests.lua http://127.0.0.1:8000 -- requests.lua
--
-- The data file (written by bench/wrk.py) returns a list of
-- {method = ..., path = ..., headers = {...}, body = ...}; each is formatted once, in
-- init(), and request() hands out the next one: a list of bearer tokens spreads the load
-- over several users, a list of login bodies over several accounts. Each thread starts at
-- its own offset in the list.
--
-- response() counts the answers that are not 2xx by status (per thread; done() adds the
-- threads up). done() prints one line, `wrk-summary {...}`: the requests completed, the
-- measured duration, the socket errors, the non-2xx answers by status, latency
-- percentiles (microseconds) and wrk's own CPU seconds.

local threads = {}
local requests = {}
local turn = 0

statuses = {} -- read by done() through thread:get, so a global of the thread's state

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  local list = dofile(args[1])
  for i, r in ipairs(list) do
    requests[i] = wrk.format(r.method, r.path, r.headers, r.body)
  end
  turn = offset or 0
end

function request()
  turn = turn % #requests + 1
  return requests[turn]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, _)
  local counted = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counted[status] = (counted[status] or 0) + count
    end
  end
  local by_status = {}
  for status, count in pairs(counted) do
    table.insert(by_status, string.format('"%d":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    '\nwrk-summary {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"statuses":{%s},"p50_us":%d,"p90_us":%d,"p99_us":%d,"cpu_s":%.6f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    table.concat(by_status, ","), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), os.clock()))
end

-- wrk script for loadtests/bench_resolver.py: GET the paths listed in $TEM_WRK_PATHS, one per line,
-- in file order, each thread starting at its own line ($TEM_WRK_OFFSET spreads them), wrapping at the end.
-- The bench writes those files as independent draws (Zipf or uniform), so reading them in order is the
-- same as drawing at random, without a random number generator in the request loop.
--
-- Paced mode, when $TEM_WRK_RATE is set (requests per second over all threads; $TEM_WRK_THREADS says how
-- many threads share it): wrk's delay() hook holds each connection back before its next request. A thread
-- hands out send slots 1/rate apart (rate per thread), so with C connections each one waits about C/rate
-- seconds between requests and the aggregate is the target rate as long as one connection is free. A slot
-- already in the past is sent at once (the thread catches up), and how late it went out is recorded as
-- schedule lag. This is still a closed loop with think time: wrk starts a request's clock when it writes
-- it, not when its slot was due, so when every connection is busy the queueing delay is not in the
-- latencies (coordinated omission); the schedule lag printed at the end shows how much that happened.
--
-- At the end it prints one line, "WRKJSON {...}", that the bench parses (latencies in microseconds).

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

local paths = {}
local count = 0
local index = 1

function init(args)
  local file = os.getenv("TEM_WRK_PATHS")
  for line in io.lines(file) do
    if line ~= "" then
      count = count + 1
      paths[count] = line
    end
  end
  local offset = tonumber(os.getenv("TEM_WRK_OFFSET") or "0")
  index = (offset + (thread_id or 0) * 104729) % count + 1
end

function request()
  local path = paths[index]
  index = index + 1
  if index > count then
    index = 1
  end
  return wrk.format("GET", path)
end

-- Read by done() through thread:get(), so globals of each thread's Lua state.
lag_max_ms = 0
late = 0
slots = 0

local rate = tonumber(os.getenv("TEM_WRK_RATE") or "")
if rate ~= nil and rate > 0 then
  local ffi = require("ffi")
  ffi.cdef([[
    typedef struct { long tv_sec; long tv_nsec; } tem_timespec;
    int clock_gettime(int clock_id, tem_timespec *tp);
  ]])
  local CLOCK_MONOTONIC = 1
  local ts = ffi.new("tem_timespec")
  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 * tonumber(os.getenv("TEM_WRK_THREADS") or "1") / rate -- ms between this thread's slots
  local next_slot = nil

  function delay()
    local now = now_ms()
    if next_slot == nil then
      next_slot = now
    end
    local slot = next_slot
    next_slot = slot + interval
    slots = slots + 1
    local wait = slot - now
    if wait < 0 then
      local lag = -wait
      if lag > lag_max_ms then
        lag_max_ms = lag
      end
      if lag > 1 then
        late = late + 1
      end
      return 0
    end
    return math.floor(wait + 0.5) -- wrk's timers count whole milliseconds
  end
end

-- Status counting, when $TEM_WRK_COUNT_STATUS is set (loadtests/soak.py): wrk itself only counts statuses
-- above 399, so a response() hook counts the 307s and everything else. Off by default: defining response()
-- makes wrk hand every response to Lua, which costs the load driver CPU.
answered_307 = 0
answered_other = 0

if (os.getenv("TEM_WRK_COUNT_STATUS") or "") ~= "" then
  function response(status, headers, body)
    if status == 307 then
      answered_307 = answered_307 + 1
    else
      answered_other = answered_other + 1
    end
  end
end

function done(summary, latency, requests)
  local lag, n_late, n_slots, n_307, n_other = 0, 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    lag = math.max(lag, thread:get("lag_max_ms") or 0)
    n_late = n_late + (thread:get("late") or 0)
    n_slots = n_slots + (thread:get("slots") or 0)
    n_307 = n_307 + (thread:get("answered_307") or 0)
    n_other = n_other + (thread:get("answered_other") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, '
      .. '"max_us": %d, "mean_us": %.1f, "lag_max_ms": %.3f, "late": %d, "slots": %d, '
      .. '"answered_307": %d, "answered_other": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, lag, n_late, n_slots, n_307, n_other
  ))
end

-- wrk script for loadtests/bench_resolver.py: GET the paths listed in $TEM_WRK_PATHS, one per line,
-- in file order, each thread starting at its own line ($TEM_WRK_OFFSET spreads them), wrapping at the end.
-- The bench writes those files as independent draws (Zipf or uniform), so reading them in order is the
-- same as drawing at random, without a random number generator in the request loop.
-- At the end it prints one line, "WRKJSON {...}", that the bench parses (latencies in microseconds).

local thread_count = 0

function setup(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
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

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
  ))
end

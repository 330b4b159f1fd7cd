-- Shared by the benchmark's wrk scripts (bench/loadgen.py runs them): thread ids, key=value
-- arguments, a count of responses per status, a bound on the requests of each thread, and one
-- line of JSON with the results that loadgen.py parses.
--
-- Arguments (after "--" on wrk's command line): path=... body=FILE data=FILE limit=N threads=N
-- prefix=... and whatever the scenario script reads from `opts`.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read_file(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

function init(args)
  opts = {}
  for _, arg in ipairs(args) do
    local key, value = arg:match("^([%w_]+)=(.*)$")
    opts[key] = value
  end
  limit = tonumber(opts.limit)
  nthreads = tonumber(opts.threads)
  body = opts.body and read_file(opts.body) or nil
  data = opts.data and dofile(opts.data) or nil
  statuses = {}
  responses = 0
  if start then start() end
end

-- Plain-text substitution (gsub's patterns and "%" in replacements would bite).
function fill(text, values)
  for placeholder, value in pairs(values) do
    local from, to = text:find(placeholder, 1, true)
    while from do
      text = text:sub(1, from - 1) .. value .. text:sub(to + 1)
      from, to = text:find(placeholder, from + #value, true)
    end
  end
  return text
end

function response(status, headers, response_body)
  statuses[status] = (statuses[status] or 0) + 1
  responses = responses + 1
  if on_response then on_response(status, response_body) end
  if responses >= limit then wrk.thread:stop() end
end

local function json_object(map)
  local parts = {}
  for key, value in pairs(map) do
    table.insert(parts, string.format('"%s":%s', tostring(key), tostring(value)))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local by_status, bounded = {}, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + count
    end
    if thread:get("responses") >= thread:get("limit") then bounded = bounded + 1 end
  end
  local percentiles = {}
  for _, p in ipairs({1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9}) do
    percentiles[string.format("%g", p)] = latency:percentile(p)
  end
  local errors = summary.errors
  io.write("BENCH-JSON ", json_object({
    requests = summary.requests,
    duration_us = summary.duration,
    bytes = summary.bytes,
    statuses = json_object(by_status),
    errors = json_object({connect = errors.connect, read = errors.read, write = errors.write,
                          status = errors.status, timeout = errors.timeout}),
    latency_us = json_object({min = latency.min, max = latency.max, mean = latency.mean,
                              percentiles = json_object(percentiles)}),
    threads_at_limit = bounded,
  }), "\n")
end

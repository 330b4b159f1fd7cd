-- PATCH objects that exist, each request changing them (merge patch or server-side apply):
-- `data` lists the names, opts.type is the Content-Type and opts.query the URL's query string.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local sent = 0

function request()
  local name = data[(sent * nthreads + id) % #data + 1]
  sent = sent + 1
  local text = fill(body, {__NAME__ = name, __SEQ__ = id .. "-" .. sent})
  local path = opts.path .. "/" .. name .. (opts.query and ("?" .. opts.query) or "")
  return wrk.format("PATCH", path, {["Content-Type"] = opts.type}, text)
end

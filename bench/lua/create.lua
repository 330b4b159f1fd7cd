-- POST a new object per request: names are unique per run (prefix), thread and request.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local sent = 0

function request()
  sent = sent + 1
  local name = string.format("%s-%d-%d", opts.prefix, id, sent)
  return wrk.format("POST", opts.path, {["Content-Type"] = "application/json"}, fill(body, {__NAME__ = name}))
end

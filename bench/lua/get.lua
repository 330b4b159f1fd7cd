-- GET objects that exist: `data` lists their names; each thread walks its own share of them.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local sent = 0

function request()
  local name = data[(sent * nthreads + id) % #data + 1]
  sent = sent + 1
  return wrk.format("GET", opts.path .. "/" .. name)
end

-- PUT each object with the resourceVersion of its last response (optimistic concurrency, as
-- controllers do). `data` lists {name, resourceVersion}; each thread owns the objects whose
-- position modulo the thread count is its id, and never has two requests in flight for one
-- object, so a 409 Conflict would be the server's doing, and is counted.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local mine, by_name, in_flight = {}, {}, {}
local cursor, sent = 0, 0

function start()
  for position, row in ipairs(data) do
    if (position - 1) % nthreads == id then
      local object = {name = row[1], rv = tostring(row[2])}
      table.insert(mine, object)
      by_name[object.name] = object
    end
  end
end

function request()
  local object
  for _ = 1, #mine do
    cursor = cursor % #mine + 1
    object = mine[cursor]
    if not in_flight[object.name] then break end
  end
  in_flight[object.name] = true
  sent = sent + 1
  local text = fill(body, {__NAME__ = object.name, __RV__ = object.rv, __SEQ__ = id .. "-" .. sent})
  return wrk.format("PUT", opts.path .. "/" .. object.name, {["Content-Type"] = "application/json"}, text)
end

function on_response(status, response_body)
  -- The first "name" and "resourceVersion" of an object's JSON are its metadata's.
  local name = response_body:match('"name":"([^"]+)"')
  local object = name and by_name[name]
  if object then
    in_flight[name] = nil
    if status == 200 then object.rv = response_body:match('"resourceVersion":"(%d+)"') or object.rv end
  end
end

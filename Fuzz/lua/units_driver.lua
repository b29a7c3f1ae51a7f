-- units_driver.lua: what fuzz_lua checks of the prelude's parse_duration and parse_size.
--
-- The two are local functions of prelude.lua, which needs the host to load; this driver loads
-- only the prelude's "durations and sizes" section, with the locals it uses, so the fuzzed code
-- is the shipped code. A duration is nil or seconds in [0, ten years], and the same when asked
-- again (it is cached); a size is nil or a positive integer, the number times its unit.
local dir = ...
local f = assert(io.open(dir .. "/prelude.lua", "rb"))
local prelude = f:read("a")
f:close()
local from = assert(prelude:find("\n%-+ durations and sizes\n"), "prelude.lua: no 'durations and sizes' section")
local to = assert(prelude:find("\n%-+ [%w ]+\n", from + 1), "prelude.lua: no section after 'durations and sizes'")
local chunk = "local type, tonumber, tostring = type, tonumber, tostring\n"
  .. "local mtype, floor, tointeger, maxinteger = math.type, math.floor, math.tointeger, math.maxinteger\n"
  .. "local format, smatch = string.format, string.match\n"
  .. prelude:sub(from, to)
  .. "\nreturn parse_duration, parse_size\n"
local parse_duration, parse_size = assert(load(chunk, "=prelude"))()

local TEN_YEARS = 10 * 365 * 86400
local SCALE = { [""] = 1, b = 1, k = 1024, kb = 1024, kib = 1024, m = 2 ^ 20, mb = 2 ^ 20, mib = 2 ^ 20,
                g = 2 ^ 30, gb = 2 ^ 30, gib = 2 ^ 30 }

local function invariant(ok, what, input)
  if not ok then error(string.format("invariant: %s (input %q)", what, input), 0) end
end

return function(input)
  local d = parse_duration(input)
  if d ~= nil then
    invariant(type(d) == "number" and d >= 0 and d <= TEN_YEARS, "parse_duration gave " .. tostring(d), input)
    invariant(parse_duration(input) == d, "parse_duration differs the second time", input)
  end
  local size = parse_size(input)
  if size ~= nil then
    invariant(math.type(size) == "integer" and size > 0, "parse_size gave " .. tostring(size) .. " (" .. tostring(math.type(size)) .. ")", input)
    -- the same amount as the text says, computed in floating point
    local num, unit = input:lower():match("^%s*(%d+%.?%d*)%s*(%a*)%s*$")
    local expected = tonumber(num) * SCALE[unit]
    invariant(math.abs(size - expected) <= math.max(1, expected * 1e-15), "parse_size gave " .. size .. ", not about " .. string.format("%.17g", expected), input)
  end
end

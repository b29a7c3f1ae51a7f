-- json_driver.lua: what fuzz_lua checks of json.lua for one input (bytes, any).
--
-- json.decode either returns a value or raises "json.decode: ..."; a value it returned encodes,
-- and that text decodes to an equal value and encodes to the same text again.
local dir = ...
local json = dofile(dir .. "/json.lua")
local null = json.null

local function invariant(ok, what, input)
  if not ok then error(string.format("invariant: %s (input %q)", what, input), 0) end
end

-- Equal values; numbers by value (encode writes an integral float as an integer).
local function same(a, b, depth)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b or (a ~= a and b ~= b) end
  if a == null or b == null then return a == b end
  if getmetatable(a) ~= getmetatable(b) or depth > 600 then return false end
  for k, v in pairs(a) do
    if not same(v, b[k], depth + 1) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

return function(input)
  local ok, value = pcall(json.decode, input)
  if not ok then
    if value == "not enough memory" then return end
    invariant(type(value) == "string" and value:find("^json%.decode: .* at line %d+ column %d+$"), "decode raised " .. tostring(value), input)
    return
  end
  local encoded, text = pcall(json.encode, value)
  invariant(encoded, "decode gave a value that encode refuses: " .. tostring(text), input)
  local reread, again = pcall(json.decode, text)
  invariant(reread, "encode wrote text that decode refuses: " .. tostring(again), input)
  invariant(same(value, again, 0), "decode(encode(v)) differs from v: " .. text, input)
  invariant(json.encode(again) == text, "encode(decode(text)) is not text: " .. text, input)
end

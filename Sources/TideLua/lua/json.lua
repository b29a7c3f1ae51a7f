-- json.lua: JSON encoder/decoder for Lua 5.4.
--
-- Self-contained: no `require`, no global reads after load, no global writes.
-- Load with dofile/load; the chunk returns the `json` table.
--
--   json.encode(value)  -> string   (errors: "json.encode: <reason> at <path>")
--   json.decode(string) -> value    (errors: "json.decode: <reason> at line L column C")
--   json.null                       sentinel for JSON null
--   json.array_mt, json.object_mt   metatables marking tables as array / object

local type, next = type, next
local rawget, rawequal = rawget, rawequal
local getmetatable, setmetatable = getmetatable, setmetatable
local tonumber, error = tonumber, error

local byte, char, find, format, gsub, match, sub =
  string.byte, string.char, string.find, string.format, string.gsub, string.match, string.sub
local concat, sort = table.concat, table.sort
local math_type, tointeger, floor, huge = math.type, math.tointeger, math.floor, math.huge
local utf8_len, utf8_char = utf8.len, utf8.char

-- Foundation's JSON reader (which reads run results back) stops at 512 levels.
local MAX_DEPTH = 500
local REPLACEMENT = "\239\191\189" -- U+FFFD

local json = {}

local null = setmetatable({}, {
  __tostring = function() return "null" end,
  __name = "json.null",
})
json.null = null

local array_mt = { __name = "json.array" }
local object_mt = { __name = "json.object" }
json.array_mt = array_mt
json.object_mt = object_mt

---------------------------------------------------------------------------
-- Encoder
---------------------------------------------------------------------------

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\",
  ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
  ["\127"] = "\\u007f",
}
for c = 0, 31 do
  local ch = char(c)
  if not escapes[ch] then escapes[ch] = format("\\u%04x", c) end
end

-- Replace every byte that is not part of a valid UTF-8 sequence with U+FFFD.
local function fix_utf8(s)
  local parts, np, start = {}, 0, 1
  while true do
    local ok, bad = utf8_len(s, start)
    if ok then break end
    np = np + 1; parts[np] = sub(s, start, bad - 1)
    np = np + 1; parts[np] = REPLACEMENT
    start = bad + 1
  end
  np = np + 1; parts[np] = sub(s, start)
  return concat(parts, "", 1, np)
end

local function encode_string(s)
  if not find(s, '[%c"\\\128-\255]') then
    return '"' .. s .. '"'
  end
  if find(s, "[\128-\255]") and not utf8_len(s) then
    s = fix_utf8(s)
  end
  s = gsub(s, '[%c"\\]', escapes)
  return '"' .. s .. '"'
end

-- Render path[1..depth] as "$.a.b[3]". Very deep paths are abbreviated.
local function path_string(path, depth)
  local parts, np = { "$" }, 1
  local function seg(k)
    np = np + 1
    if type(k) == "number" then
      parts[np] = "[" .. (tointeger(k) or k) .. "]"
    elseif find(k, "^[%a_][%w_]*$") then
      parts[np] = "." .. k
    else
      parts[np] = "[" .. encode_string(k) .. "]"
    end
  end
  if depth > 40 then
    for d = 1, 20 do seg(path[d]) end
    np = np + 1; parts[np] = "..."
    for d = depth - 19, depth do seg(path[d]) end
  else
    for d = 1, depth do seg(path[d]) end
  end
  return concat(parts, "", 1, np)
end

local function encode_fail(reason, path, depth)
  error("json.encode: " .. reason .. " at " .. path_string(path, depth), 0)
end

local function encode_number(v, path, depth)
  if math_type(v) == "integer" then
    return format("%d", v)
  end
  if v ~= v then encode_fail("cannot encode NaN", path, depth) end
  if v == huge then encode_fail("cannot encode inf", path, depth) end
  if v == -huge then encode_fail("cannot encode -inf", path, depth) end
  local i = tointeger(v)
  if i then return format("%d", i) end
  local s = format("%.14g", v)
  if tonumber(s) ~= v then s = format("%.17g", v) end
  if find(s, ",", 1, true) then s = gsub(s, ",", ".") end -- non-"C" numeric locale
  return s
end

-- String form of a numeric object key, or nil if the key is not integral.
local function number_key(k)
  if math_type(k) == "integer" then return format("%d", k) end
  local i = tointeger(k)
  if i then return format("%d", i) end
  if k == k and k ~= huge and k ~= -huge and floor(k) == k then
    return format("%.0f", k)
  end
  return nil
end

local encode_value -- forward

-- Encode a plain/object table `t` (nesting level depth) as a JSON object.
local function encode_object(t, buf, n, seen, path, depth)
  local keys, nk, numkeys = {}, 0, nil
  for k in next, t do
    local tk = type(k)
    if tk == "string" then
      nk = nk + 1; keys[nk] = k
    elseif tk == "number" then
      local ks = number_key(k)
      if not ks then encode_fail("invalid key type float", path, depth - 1) end
      numkeys = numkeys or {}
      numkeys[ks] = k
      nk = nk + 1; keys[nk] = ks
    else
      encode_fail("invalid key type " .. tk, path, depth - 1)
    end
  end
  if nk == 0 then
    n = n + 1; buf[n] = "{}"
    return n
  end
  if nk > 1 then
    sort(keys)
    if numkeys then
      for i = 2, nk do
        if keys[i] == keys[i - 1] then
          encode_fail("duplicate key " .. encode_string(keys[i]), path, depth - 1)
        end
      end
    end
  end
  n = n + 1; buf[n] = "{"
  for i = 1, nk do
    local ks = keys[i]
    local k = numkeys and numkeys[ks] or ks
    n = n + 1; buf[n] = encode_string(ks)
    n = n + 1; buf[n] = ":"
    path[depth] = k
    n = encode_value(rawget(t, k), buf, n, seen, path, depth)
    n = n + 1; buf[n] = ","
  end
  buf[n] = "}" -- replaces the trailing ","
  return n
end

-- `depth` is the number of containers enclosing v; path[1..depth] is its path.
encode_value = function(v, buf, n, seen, path, depth)
  local tv = type(v)
  if tv == "string" then
    n = n + 1; buf[n] = encode_string(v)
    return n
  elseif tv == "number" then
    n = n + 1; buf[n] = encode_number(v, path, depth)
    return n
  elseif tv == "boolean" then
    n = n + 1; buf[n] = v and "true" or "false"
    return n
  elseif tv == "nil" then
    n = n + 1; buf[n] = "null"
    return n
  elseif tv ~= "table" then
    encode_fail("cannot encode " .. tv, path, depth)
  end
  if rawequal(v, null) then
    n = n + 1; buf[n] = "null"
    return n
  end

  if seen[v] then encode_fail("cycle", path, depth) end

  local kind -- 1 = array (array_mt), 2 = object (object_mt), nil = detect
  local mt = getmetatable(v)
  if mt ~= nil then
    if rawequal(mt, array_mt) then
      kind = 1
    elseif rawequal(mt, object_mt) then
      kind = 2
    elseif type(mt) == "table" then
      local tojson = rawget(mt, "__tojson")
      if tojson ~= nil then
        seen[v] = true
        n = encode_value(tojson(v), buf, n, seen, path, depth)
        seen[v] = nil
        return n
      end
    end
  end

  if depth >= MAX_DEPTH then
    encode_fail("maximum depth " .. MAX_DEPTH .. " exceeded", path, depth)
  end
  seen[v] = true
  local child = depth + 1

  local count
  if kind == 1 then
    count = #v
  elseif kind == nil then
    -- Array iff the keys are exactly the integers 1..count.
    local c, max = 0, 0
    for k in next, v do
      if math_type(k) == "integer" and k > 0 then
        c = c + 1
        if k > max then max = k end
      else
        c = -1
        break
      end
    end
    if c > 0 and max == c then count = c end
  end

  if count then
    if count == 0 then
      n = n + 1; buf[n] = "[]"
    else
      n = n + 1; buf[n] = "["
      for i = 1, count do
        path[child] = i
        n = encode_value(v[i], buf, n, seen, path, child)
        n = n + 1; buf[n] = ","
      end
      buf[n] = "]" -- replaces the trailing ","
    end
  else
    n = encode_object(v, buf, n, seen, path, child)
  end

  seen[v] = nil
  return n
end

-- Scratch state reused between top-level calls. It is taken out of the cache
-- while in use, so re-entrant calls (from __tojson) and calls after an error
-- simply get a fresh one.
local cached_state

function json.encode(v)
  local tv = type(v)
  if tv == "string" then
    return encode_string(v)
  elseif tv == "number" then
    return encode_number(v, nil, 0)
  elseif tv == "boolean" then
    return v and "true" or "false"
  elseif tv == "nil" then
    return "null"
  elseif tv ~= "table" then
    encode_fail("cannot encode " .. tv, nil, 0)
  end
  if rawequal(v, null) then return "null" end

  local st = cached_state
  if st then
    cached_state = nil
  else
    st = { {}, {}, {} }
  end
  local buf = st[1]
  local n = encode_value(v, buf, 0, st[2], st[3], 0)
  local out = concat(buf, "", 1, n)
  if n > 256 then
    st[1] = {} -- don't keep a big buffer (or its strings) alive
  else
    for i = 1, n do buf[i] = nil end
  end
  cached_state = st
  return out
end

---------------------------------------------------------------------------
-- Decoder
---------------------------------------------------------------------------

local function decode_fail(s, pos, reason)
  local line, line_start, i = 1, 1, 1
  while true do
    local j = find(s, "\n", i, true)
    if not j or j >= pos then break end
    line = line + 1
    line_start = j + 1
    i = j + 1
  end
  error(format("json.decode: %s at line %d column %d", reason, line, pos - line_start + 1), 0)
end

local function unexpected(s, pos)
  local c = byte(s, pos)
  if not c then
    decode_fail(s, pos, "unexpected end of input")
  end
  local what
  if c >= 32 and c < 127 then
    what = "character '" .. char(c) .. "'"
  elseif c >= 0xC2 and utf8_len(s, pos, pos) == 1 then
    local len = c < 0xE0 and 2 or c < 0xF0 and 3 or 4
    what = "character '" .. sub(s, pos, pos + len - 1) .. "'"
  else
    what = format("byte 0x%02X", c)
  end
  decode_fail(s, pos, "unexpected " .. what)
end

local function skip_ws(s, pos)
  local c = byte(s, pos)
  if c == 32 or c == 10 or c == 13 or c == 9 then
    local _, e = find(s, "^[ \n\r\t]*", pos)
    return e + 1
  end
  return pos
end

local unescapes = {
  [34] = '"', [92] = "\\", [47] = "/",
  [98] = "\b", [102] = "\f", [110] = "\n", [114] = "\r", [116] = "\t",
}

-- pos is at the opening quote. Returns the string and the position after it.
local function parse_string(s, pos)
  local i = pos + 1
  local parts, np
  while true do
    local j = find(s, '["\\\0-\31]', i)
    if not j then
      decode_fail(s, pos, "unterminated string")
    end
    local c = byte(s, j)
    if c == 34 then -- closing quote
      local str
      if parts then
        np = np + 1; parts[np] = sub(s, i, j - 1)
        str = concat(parts, "", 1, np)
      else
        str = sub(s, i, j - 1)
      end
      if find(str, "[\128-\255]") and not utf8_len(str) then
        str = fix_utf8(str)
      end
      return str, j + 1
    elseif c == 92 then -- backslash
      if not parts then parts, np = {}, 0 end
      if j > i then
        np = np + 1; parts[np] = sub(s, i, j - 1)
      end
      local e = byte(s, j + 1)
      if e == 117 then -- \uXXXX
        local hex = match(s, "^%x%x%x%x", j + 2)
        if not hex then decode_fail(s, j, "invalid unicode escape") end
        local cp = tonumber(hex, 16)
        i = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = match(s, "^\\u([dD][c-fC-F]%x%x)", i)
          if lo then
            cp = 0x10000 + ((cp - 0xD800) << 10) + (tonumber(lo, 16) - 0xDC00)
            i = i + 6
          else
            cp = 0xFFFD -- lone high surrogate
          end
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          cp = 0xFFFD -- lone low surrogate
        end
        np = np + 1; parts[np] = utf8_char(cp)
      else
        local r = e and unescapes[e]
        if not r then
          if not e then decode_fail(s, pos, "unterminated string") end
          decode_fail(s, j, "invalid escape")
        end
        np = np + 1; parts[np] = r
        i = j + 2
      end
    else
      decode_fail(s, j, "control character in string")
    end
  end
end

local function parse_number(s, pos)
  local _, e = find(s, "^-?%d+", pos)
  if not e then decode_fail(s, pos, "invalid number") end
  local first = byte(s, pos) == 45 and pos + 1 or pos
  if e > first and byte(s, first) == 48 then
    decode_fail(s, pos, "invalid number") -- leading zero
  end
  local c = byte(s, e + 1)
  if c == 46 then -- '.'
    local _, e2 = find(s, "^%d+", e + 2)
    if not e2 then decode_fail(s, pos, "invalid number") end
    e = e2
    c = byte(s, e + 1)
  end
  if c == 101 or c == 69 then -- 'e' / 'E'
    local _, e2 = find(s, "^[+-]?%d+", e + 2)
    if not e2 then decode_fail(s, pos, "invalid number") end
    e = e2
  end
  -- tonumber yields an integer for integral text that fits, a float otherwise. A float past
  -- the doubles (1e400) would be inf, which encode refuses: refused here, as Foundation does.
  local v = tonumber(sub(s, pos, e))
  if v == huge or v == -huge then decode_fail(s, pos, "number out of range") end
  return v, e + 1
end

local parse_value -- forward

local function parse_array(s, pos, depth)
  if depth >= MAX_DEPTH then
    decode_fail(s, pos, "maximum depth " .. MAX_DEPTH .. " exceeded")
  end
  depth = depth + 1
  local arr = setmetatable({}, array_mt)
  pos = skip_ws(s, pos + 1)
  if byte(s, pos) == 93 then return arr, pos + 1 end
  local n = 0
  while true do
    local v
    v, pos = parse_value(s, pos, depth)
    n = n + 1
    arr[n] = v
    pos = skip_ws(s, pos)
    local c = byte(s, pos)
    if c == 44 then
      pos = skip_ws(s, pos + 1)
    elseif c == 93 then
      return arr, pos + 1
    else
      unexpected(s, pos)
    end
  end
end

local function parse_object(s, pos, depth)
  if depth >= MAX_DEPTH then
    decode_fail(s, pos, "maximum depth " .. MAX_DEPTH .. " exceeded")
  end
  depth = depth + 1
  local obj = setmetatable({}, object_mt)
  pos = skip_ws(s, pos + 1)
  if byte(s, pos) == 125 then return obj, pos + 1 end
  while true do
    if byte(s, pos) ~= 34 then unexpected(s, pos) end
    local k, v
    k, pos = parse_string(s, pos)
    pos = skip_ws(s, pos)
    if byte(s, pos) ~= 58 then unexpected(s, pos) end
    pos = skip_ws(s, pos + 1)
    v, pos = parse_value(s, pos, depth)
    obj[k] = v
    pos = skip_ws(s, pos)
    local c = byte(s, pos)
    if c == 44 then
      pos = skip_ws(s, pos + 1)
    elseif c == 125 then
      return obj, pos + 1
    else
      unexpected(s, pos)
    end
  end
end

-- pos is at the first character of the value (whitespace already skipped).
parse_value = function(s, pos, depth)
  local c = byte(s, pos)
  if c == 34 then
    return parse_string(s, pos)
  elseif c == 123 then
    return parse_object(s, pos, depth)
  elseif c == 91 then
    return parse_array(s, pos, depth)
  elseif c == 45 or (c and c >= 48 and c <= 57) then
    return parse_number(s, pos)
  elseif c == 116 then
    if sub(s, pos, pos + 3) == "true" then return true, pos + 4 end
    decode_fail(s, pos, "invalid literal")
  elseif c == 102 then
    if sub(s, pos, pos + 4) == "false" then return false, pos + 5 end
    decode_fail(s, pos, "invalid literal")
  elseif c == 110 then
    if sub(s, pos, pos + 3) == "null" then return null, pos + 4 end
    decode_fail(s, pos, "invalid literal")
  elseif c == nil then
    decode_fail(s, pos, "expected value")
  end
  unexpected(s, pos)
end

function json.decode(s)
  if type(s) ~= "string" then
    error("bad argument #1 to 'decode' (string expected, got " .. type(s) .. ")", 2)
  end
  local v, pos = parse_value(s, skip_ws(s, 1), 0)
  pos = skip_ws(s, pos)
  if pos <= #s then unexpected(s, pos) end
  return v
end

return json

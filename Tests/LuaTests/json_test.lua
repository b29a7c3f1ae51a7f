-- Tests for Sources/TideEngine/Lua/json.lua.
-- Usage: lua5.4 Tests/Fixtures/lua/json_test.lua Sources/TideEngine/Lua/json.lua

local module_path = assert(arg and arg[1], "usage: lua5.4 json_test.lua path/to/json.lua")
local json = dofile(module_path)

local passed, failed, failures = 0, 0, {}

local function check(name, cond, detail)
  if cond then
    passed = passed + 1
  else
    failed = failed + 1
    failures[#failures + 1] = name .. (detail and (": " .. detail) or "")
  end
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v) .. " (" .. (math.type(v) or type(v)) .. ")"
end

-- Equality that also distinguishes integer from float.
local function eq(name, got, want)
  local ok = got == want and math.type(got) == math.type(want)
  check(name, ok, ok or ("got " .. show(got) .. ", want " .. show(want)))
end

-- Message of the error raised by f(...), or nil if it did not raise.
local function err(f, ...)
  local ok, msg = pcall(f, ...)
  if ok then return nil end
  return msg
end

local function raises(name, want, f, ...)
  local msg = err(f, ...)
  check(name, msg == want, "got " .. show(msg) .. ", want " .. show(want))
end

local null = json.null
local A, O = json.array_mt, json.object_mt

-- Non-raising wrappers for value checks: an unexpected error becomes a string
-- that makes the comparison fail (with the message in the report) instead of
-- aborting the script. Error tests call json.encode / json.decode directly.
local function enc(v)
  local ok, r = pcall(json.encode, v)
  if ok then return r end
  return "<error: " .. tostring(r) .. ">"
end
local function dec(text)
  local ok, r = pcall(json.decode, text)
  if ok then return r end
  return "<error: " .. tostring(r) .. ">"
end

-- Run a group of checks; an unexpected error counts as one failure and the
-- script carries on with the next group.
local function section(name, fn)
  local ok, e = pcall(fn)
  check("section '" .. name .. "' raised", ok, tostring(e))
end

local function derr(name, text, want)
  raises("decode error: " .. name, want, json.decode, text)
end

local function roundtrip(name, text)
  local ok, out = pcall(function() return enc(dec(text)) end)
  check("roundtrip " .. name, ok and out == text, "got " .. show(out) .. ", want " .. show(text))
end

---------------------------------------------------------------------------
-- module shape
---------------------------------------------------------------------------
section("module shape", function()
  check("module is a table", type(json) == "table")
  check("null is a table", type(null) == "table")
  eq("tostring(null)", tostring(null), "null")
  eq("null __name", getmetatable(null).__name, "json.null")
  check("array_mt is a table", type(json.array_mt) == "table")
  check("object_mt is a table", type(json.object_mt) == "table")
  check("array_mt ~= object_mt", json.array_mt ~= json.object_mt)

  -- The module must load and work with only the allowed globals, and must not
  -- read or write any other global.
  do
    local allowed = {
      string = string, table = table, math = math, utf8 = utf8, select = select,
      type = type, pairs = pairs, ipairs = ipairs, next = next, rawget = rawget,
      rawequal = rawequal, getmetatable = getmetatable, setmetatable = setmetatable,
      tostring = tostring, tonumber = tonumber, error = error, pcall = pcall,
    }
    local touched = {}
    local env = setmetatable({}, {
      __index = function(_, k) touched[#touched + 1] = "read " .. tostring(k); return allowed[k] end,
      __newindex = function(_, k) touched[#touched + 1] = "write " .. tostring(k) end,
    })
    local chunk, lerr = loadfile(module_path, "t", env)
    check("sandbox: loadfile", chunk ~= nil, lerr)
    if chunk then
      local ok, sj = pcall(chunk)
      check("sandbox: chunk runs", ok and type(sj) == "table", tostring(sj))
      if ok and type(sj) == "table" then
        local bad = {}
        for _, t in ipairs(touched) do
          local name = t:match("^read (.*)$")
          if not (name and allowed[name]) then bad[#bad + 1] = t end
        end
        check("sandbox: only allowed globals read at load", #bad == 0, table.concat(bad, ", "))
        local before = #touched
        local s = sj.encode({ a = { 1, 2.5, "x\255", sj.null, true }, b = {}, [3] = "c" })
        local back = sj.decode(s)
        local ok2 = pcall(sj.encode, { f = print })
        pcall(sj.decode, '{"a": [1, 2,]}')
        check("sandbox: encode works", s == '{"3":"c","a":[1,2.5,"x\239\191\189",null,true],"b":{}}', s)
        check("sandbox: decode works", back.a[4] == sj.null and back["3"] == "c")
        check("sandbox: error path works", not ok2)
        check("sandbox: no globals touched after load", #touched == before,
          table.concat(touched, ", ", before + 1))
      end
    end
    local f = assert(io.open(module_path, "rb"))
    local src = f:read("a")
    f:close()
    check("source does not call require", not src:find("require%s*[%(\"']"))
    check("source ends with return json", src:find("return json%s*$") ~= nil)
  end
end)

---------------------------------------------------------------------------
-- encode: scalars
---------------------------------------------------------------------------
section("encode: scalars", function()
  eq("encode nil", enc(nil), "null")
  eq("encode null", enc(null), "null")
  eq("encode true", enc(true), "true")
  eq("encode false", enc(false), "false")
  eq("encode 0", enc(0), "0")
  eq("encode 42", enc(42), "42")
  eq("encode -7", enc(-7), "-7")
  eq("encode maxinteger", enc(math.maxinteger), "9223372036854775807")
  eq("encode mininteger", enc(math.mininteger), "-9223372036854775808")
  eq("encode 3.0 as integer form", enc(3.0), "3")
  eq("encode -0.0", enc(-0.0), "0")
  eq("encode 2^53", enc(2.0 ^ 53), "9007199254740992")
  eq("encode 0.1", enc(0.1), "0.1")
  eq("encode 2.5", enc(2.5), "2.5")
  eq("encode -1.25e-7", enc(-1.25e-7), "-1.25e-07")
  eq("encode 1e300", enc(1e300), "1e+300")
  eq("encode 1/3 uses %.17g", enc(1 / 3), "0.33333333333333331")
  for _, x in ipairs({ 1 / 3, 0.1 + 0.2, math.pi, 2.0 ^ 63, -2.0 ^ 70, 1e-320, 5e-324, 1.7976931348623157e308, 123456.789 }) do
    local s = enc(x)
    eq("float round trip " .. s, tonumber(s), x)
    eq("float decode round trip " .. s, dec(s), x)
  end
  raises("encode NaN", "json.encode: cannot encode NaN at $", json.encode, 0 / 0)
  raises("encode inf", "json.encode: cannot encode inf at $", json.encode, math.huge)
  raises("encode -inf", "json.encode: cannot encode -inf at $", json.encode, -math.huge)
  raises("encode nested NaN", "json.encode: cannot encode NaN at $.x", json.encode, { x = 0 / 0 })
  raises("encode function", "json.encode: cannot encode function at $", json.encode, print)
  raises("encode thread", "json.encode: cannot encode thread at $", json.encode, coroutine.create(print))
  raises("encode userdata", "json.encode: cannot encode userdata at $", json.encode, io.stdout)
  raises("encode callback", "json.encode: cannot encode function at $.callback", json.encode, { callback = print })
  raises("encode nested path", "json.encode: cannot encode function at $.a.b[3]", json.encode,
    { a = { b = { 1, 2, print } } })
  raises("encode non-identifier key path", 'json.encode: cannot encode function at $["foo bar"].x', json.encode,
    { ["foo bar"] = { x = print } })
  raises("encode sparse int key path", "json.encode: cannot encode function at $[5]", json.encode, { [5] = print })
  do
    local msg = err(function() return json.encode({ f = print }) end)
    check("encode error has no position prefix", msg == "json.encode: cannot encode function at $.f", show(msg))
  end
end)

---------------------------------------------------------------------------
-- encode: strings
---------------------------------------------------------------------------
section("encode: strings", function()
  eq("encode plain string", enc("ok"), '"ok"')
  eq("encode empty string", enc(""), '""')
  eq("encode quote and backslash", enc('a"b\\c'), '"a\\"b\\\\c"')
  eq("encode named escapes", enc("\n\r\t\b\f"), '"\\n\\r\\t\\b\\f"')
  eq("encode NUL", enc("a\0b"), '"a\\u0000b"')
  eq("encode \\1 and \\31", enc("\1\31"), '"\\u0001\\u001f"')
  eq("encode DEL", enc("\127"), '"\\u007f"')
  eq("encode slash not escaped", enc("a/b"), '"a/b"')
  eq("encode valid UTF-8 unchanged", enc("héllo €😀"), '"héllo €😀"')
  eq("encode U+FFFF unchanged", enc("\u{FFFF}"), '"\u{FFFF}"')
  eq("encode invalid byte 0xFF", enc("a\255b"), '"a\239\191\189b"')
  eq("encode truncated sequence", enc("a\226\130b"), '"a\239\191\189\239\191\189b"')
  eq("encode lone continuation", enc("\128"), '"\239\191\189"')
  eq("encode overlong NUL", enc("\192\128"), '"\239\191\189\239\191\189"')
  eq("encode UTF-8 surrogate", enc("\237\160\128"), '"\239\191\189\239\191\189\239\191\189"')
  eq("encode > U+10FFFF", enc("\244\144\128\128"), '"' .. string.rep("\239\191\189", 4) .. '"')
  eq("encode invalid + escapes", enc("\255\n\"é"), '"\239\191\189\\n\\"é"')
  do
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    local s = enc(table.concat(all))
    check("encode all bytes gives valid UTF-8", utf8.len(s) ~= nil)
    check("encode all bytes has no raw control chars", not s:find("[%z\1-\31\127]"))
    local back = dec(s)
    eq("encode all bytes: ASCII part round trips", back:sub(1, 128), table.concat(all, "", 1, 128))
  end
  eq("encode string as object key escapes", enc({ ["a\"\n"] = 1 }), '{"a\\"\\n":1}')
end)

---------------------------------------------------------------------------
-- encode: tables
---------------------------------------------------------------------------
section("encode: tables", function()
  eq("encode empty table", enc({}), "{}")
  eq("encode empty array_mt", enc(setmetatable({}, A)), "[]")
  eq("encode empty object_mt", enc(setmetatable({}, O)), "{}")
  eq("encode sequence", enc({ 1, 2, 3 }), "[1,2,3]")
  eq("encode nested", enc({ 1, { 2, { 3 } }, {} }), "[1,[2,[3]],{}]")
  eq("encode mixed types", enc({ "a", true, false, 1.5 }), '["a",true,false,1.5]')
  eq("encode object sorted", enc({ b = 1, a = 2, c = 3 }), '{"a":2,"b":1,"c":3}')
  eq("encode keys sorted as strings", enc({ b = 1, a = 2, ["10"] = 3, ["2"] = 4 }),
    '{"10":3,"2":4,"a":2,"b":1}')
  eq("encode sparse -> object", enc({ [1] = "x", [3] = "y" }), '{"1":"x","3":"y"}')
  eq("encode sparse keys sorted as strings", enc({ [10] = 1, [9] = 2 }), '{"10":1,"9":2}')
  eq("encode mixed -> object", enc({ 1, 2, x = 3 }), '{"1":1,"2":2,"x":3}')
  eq("encode zero key -> object", enc({ [0] = "z", "a" }), '{"0":"z","1":"a"}')
  eq("encode negative key -> object", enc({ [-1] = "z" }), '{"-1":"z"}')
  eq("encode integral float key beyond int range", enc({ [2.0 ^ 63] = 1 }), '{"9223372036854775808":1}')
  eq("encode array_mt with null", enc(setmetatable({ 1, null, 3 }, A)), "[1,null,3]")
  eq("encode array_mt ignores extra keys", enc(setmetatable({ 1, 2, x = 3 }, A)), "[1,2]")
  eq("encode object_mt with sequence", enc(setmetatable({ 10, 20 }, O)), '{"1":10,"2":20}')
  eq("encode null values", enc({ a = null, b = { null } }), '{"a":null,"b":[null]}')
  eq("encode foreign metatable uses raw fields",
    enc(setmetatable({ a = 1 }, { __index = function() return 5 end })), '{"a":1}')
  raises("encode invalid key boolean", "json.encode: invalid key type boolean at $", json.encode, { [true] = 1 })
  raises("encode invalid key table", "json.encode: invalid key type table at $.t", json.encode, { t = { [{}] = 1 } })
  raises("encode invalid key function", "json.encode: invalid key type function at $[2]", json.encode,
    { 1, { [print] = 1 } })
  raises("encode invalid key float", "json.encode: invalid key type float at $", json.encode, { [1.5] = 1 })
  raises("encode invalid key inf", "json.encode: invalid key type float at $", json.encode, { [math.huge] = 1 })
  raises("encode duplicate key", 'json.encode: duplicate key "1" at $', json.encode, { [1] = "a", ["1"] = "b" })

  -- __tojson
  do
    local Point = { __tojson = function(p) return { x = p[1], y = p[2] } end }
    local p = setmetatable({ 3, 4 }, Point)
    eq("__tojson top level", enc(p), '{"x":3,"y":4}')
    eq("__tojson nested", enc({ p, p }), '[{"x":3,"y":4},{"x":3,"y":4}]')
    eq("__tojson returning scalar", enc({ v = setmetatable({}, { __tojson = function() return "S" end }) }),
      '{"v":"S"}')
    raises("__tojson result error path", "json.encode: cannot encode function at $.v.f", json.encode,
      { v = setmetatable({}, { __tojson = function() return { f = print } end }) })
  end

  -- cycles vs repeated siblings
  do
    local t = {}
    t.self = t
    raises("direct cycle", "json.encode: cycle at $.self", json.encode, t)
    local arr = {}
    arr[1] = arr
    raises("array cycle", "json.encode: cycle at $[1]", json.encode, arr)
    local a, b = {}, {}
    a.b = b
    b.a = a
    raises("indirect cycle", "json.encode: cycle at $.b.a", json.encode, a)
    local x = { 1 }
    eq("same table twice in array", enc({ x, x }), "[[1],[1]]")
    eq("same table twice in object", enc({ p = x, q = x }), '{"p":[1],"q":[1]}')
    eq("same table at different depths", enc({ x, { x, { x } } }), "[[1],[[1],[[1]]]]")
    eq("encode works after a cycle error", enc({ x = 1 }), '{"x":1}')
  end

  -- depth limit (500 nesting levels)
  do
    local function nest(n)
      local t = {}
      local root = t
      for _ = 2, n do
        local c = {}
        t[1] = c
        t = c
      end
      return root
    end
    local ok, s = pcall(json.encode, nest(500))
    check("encode depth 500 ok", ok and s == string.rep("[", 499) .. "{}" .. string.rep("]", 499), tostring(s))
    local msg = err(json.encode, nest(501))
    check("encode depth 501 fails", msg ~= nil and msg:find("^json%.encode: maximum depth 500 exceeded at %$%[1%]") ~= nil,
      show(msg))
    check("encode depth error is short", msg ~= nil and #msg < 200, show(msg))
    local deep = nest(501)
    local msg2 = err(json.encode, { wrap = deep })
    check("encode depth error from nested", msg2 ~= nil and msg2:find("^json%.encode: maximum depth 500 exceeded at %$%.wrap%[1%]") ~= nil,
      show(msg2))
  end

  -- re-entrancy: __tojson calling json.encode
  do
    local inner = setmetatable({}, { __tojson = function() return enc({ z = { 1, 2 } }) end })
    eq("re-entrant encode", enc({ a = { inner }, b = 2 }), '{"a":["{\\"z\\":[1,2]}"],"b":2}')
  end

  -- fast paths must not allocate (GC stopped: memory must not grow)
  do
    collectgarbage("collect")
    collectgarbage("stop")
    -- warm up after the collection so the (interned) result strings exist
    for _ = 1, 10 do enc(nil); enc(true); enc(42); enc("ok"); enc(1.5) end
    local before = collectgarbage("count")
    for _ = 1, 10000 do enc(nil); enc(true); enc(42); enc("ok"); enc(1.5) end
    local grown = collectgarbage("count") - before
    collectgarbage("restart")
    check("scalar fast paths do not allocate", grown == 0, "grew " .. grown .. " KiB")
  end
end)

---------------------------------------------------------------------------
-- decode: values
---------------------------------------------------------------------------
section("decode: values", function()
  eq("decode true", dec("true"), true)
  eq("decode false", dec("false"), false)
  check("decode null -> json.null", dec("null") == null)
  eq("decode string", dec('"hi"'), "hi")
  eq("decode integer", dec("42"), 42)
  eq("decode negative integer", dec("-42"), -42)
  eq("decode -0 integer", dec("-0"), 0)
  eq("decode 1.0 is float", dec("1.0"), 1.0)
  eq("decode 1e2 is float", dec("1e2"), 100.0)
  eq("decode 1E+2 is float", dec("1E+2"), 100.0)
  eq("decode 15e-1", dec("15e-1"), 1.5)
  eq("decode -1.5e-3", dec("-1.5e-3"), -1.5e-3)
  eq("decode 0.5", dec("0.5"), 0.5)
  eq("decode maxinteger", dec("9223372036854775807"), math.maxinteger)
  eq("decode mininteger", dec("-9223372036854775808"), math.mininteger)
  eq("decode int overflow -> float", dec("9223372036854775808"), 9223372036854775808.0)
  eq("decode surrounding whitespace", dec(" \t\r\n 7 \n\t "), 7)

  -- strings
  eq("decode escapes", dec([["\"\\\/\b\f\n\r\t"]]), "\"\\/\b\f\n\r\t")
  eq("decode \\u0041", dec([["\u0041"]]), "A")
  eq("decode \\u00e9", dec([["\u00e9"]]), "é")
  eq("decode \\u20AC", dec([["\u20AC"]]), "€")
  eq("decode \\u0000", dec([["a\u0000b"]]), "a\0b")
  eq("decode surrogate pair", dec([["\ud83d\ude00"]]), "😀")
  eq("decode surrogate pair upper hex", dec([["\uD834\uDD1E"]]), "\u{1D11E}")
  eq("decode lone high surrogate", dec([["\ud83dx"]]), "\u{FFFD}x")
  eq("decode lone high surrogate at end", dec([["\ud83d"]]), "\u{FFFD}")
  eq("decode lone low surrogate", dec([["\ude00"]]), "\u{FFFD}")
  eq("decode high + non-low escape", dec([["\ud83d\u0041"]]), "\u{FFFD}A")
  eq("decode two highs then low", dec([["\ud83d\ud83d\ude00"]]), "\u{FFFD}😀")
  eq("decode raw UTF-8", dec('"héllo €"'), "héllo €")
  eq("decode raw DEL allowed", dec('"\127"'), "\127")
  eq("decode invalid raw UTF-8 replaced", dec('"a\255b"'), "a\u{FFFD}b")
  eq("decode mixed escapes and text", dec([["ab\ncd\u00e9ef"]]), "ab\ncdéef")
  eq("decode long string", dec('"' .. string.rep("x", 100000) .. '"'), string.rep("x", 100000))

  -- arrays / objects, null preservation, metatables
  do
    local t = dec("[1, null, 3]")
    check("decode array: null kept", t[2] == null and #t == 3 and t[3] == 3)
    check("decode array has array_mt", getmetatable(t) == A)
    local o = dec('{"a": null, "b": 1}')
    check("decode object: null kept", o.a == null and o.b == 1)
    check("decode object has object_mt", getmetatable(o) == O)
    local e = dec("[]")
    check("decode [] is empty with array_mt", next(e) == nil and getmetatable(e) == A)
    local eo = dec("{}")
    check("decode {} is empty with object_mt", next(eo) == nil and getmetatable(eo) == O)
    local n = dec('{"x": {"y": [[], {}]}}')
    check("decode nested metatables", getmetatable(n.x) == O and getmetatable(n.x.y) == A
      and getmetatable(n.x.y[1]) == A and getmetatable(n.x.y[2]) == O)
    eq("decode duplicate key: last wins", dec('{"a":1,"a":2}').a, 2)
    eq("decode numeric-looking key stays string", dec('{"1":"x"}')["1"], "x")
  end

  roundtrip("empty array", "[]")
  roundtrip("empty object", "{}")
  roundtrip("nested empties", '{"a":[],"b":{},"c":[[],{}]}')
  roundtrip("nulls", '[null,{"a":null},[null,null]]')
  roundtrip("null-only object", '{"a":null}')
  roundtrip("object with numeric keys", '{"1":"a","2":"b"}')
  roundtrip("mixed", '{"arr":[1,2.5,-3,"x",true,false,null],"n":-0.125,"s":"a\\"b\\\\c\\n\\u0001é"}')
  roundtrip("numbers", "[0,-1,1.5,1e+300,9223372036854775807,-9223372036854775808]")
  roundtrip("float-valued integral becomes integer text", "[3]")
  eq("decode then encode 1.0", enc(dec("1.0")), "1")
  eq("decode then encode \\u escapes", enc(dec([["\u00e9\ud83d\ude00\u001f"]])), '"é😀\\u001f"')
  eq("pretty input re-encodes compact", enc(dec('{\n  "b" : [ 1 , 2 ] ,\n  "a" : { }\n}\n')), '{"a":{},"b":[1,2]}')
end)

---------------------------------------------------------------------------
-- decode: errors
---------------------------------------------------------------------------
section("decode: errors", function()
  derr("empty", "", "json.decode: expected value at line 1 column 1")
  derr("whitespace only", "  \n ", "json.decode: expected value at line 2 column 2")
  derr("trailing comma in object", '{"a": 1,}', "json.decode: unexpected character '}' at line 1 column 9")
  derr("trailing comma in array", "[1,]", "json.decode: unexpected character ']' at line 1 column 4")
  derr("unterminated string", '{\n  "a": 1,\n "b', "json.decode: unterminated string at line 3 column 2")
  -- found by make fuzz: 1e400 decoded to inf, which encode refuses
  derr("number past the doubles", "[1, 1e400]", "json.decode: number out of range at line 1 column 5")
  derr("negative number past the doubles", "-1e400", "json.decode: number out of range at line 1 column 1")
  derr("unterminated string after backslash", '"ab\\', "json.decode: unterminated string at line 1 column 1")
  derr("trailing garbage", "[1,2] x", "json.decode: unexpected character 'x' at line 1 column 7")
  derr("two values", "1 2", "json.decode: unexpected character '2' at line 1 column 3")
  derr("garbage after literal", "truex", "json.decode: unexpected character 'x' at line 1 column 5")
  derr("missing comma", "[1 2]", "json.decode: unexpected character '2' at line 1 column 4")
  derr("missing colon", '{"a" 1}', "json.decode: unexpected character '1' at line 1 column 6")
  derr("unquoted key", "{a:1}", "json.decode: unexpected character 'a' at line 1 column 2")
  derr("single quotes", "['a']", "json.decode: unexpected character ''' at line 1 column 2")
  derr("unclosed array", "[1", "json.decode: unexpected end of input at line 1 column 3")
  derr("unclosed object", '{"a":1', "json.decode: unexpected end of input at line 1 column 7")
  derr("value expected after comma", "[1,", "json.decode: expected value at line 1 column 4")
  derr("value expected after colon", '{"a":', "json.decode: expected value at line 1 column 6")
  derr("multi-line position", "[\n1,\n]", "json.decode: unexpected character ']' at line 3 column 1")
  derr("CRLF position", "[\r\n1,\r\n]", "json.decode: unexpected character ']' at line 3 column 1")
  derr("bad literal", "tru", "json.decode: invalid literal at line 1 column 1")
  derr("bad literal nul", "[nul]", "json.decode: invalid literal at line 1 column 2")
  derr("capitalised literal", "True", "json.decode: unexpected character 'T' at line 1 column 1")
  derr("leading zero", "01", "json.decode: invalid number at line 1 column 1")
  derr("negative leading zero", "[-01]", "json.decode: invalid number at line 1 column 2")
  derr("lone minus", "-", "json.decode: invalid number at line 1 column 1")
  derr("minus letter", "-a", "json.decode: invalid number at line 1 column 1")
  derr("trailing dot", "1.", "json.decode: invalid number at line 1 column 1")
  derr("dot exponent", "1.e5", "json.decode: invalid number at line 1 column 1")
  derr("empty exponent", "1e", "json.decode: invalid number at line 1 column 1")
  derr("exponent sign only", "1e+", "json.decode: invalid number at line 1 column 1")
  derr("leading plus", "+1", "json.decode: unexpected character '+' at line 1 column 1")
  derr("leading dot", ".5", "json.decode: unexpected character '.' at line 1 column 1")
  derr("double dot", "1.5.3", "json.decode: unexpected character '.' at line 1 column 4")
  derr("hex number", "0x10", "json.decode: unexpected character 'x' at line 1 column 2")
  derr("NaN literal", "NaN", "json.decode: unexpected character 'N' at line 1 column 1")
  derr("invalid escape", '"a\\x"', "json.decode: invalid escape at line 1 column 3")
  derr("invalid unicode escape", '"\\u12G4"', "json.decode: invalid unicode escape at line 1 column 2")
  derr("short unicode escape", '"\\u12"', "json.decode: invalid unicode escape at line 1 column 2")
  derr("raw newline in string", '"a\nb"', "json.decode: control character in string at line 1 column 3")
  derr("raw tab in string", '["\t"]', "json.decode: control character in string at line 1 column 3")
  derr("raw NUL in string", '"\0"', "json.decode: control character in string at line 1 column 2")
  derr("form feed is not whitespace", "\f1", "json.decode: unexpected byte 0x0C at line 1 column 1")
  derr("BOM is not accepted", "\239\187\191[]", "json.decode: unexpected character '\239\187\191' at line 1 column 1")
  derr("non-ASCII char", "[é]", "json.decode: unexpected character 'é' at line 1 column 2")
  derr("invalid byte", "[\255]", "json.decode: unexpected byte 0xFF at line 1 column 2")
  derr("comment", "[1] // c", "json.decode: unexpected character '/' at line 1 column 5")
  derr("close without open", "]", "json.decode: unexpected character ']' at line 1 column 1")
  derr("non-string key", "{1:2}", "json.decode: unexpected character '1' at line 1 column 2")
  do
    local msg = err(function() return json.decode('{"a": 1,}') end)
    check("decode error has no position prefix", msg == "json.decode: unexpected character '}' at line 1 column 9", show(msg))
  end

  -- non-string argument: error at level 2 (blames the caller)
  do
    local msg = err(json.decode, 42)
    eq("decode(42)", msg, "bad argument #1 to 'decode' (string expected, got number)")
    eq("decode(nil)", err(json.decode, nil), "bad argument #1 to 'decode' (string expected, got nil)")
    local line = debug.getinfo(1, "l").currentline + 1
    local msg2 = err(function() local v = json.decode({}); return v end)
    local want = "json_test.lua:" .. line .. ": bad argument #1 to 'decode' (string expected, got table)"
    check("decode({}) blames the caller", msg2 ~= nil and msg2:sub(-#want) == want, show(msg2))
  end

  -- depth limit
  do
    local ok, v = pcall(json.decode, string.rep("[", 500) .. string.rep("]", 500))
    check("decode depth 500 ok", ok and type(v) == "table", tostring(v))
    derr("array depth 501", string.rep("[", 501) .. string.rep("]", 501),
      "json.decode: maximum depth 500 exceeded at line 1 column 501")
    local objs = string.rep('{"a":', 500) .. "1" .. string.rep("}", 500)
    local ok2 = pcall(json.decode, objs)
    check("decode object depth 500 ok", ok2)
    derr("object depth 501", string.rep('{"a":', 501) .. "1" .. string.rep("}", 501),
      "json.decode: maximum depth 500 exceeded at line 1 column 2501")
    local ok3, s = pcall(function() return enc(dec(string.rep("[", 500) .. string.rep("]", 500))) end)
    check("decode/encode depth 500 round trip", ok3 and s == string.rep("[", 500) .. string.rep("]", 500))
  end

  ---------------------------------------------------------------------------
end)

for _, f in ipairs(failures) do print("FAIL " .. f) end
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end

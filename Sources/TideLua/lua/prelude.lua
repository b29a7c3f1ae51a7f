-- prelude.lua: the flow API (SPEC §2-§3) built on the host primitives in __host.
--
-- The host primitives never resume anything: spawn registers a coroutine, wait/cancel/sleep/exec
-- record what the task waits for and yield, and the Swift scheduler resumes. Everything that
-- allocates (tables, strings, closures) happens here, in Lua, under Lua's own protection.

local H = __host
__host = nil
local limited = __tide_limited  -- the shim's call under a time limit (plugins.lua)
__tide_limited = nil

local type, select, error, pairs, ipairs, tostring, tonumber = type, select, error, pairs, ipairs, tostring, tonumber
local setmetatable, getmetatable, pcall, xpcall, rawget, next = setmetatable, getmetatable, pcall, xpcall, rawget, next
local mtype, floor, huge, random = math.type, math.floor, math.huge, math.random
local tointeger, maxinteger = math.tointeger, math.maxinteger
local concat, sort, unpack, tpack = table.concat, table.sort, table.unpack, table.pack
local format, sfind, smatch, ssub = string.format, string.find, string.match, string.sub
local traceback, getinfo = debug.traceback, debug.getinfo

local json = load(H.source("json"), "=json", "b")()  -- precompiled by the host
local api = {}
local plugins  -- require and the module path (plugins.lua), installed with the sandbox

---------------------------------------------------------------- errors

local ErrorMT = { __name = "tide.error" }
ErrorMT.__tostring = function(e) return tostring(rawget(e, "message")) end

-- An engine error: a table with code, message, extra fields, and __tostring.
local function engine_error(code, message, fields)
  local e = fields or {}
  e.code = code
  e.message = message
  return setmetatable(e, ErrorMT)
end

local function typename(v, present)
  if not present then return "no value" end
  local mt = getmetatable(v)
  if type(mt) == "table" and type(rawget(mt, "__name")) == "string" then return mt.__name end
  return type(v)
end

-- Raises "bad argument #n to 'fname' (msg)" at the first caller outside the prelude, like
-- luaL_argerror does for a C function: the user's file:line, however deep the check is.
local function user_level()
  local level = 3  -- the caller of the function that calls user_level
  while true do
    local info = getinfo(level, "S")
    if info == nil or info.source ~= "=prelude" then return level - 1 end
    level = level + 1
  end
end

-- Raises msg at the first caller outside the prelude.
local function user_error(msg)
  error(msg, user_level())
end

local function argerror(n, fname, msg)
  error(format("bad argument #%d to '%s' (%s)", n, fname, msg), user_level())
end

local function expect(v, want, n, fname, present)
  if type(v) ~= want then
    argerror(n, fname, format("%s expected, got %s", want, typename(v, present ~= false)))
  end
end

-- A plain table describing any error value, for the history and the run record.
local function error_record(e)
  local t = type(e)
  if t == "string" then return { message = e } end
  if t == "nil" then return { message = "error raised with no value (error(nil))" } end
  if t == "table" then
    local r = {}
    for k, v in next, e do  -- raw: a __pairs that raises must not replace the error
      if type(k) == "string" then r[k] = v end
    end
    if type(r.message) ~= "string" then
      local mt = getmetatable(e)
      if type(mt) == "table" and rawget(mt, "__tostring") then
        local ok, s = pcall(tostring, e)
        if ok and type(s) == "string" then r.message = s end
      end
      if type(r.message) ~= "string" then
        r.message = r.code ~= nil and tostring(r.code) or "error object (table)"
      end
    end
    if r.code == "aggregate" and type(r.errors) == "table" then
      local errs = {}
      for k, v in next, r.errors do errs[k] = error_record(v) end
      r.errors = errs
    end
    return r
  end
  return { message = tostring(e), value = e }
end

-- Where the newest error was first raised: the run's log shows that traceback, and its record
-- names the step and the user's file:line, not where tide's own code raised it again.
local origin = { err = nil, trace = nil, where = nil, step = nil }

local function is_tide_frame(line)
  return sfind(line, "^%[C%]:") or sfind(line, "^prelude:") or sfind(line, "^plugins:") or sfind(line, "^json:")
end

-- text, then the traceback from `level` (of the caller) with the user's frames only: tide's
-- prelude and the C functions it runs the user's code through (pcall, error) are not theirs.
local function user_trace(text, level)
  local out = { text, "stack traceback:" }
  for line in string.gmatch(traceback("", level + 1), "\n\t([^\n]*)") do
    if not is_tide_frame(line) then out[#out + 1] = "\t" .. line end
  end
  if #out == 2 then return text end
  return concat(out, "\n")
end

-- The first frame from `level` (of the caller) that is the user's: "file:line", or nil.
local function user_where(level)
  level = level + 1
  while true do
    local info = getinfo(level, "Sl")
    if info == nil then return nil end
    if info.what ~= "C" and ssub(info.source, 1, 1) == "@" and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline
    end
    level = level + 1
  end
end

-- xpcall's handler around the user's code: remembers where a new error value was raised.
local function capture(e)
  if e ~= origin.err and e ~= "not enough memory" then
    local ok, trace, where = pcall(function()
      return user_trace(type(e) == "string" and e or error_record(e).message, 4), user_where(4)
    end)
    origin.err, origin.step = e, nil
    origin.trace, origin.where = ok and trace or nil, ok and where or nil
  end
  return e
end

local function error_json(e)
  local ok, s = pcall(json.encode, error_record(e))
  if ok then return s end
  local r = error_record(e)
  return json.encode({ message = r.message, code = type(r.code) == "string" and r.code or nil,
                       note = "the error's other fields cannot be represented as JSON: " .. s })
end

local function message_of(e)
  return error_record(e).message
end

---------------------------------------------------------------- durations and sizes

local UNITS = { ms = 0.001, s = 1, m = 60, h = 3600, d = 86400 }
local MAX_DURATION = 10 * 365 * 86400  -- ten years: longer waits are mistakes, not schedules
local duration_cache = {}

-- Seconds for a duration (number, "250ms", "1m30s", ...) up to ten years, or nil.
local function parse_duration(v)
  if type(v) == "number" then
    if v >= 0 and v <= MAX_DURATION then return v end
    return nil
  end
  if type(v) ~= "string" then return nil end
  local cached = duration_cache[v]
  if cached then return cached end
  local total, pos, n = 0, 1, #v
  if n == 0 then return nil end
  while pos <= n do
    local num, unit, nextpos = smatch(v, "^(%d+%.?%d*)(%a+)()", pos)
    if not num or not UNITS[unit] then return nil end
    local x = tonumber(num)
    -- too long in any unit; and an integer times its unit would wrap ("888888888888888882m" was negative)
    if x > MAX_DURATION * 1000 then return nil end
    total = total + x * UNITS[unit]
    pos = nextpos
  end
  if total > MAX_DURATION then return nil end
  duration_cache[v] = total
  return total
end

local function describe_bad(v, present)
  if type(v) == "string" then return format("%q", v) end
  if type(v) == "number" then return tostring(v) end
  return typename(v, present ~= false)
end

local function duration_arg(v, n, fname, present)
  local d = parse_duration(v)
  if d == nil then
    argerror(n, fname, "duration expected, got " .. describe_bad(v, present))
  end
  return d
end

local function option_duration(v, n, fname, key)
  local d = parse_duration(v)
  if d == nil then
    argerror(n, fname, format("option '%s': duration expected, got %s", key, describe_bad(v)))
  end
  return d
end

local function fmt_duration(s)
  if s < 1 then return format("%gms", floor(s * 1000 + 0.5)) end
  if s < 60 then return format("%gs", floor(s * 1000 + 0.5) / 1000) end
  local m = floor(s / 60)
  local rest = s - m * 60
  if rest == 0 then return m .. "m" end
  return format("%dm%gs", m, rest)
end

local SIZE_UNITS = { [""] = 1, b = 1, k = 1024, kb = 1024, kib = 1024, m = 1048576, mb = 1048576, mib = 1048576,
                     g = 1073741824, gb = 1073741824, gib = 1073741824 }

local function parse_size(v)
  if mtype(v) == "integer" and v > 0 then return v end
  if type(v) ~= "string" then return nil end
  local num, unit = smatch(v:lower(), "^%s*(%d+%.?%d*)%s*(%a*)%s*$")
  if not num or not SIZE_UNITS[unit] then return nil end
  local n, scale = tonumber(num), SIZE_UNITS[unit]
  local bytes
  if mtype(n) == "integer" then
    if n > maxinteger // scale then return nil end  -- the product would wrap ("17179869185g" was 1g)
    bytes = n * scale
  else
    bytes = tointeger(floor(n * scale))  -- nil beyond the integers ("99999999999999999999")
  end
  if not bytes or bytes <= 0 then return nil end
  return bytes
end

---------------------------------------------------------------- options

local function check_options(opts, allowed, n, fname)
  if opts == nil then return nil end
  if type(opts) ~= "table" then
    argerror(n, fname, "options table expected, got " .. typename(opts, true))
  end
  for k in pairs(opts) do
    if not allowed[k] then
      argerror(n, fname, format("unknown option '%s'", tostring(k)))
    end
  end
  return opts
end

local function option_count(v, n, fname, key, min)
  if v == nil then return nil end
  if mtype(v) ~= "integer" and not (type(v) == "number" and v == floor(v)) or v < min then
    argerror(n, fname, format("option '%s': integer >= %d expected, got %s", key, min, describe_bad(v)))
  end
  return floor(v)
end

---------------------------------------------------------------- groups

local FAILFAST, SETTLE, TOLERATE, RACE, ANY = 1, 2, 3, 4, 5

local function keyrepr(k)
  if type(k) == "string" then return format("%q", k) end
  return tostring(k)
end

local function keyless(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta == "number" end
  return a < b
end

-- Validates a table of tasks; returns its count and, for a map, its keys in a stable order.
local function task_list(t, n, fname)
  local count, len, array = 0, #t, true
  for k, f in pairs(t) do
    count = count + 1
    if type(f) ~= "function" then
      argerror(n, fname, format("task %s is not a function (got %s)", keyrepr(k), typename(f, true)))
    end
    if mtype(k) ~= "integer" then
      array = false
      if type(k) ~= "string" then
        argerror(n, fname, format("task keys must be strings or integers (got a %s key)", type(k)))
      end
    elseif k < 1 or k > len then
      array = false
    end
  end
  if array and count == len then return count, nil end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, keyless)
  return count, keys
end

local function aggregate(errors, failed, total)
  return engine_error("aggregate", format("%d of %d tasks failed", failed, total), { errors = errors })
end

-- Runs a group of tasks. `g`: kind, name, n, keys (map) or nil, fns (tasks) or fn + items
-- (batch), size (batch chunks), mode, limit, timeout, tolerate.
local drive_group

local function group_done(gid, ok, ...)
  if ok then return ... end
  -- Something raised inside the driver itself (a memory error, say): cancel the members and
  -- close the group before the error goes on, so nothing keeps running behind it.
  local e = ...
  if H.group_is_open(gid) then
    H.cancel(gid)
    H.group_close(gid, "failed")
  end
  error(e, 0)
end

local function run_group(g)
  local gid = H.group_open(g.kind, g.name, g.n, false)
  return group_done(gid, pcall(drive_group, g, gid))
end

drive_group = function(g, gid)
  local n, keys, fns, fn, items, size = g.n, g.keys, g.fns, g.fn, g.items, g.size
  local mode, limit, tolerate = g.mode, g.limit or n, g.tolerate or 0
  local deadline = g.timeout and (H.clock() + g.timeout)
  local every = n > 200 and floor(n / 100) or 1
  local started, running, finished, failed = 0, 0, 0, 0
  local results, errors = {}, nil
  local spawn, wait = H.spawn, H.wait

  local function start_next()
    started = started + 1
    if fns then
      if keys then
        local k = keys[started]
        spawn(fns[k], gid, started, tostring(k))
      else
        spawn(fns[started], gid, started)
      end
    elseif size then
      local first = (started - 1) * size + 1
      local chunk = { unpack(items, first, first + size - 1 < g.count and first + size - 1 or g.count) }
      spawn(fn, gid, started, nil, chunk, started)
    else
      spawn(fn, gid, started, nil, items[started], started)
    end
    running = running + 1
  end

  local function close(status, err)
    H.cancel(gid)
    H.group_close(gid, status, err ~= nil and error_json(err) or nil, finished)
  end

  while started < n and running < limit do start_next() end
  while running > 0 do
    local i, ok, v = wait(gid, deadline)
    if i == nil then
      local e = engine_error("timeout", format("%s%s timed out after %s", g.kind,
        g.name and format(" '%s'", g.name) or "", fmt_duration(g.timeout)), { after = g.timeout })
      if mode == SETTLE then
        for j = 1, n do
          local k = keys and keys[j] or j
          if results[k] == nil then results[k] = { ok = false, error = e } end
        end
        close("failed", e)
        return results
      end
      close("failed", e)
      error(e, 0)
    end
    running = running - 1
    finished = finished + 1
    local k = keys and keys[i] or i
    if ok then
      if mode == RACE or mode == ANY then
        close("succeeded")
        return v, k
      elseif mode == SETTLE then
        results[k] = { ok = true, value = v }
      else
        results[k] = v
      end
    else
      failed = failed + 1
      H.group_failure(gid, tostring(k), error_json(v))
      if mode == FAILFAST or mode == RACE then
        close("failed", v)
        error(v, 0)
      elseif mode == SETTLE then
        results[k] = { ok = false, error = v }
      else
        errors = errors or {}
        errors[k] = v
        if mode == TOLERATE and failed > tolerate then
          local e = aggregate(errors, failed, n)
          close("failed", e)
          error(e, 0)
        end
      end
    end
    if finished % every == 0 or finished == n then H.progress(gid, finished, n) end
    while started < n and running < limit do start_next() end
  end
  if mode == ANY then
    local e = aggregate(errors or {}, failed, n)
    e.message = n == 0 and "any: no tasks given" or format("all %d tasks failed", n)
    close("failed", e)
    error(e, 0)
  end
  H.group_close(gid, failed > 0 and mode ~= TOLERATE and mode ~= SETTLE and "failed" or "succeeded", nil, finished)
  if mode == TOLERATE then return results, errors or {} end
  return results
end

local GROUP_OPTS = { settle = true, tolerate = true, limit = true, timeout = true, name = true }
local RACE_OPTS = { limit = true, timeout = true, name = true }
local BATCH_OPTS = { concurrency = true, size = true, settle = true, tolerate = true, timeout = true, name = true }

local function group_spec(kind, fname, n, opts, allowed, argn)
  local g = { kind = kind }
  opts = check_options(opts, allowed, argn, fname)
  if opts then
    if opts.name ~= nil and type(opts.name) ~= "string" then
      argerror(argn, fname, "option 'name': string expected, got " .. typename(opts.name, true))
    end
    g.name = opts.name
    g.limit = option_count(opts.limit, argn, fname, "limit", 1)
    if opts.timeout ~= nil then g.timeout = option_duration(opts.timeout, argn, fname, "timeout") end
    if opts.settle and opts.tolerate ~= nil then
      argerror(argn, fname, "options 'settle' and 'tolerate' cannot be combined")
    end
    if opts.settle ~= nil and type(opts.settle) ~= "boolean" then
      argerror(argn, fname, "option 'settle': boolean expected, got " .. typename(opts.settle, true))
    end
    g.tolerate = option_count(opts.tolerate, argn, fname, "tolerate", 0)
    if opts.settle then g.mode = SETTLE elseif g.tolerate then g.mode = TOLERATE end
  end
  g.mode = g.mode or FAILFAST
  return g
end

local function table_group(kind, fname, tasks, opts, allowed, mode)
  local n, keys = task_list(tasks, 1, fname)
  local g = group_spec(kind, fname, n, opts, allowed, 2)
  g.n, g.keys, g.fns = n, keys, tasks
  if mode then g.mode = mode end
  return g
end

--- parallel(f1, f2, ...) or parallel(tasks [, opts])
function api.parallel(...)
  local nargs = select("#", ...)
  if nargs == 0 then return end
  local first = ...
  if type(first) == "function" then
    local fns = { ... }
    for i = 1, nargs do
      if type(fns[i]) ~= "function" then
        argerror(i, "parallel", "function expected, got " .. typename(fns[i], true))
      end
    end
    local results = run_group({ kind = "parallel", n = nargs, fns = fns, mode = FAILFAST })
    return unpack(results, 1, nargs)
  end
  expect(first, "table", 1, "parallel")
  local opts = select(2, ...)
  return run_group(table_group("parallel", "parallel", first, opts, GROUP_OPTS))
end

--- settle(tasks [, opts]): parallel with settle = true.
function api.settle(tasks, opts)
  expect(tasks, "table", 1, "settle", tasks ~= nil or select("#", tasks) > 0)
  local g = table_group("settle", "settle", tasks, opts, GROUP_OPTS)
  if g.mode == TOLERATE then argerror(2, "settle", "option 'tolerate' does not apply to settle") end
  g.mode = SETTLE
  return run_group(g)
end

--- race(tasks [, opts]): value, key of the first task to finish.
function api.race(...)
  local tasks, opts = ...
  expect(tasks, "table", 1, "race", select("#", ...) > 0)
  local g = table_group("race", "race", tasks, opts, RACE_OPTS, RACE)
  if g.n == 0 then error(engine_error("empty", "race: no tasks given"), 2) end
  return run_group(g)
end

--- any(tasks [, opts]): value, key of the first task to succeed.
function api.any(...)
  local tasks, opts = ...
  expect(tasks, "table", 1, "any", select("#", ...) > 0)
  local g = table_group("any", "any", tasks, opts, RACE_OPTS, ANY)
  if g.n == 0 then error(engine_error("aggregate", "any: no tasks given", { errors = {} }), 2) end
  return run_group(g)
end

--- batch(items, fn [, opts]): fn(item, i) over items with bounded concurrency.
function api.batch(...)
  local items, fn, opts = ...
  local nargs = select("#", ...)
  expect(items, "table", 1, "batch", nargs > 0)
  expect(fn, "function", 2, "batch", nargs > 1)
  local g = group_spec("batch", "batch", 0, opts, BATCH_OPTS, 3)
  local count = #items
  g.count = count
  g.limit = 8
  if opts then
    g.limit = option_count(opts.concurrency, 3, "batch", "concurrency", 1) or 8
    g.size = option_count(opts.size, 3, "batch", "size", 1)
  end
  g.n = g.size and floor((count + g.size - 1) / g.size) or count
  g.fn, g.items = fn, items
  return run_group(g)
end

--- partition(outcomes): values, errors of a settle result, in input order.
function api.partition(outcomes)
  expect(outcomes, "table", 1, "partition")
  local keys = {}
  for k in pairs(outcomes) do keys[#keys + 1] = k end
  sort(keys, keyless)
  local values, errors = {}, {}
  for _, k in ipairs(keys) do
    local o = outcomes[k]
    if type(o) ~= "table" or type(o.ok) ~= "boolean" then
      argerror(1, "partition", format("outcome %s is not a settle outcome ({ok = ...})", keyrepr(k)))
    end
    if o.ok then values[#values + 1] = o.value else errors[#errors + 1] = o.error end
  end
  return values, errors
end

---------------------------------------------------------------- time

local function deadline_result(gid, s, msg, i, ok, ...)
  if i == nil then
    H.cancel(gid)
    H.group_close(gid, "failed")
    error(engine_error("timeout", msg, { after = s }), 0)
  end
  H.group_close(gid, ok and "succeeded" or "failed")
  if ok then return ... end
  error((...), 0)
end

-- Runs fn(...) as a child task, cancelled with a `timeout` error after s seconds.
local function with_deadline(s, msg, fn, ...)
  local gid = H.group_open("timeout", nil, 1, true)
  H.spawn(fn, gid, 1, nil, ...)
  return deadline_result(gid, s, msg, H.wait(gid, H.clock() + s))
end

--- sleep(d)
function api.sleep(...)
  local d = duration_arg((...), 1, "sleep", select("#", ...) > 0)
  H.sleep(d)
end

--- timeout(d, fn): fn() with a deadline.
function api.timeout(...)
  local d, fn = ...
  local s = duration_arg(d, 1, "timeout", select("#", ...) > 0)
  expect(fn, "function", 2, "timeout", select("#", ...) > 1)
  return with_deadline(s, "timed out after " .. fmt_duration(s), fn)
end

--- now(): wall-clock seconds since the epoch.
function api.now() return H.now() end

---------------------------------------------------------------- steps

local compensations = {}
local RESULT_LIMIT = 65536

local function record_json(v)
  if v == nil then return "null" end
  local ok, s = pcall(json.encode, v)
  if not ok then
    return json.encode({ unrecorded = format("%s (%s)", type(v), s) })
  end
  if #s > RESULT_LIMIT then
    return json.encode({ truncated = true, bytes = #s, preview = ssub(s, 1, RESULT_LIMIT) })
  end
  return s
end

local BACKOFFS = { exponential = true, linear = true, fixed = true }
local STEP_OPTS = { retries = true, retry_if = true, timeout = true, compensate = true }
local RETRY_FIELDS = { attempts = true, delay = true, backoff = true, factor = true, max_delay = true, jitter = true }

local function default_retry_if(e)
  return not (type(e) == "table" and rawget(e, "code") == "cancelled")
end

local function step_policy(opts)
  local p = { attempts = 1, delay = 1, backoff = "exponential", factor = 2, max_delay = 60, jitter = false,
              retry_if = default_retry_if }
  opts = check_options(opts, STEP_OPTS, 3, "step")
  if not opts then return p end
  local r = opts.retries
  if type(r) == "number" then
    p.attempts = option_count(r, 3, "step", "retries", 0) + 1
  elseif type(r) == "table" then
    for k in pairs(r) do
      if not RETRY_FIELDS[k] then argerror(3, "step", format("option 'retries': unknown field '%s'", tostring(k)), 2) end
    end
    p.attempts = option_count(r.attempts, 3, "step", "retries.attempts", 1) or 3
    if r.delay ~= nil then p.delay = option_duration(r.delay, 3, "step", "retries.delay") end
    if r.backoff ~= nil then
      if not BACKOFFS[r.backoff] then
        argerror(3, "step", format("option 'retries.backoff': exponential, linear or fixed expected, got %s", describe_bad(r.backoff)))
      end
      p.backoff = r.backoff
    end
    if r.factor ~= nil then
      if type(r.factor) ~= "number" or r.factor <= 0 then
        argerror(3, "step", "option 'retries.factor': positive number expected, got " .. describe_bad(r.factor))
      end
      p.factor = r.factor
    end
    if r.max_delay ~= nil then p.max_delay = option_duration(r.max_delay, 3, "step", "retries.max_delay") end
    if r.jitter ~= nil then
      if type(r.jitter) ~= "boolean" then
        argerror(3, "step", "option 'retries.jitter': boolean expected, got " .. describe_bad(r.jitter))
      end
      p.jitter = r.jitter
    end
  elseif r ~= nil then
    argerror(3, "step", "option 'retries': number or table expected, got " .. typename(r, true))
  end
  if opts.retry_if ~= nil then
    if type(opts.retry_if) ~= "function" then
      argerror(3, "step", "option 'retry_if': function expected, got " .. typename(opts.retry_if, true))
    end
    p.retry_if = opts.retry_if
  end
  if opts.timeout ~= nil then p.timeout = option_duration(opts.timeout, 3, "step", "timeout") end
  if opts.compensate ~= nil then
    if type(opts.compensate) ~= "function" then
      argerror(3, "step", "option 'compensate': function expected, got " .. typename(opts.compensate, true))
    end
    p.compensate = opts.compensate
  end
  return p
end

-- The delay before retry number `k` (k = 1 after the first failure).
local function backoff_delay(p, k)
  local d = p.delay
  if p.backoff == "exponential" then d = d * p.factor ^ (k - 1)
  elseif p.backoff == "linear" then d = d * k end
  if d > p.max_delay then d = p.max_delay end
  if p.jitter then d = d * (0.5 + 0.5 * random()) end
  return d
end

local function attempt(p, name, fn)
  if p.timeout then
    return xpcall(with_deadline, capture, p.timeout, format("step '%s' timed out after %s", name, fmt_duration(p.timeout)), fn)
  end
  return xpcall(fn, capture)
end

--- step(name, fn [, opts]): runs fn() now as a recorded unit, with retries and compensation.
function api.step(...)
  local name, fn, opts = ...
  local nargs = select("#", ...)
  expect(name, "string", 1, "step", nargs > 0)
  expect(fn, "function", 2, "step", nargs > 1)
  local p = step_policy(opts)
  local id = H.step_begin(name, "step")
  local k = 0
  while true do
    k = k + 1
    local r = tpack(attempt(p, name, fn))
    if r[1] then
      H.step_end(id, "succeeded", k, record_json(r[2]))
      if p.compensate then
        compensations[#compensations + 1] = { name = name, fn = p.compensate, value = r[2] }
      end
      return unpack(r, 2, r.n)
    end
    local e = r[2]
    local retry = false
    if k < p.attempts then
      local ok, want = pcall(p.retry_if, e)
      if ok then
        retry = want and true or false
      else
        H.log("error", format("step '%s': retry_if raised %s; not retrying", name, message_of(want)))
      end
    end
    if not retry then
      H.step_end(id, "failed", k, nil, error_json(e))
      if origin.err == e and origin.step == nil then origin.step = name end  -- the innermost step
      error(e, 0)
    end
    local d = backoff_delay(p, k)
    H.step_retry(id, k, error_json(e), d)
    H.sleep(d)
  end
end

---------------------------------------------------------------- subprocesses

local EXEC_OPTS = { cwd = true, env = true, stdin = true, timeout = true, check = true }

local function tail(s, n)
  if #s <= n then return s end
  return "..." .. ssub(s, -n)
end

local function run_process(fname, argv, shown, opts)
  opts = check_options(opts, EXEC_OPTS, 2, fname)
  local cwd, stdin, env, limit, check = nil, nil, nil, nil, true
  if opts then
    if opts.cwd ~= nil and type(opts.cwd) ~= "string" then
      argerror(2, fname, "option 'cwd': string expected, got " .. typename(opts.cwd, true))
    end
    cwd = opts.cwd
    if cwd and sfind(cwd, "%z") then argerror(2, fname, "option 'cwd' contains a NUL byte") end
    if opts.stdin ~= nil and type(opts.stdin) ~= "string" then
      argerror(2, fname, "option 'stdin': string expected, got " .. typename(opts.stdin, true))
    end
    stdin = opts.stdin
    if opts.env ~= nil then
      if type(opts.env) ~= "table" then
        argerror(2, fname, "option 'env': table expected, got " .. typename(opts.env, true))
      end
      local parts = {}
      for k, v in pairs(opts.env) do
        if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") or sfind(k, "[=%z]") or k == "" then
          argerror(2, fname, format("option 'env': entry %s must map a name to a string", keyrepr(k)))
        end
        if sfind(tostring(v), "%z") then
          argerror(2, fname, format("option 'env': the value of %s contains a NUL byte", keyrepr(k)))
        end
        parts[#parts + 1] = k .. "=" .. tostring(v)
      end
      env = concat(parts, "\0")
    end
    if opts.timeout ~= nil then limit = option_duration(opts.timeout, 2, fname, "timeout") end
    if opts.check ~= nil then check = opts.check and true or false end
  end
  local status, stdout, stderr, duration, failure
  if limit then
    status, stdout, stderr, duration, failure = with_deadline(limit,
      format("%s %s timed out after %s", fname, shown, fmt_duration(limit)),
      H.exec, cwd, stdin, env, unpack(argv))
  else
    status, stdout, stderr, duration, failure = H.exec(cwd, stdin, env, unpack(argv))
  end
  if failure and stderr == "" then stderr = failure .. "\n" end
  if check and status ~= 0 then
    local msg = failure or format("%s %s exited with status %d", fname, shown, status)
    local err = tail(stderr, 400):gsub("%s+$", "")
    if not failure and err ~= "" then msg = msg .. ": " .. err end
    error(engine_error("exit", msg, { status = status, stderr = stderr, stdout = stdout }), 0)
  end
  return { status = status, stdout = stdout, stderr = stderr, duration = duration }
end

--- sh(cmdline [, opts]): /bin/sh -c cmdline.
function api.sh(...)
  local cmd, opts = ...
  expect(cmd, "string", 1, "sh", select("#", ...) > 0)
  if sfind(cmd, "%z") then argerror(1, "sh", "the command contains a NUL byte") end
  return run_process("sh", { "/bin/sh", "-c", cmd }, format("%q", #cmd > 60 and ssub(cmd, 1, 57) .. "..." or cmd), opts)
end

--- exec(argv [, opts]): argv[1] with arguments, no shell.
function api.exec(...)
  local argv, opts = ...
  expect(argv, "table", 1, "exec", select("#", ...) > 0)
  local n = #argv
  if n == 0 then argerror(1, "exec", "argv must hold at least the command") end
  local args = {}
  for i = 1, n do
    local a = argv[i]
    if type(a) == "number" then a = tostring(a) end
    if type(a) ~= "string" then argerror(1, "exec", format("argv[%d] must be a string, got %s", i, typename(a, true))) end
    if sfind(a, "%z") then argerror(1, "exec", format("argv[%d] contains a NUL byte", i)) end
    args[i] = a
  end
  return run_process("exec", args, format("%q", args[1]), opts)
end

---------------------------------------------------------------- http

local HTTP_TIMEOUT, HTTP_MAX_BODY, HTTP_REDIRECTS = 30, 64 * 1048576, 10
local HTTP_OPTS = { method = true, url = true, headers = true, body = true, json = true, timeout = true, check = true,
                    follow_redirects = true, max_body = true, ca_file = true, insecure = true }
local HTTP_HELPER_OPTS = { headers = true, timeout = true, check = true, follow_redirects = true, max_body = true,
                           ca_file = true, insecure = true }
local HTTP_NOBODY_OPTS = { headers = true, body = true, json = true, timeout = true, check = true, follow_redirects = true,
                           max_body = true, ca_file = true, insecure = true }
local TOKEN = "^[%w!#$%%&'*+.^_`|~-]+$"
local smatch_all, lower, upper = string.gmatch, string.lower, string.upper

-- r.json() and r:json(): the body decoded, or a clear error naming the URL.
local ResponseMT = { __name = "http.response" }
ResponseMT.__index = function(r, k)
  if k ~= "json" then return nil end
  return function()
    local ok, v = pcall(json.decode, rawget(r, "body"))
    if not ok then
      local body = rawget(r, "body")
      local start = #body > 60 and ssub(body, 1, 57) .. "..." or body
      user_error(format("the response body of %s is not valid JSON (%s); it starts with %q",
        tostring(rawget(r, "url")), tostring(v):gsub("^json%.decode: ", ""), start))
    end
    return v
  end
end

local function http_headers(headers, n, fname, out)
  if headers == nil then return end
  if type(headers) ~= "table" then argerror(n, fname, "option 'headers': table expected, got " .. typename(headers, true)) end
  for name, value in pairs(headers) do
    if type(name) ~= "string" or not sfind(name, TOKEN) then
      argerror(n, fname, format("option 'headers': %s is not a valid header name", keyrepr(name)))
    end
    local values = type(value) == "table" and value or { value }
    for i = 1, #values do
      local v = values[i]
      if type(v) == "number" then v = tostring(v) end
      if type(v) ~= "string" or sfind(v, "[%z\r\n]") then
        argerror(n, fname, format("option 'headers': the value of %q must be a string without line breaks", name))
      end
      out[#out + 1] = name
      out[#out + 1] = v
    end
    out[lower(name)] = true
  end
end

-- Performs one call: spec holds method, url and the options; n is the argument the options came in.
local function http_perform(fname, n, spec)
  local method = spec.method or "GET"
  if type(method) ~= "string" or not sfind(method, TOKEN) then
    argerror(n, fname, "option 'method': an HTTP method such as \"GET\" expected, got " .. describe_bad(method))
  end
  method = upper(method)
  local url = spec.url
  if type(url) ~= "string" then argerror(n, fname, "option 'url': string expected, got " .. typename(url, url ~= nil)) end
  local parts = {}
  http_headers(spec.headers, n, fname, parts)
  local body, content_type = spec.body, nil
  if spec.json ~= nil then
    if body ~= nil then argerror(n, fname, "give either 'body' or 'json', not both") end
    body = spec.json
  end
  if spec.json ~= nil or type(body) == "table" then
    local ok, text = pcall(json.encode, body)
    if not ok then argerror(n, fname, "the JSON body cannot be encoded: " .. tostring(text)) end
    body, content_type = text, "application/json"
  elseif body ~= nil and type(body) ~= "string" then
    argerror(n, fname, "body: string or table expected, got " .. typename(body, true))
  end
  if content_type and not parts["content-type"] then
    parts[#parts + 1] = "content-type"
    parts[#parts + 1] = content_type
  end
  if not parts["user-agent"] then
    parts[#parts + 1] = "user-agent"
    parts[#parts + 1] = "tide"
  end
  local timeout = HTTP_TIMEOUT
  if spec.timeout ~= nil then
    timeout = option_duration(spec.timeout, n, fname, "timeout")
    if timeout <= 0 then argerror(n, fname, "option 'timeout': must be more than 0") end
  end
  local max_body = HTTP_MAX_BODY
  if spec.max_body ~= nil then
    max_body = parse_size(spec.max_body)
    if not max_body then argerror(n, fname, "option 'max_body': size expected (bytes, or \"64m\"), got " .. describe_bad(spec.max_body)) end
    -- a response body is held in one buffer, which holds less than 4 GiB
    if max_body >= 4294967296 then argerror(n, fname, "option 'max_body': at most 4095m (a body is held in memory)") end
  end
  local redirects, follow = HTTP_REDIRECTS, spec.follow_redirects
  if follow == false then
    redirects = 0
  elseif follow ~= nil and follow ~= true then
    redirects = option_count(follow, n, fname, "follow_redirects", 0)
  end
  if spec.ca_file ~= nil and type(spec.ca_file) ~= "string" then
    argerror(n, fname, "option 'ca_file': string expected, got " .. typename(spec.ca_file, true))
  end
  -- a string such as "false" from env() must not turn certificate checks off
  for _, name in ipairs({ "insecure", "check" }) do
    if spec[name] ~= nil and type(spec[name]) ~= "boolean" then
      argerror(n, fname, "option '" .. name .. "': boolean expected, got " .. typename(spec[name], true))
    end
  end
  local status, hdrs, rbody, final, reason, message = H.http(method, url, concat(parts, "\0"), body, timeout,
    max_body, redirects, spec.ca_file, spec.insecure == true)
  url = (url:gsub("^(%a[%w+.%-]*://)[^/?#@]*@", "%1"))  -- user:password@ went as a header; never shown
  if status == nil then
    local fields = { reason = reason, url = url, method = method }
    if reason == "timeout" then
      fields.after = timeout
      error(engine_error("timeout", message, fields), 0)
    end
    error(engine_error("http", message, fields), 0)
  end
  local headers, list = setmetatable({}, json.object_mt), setmetatable({}, json.array_mt)
  for name, value in smatch_all(hdrs, "([^%z]*)%z([^%z]*)%z") do
    list[#list + 1] = { name = name, value = value }
    local prev = headers[name]
    headers[name] = prev and prev .. ", " .. value or value
  end
  local ok = status >= 200 and status < 300
  local r = setmetatable({ status = status, ok = ok, headers = headers, header_list = list, body = rbody, url = final },
    ResponseMT)
  if spec.check and not ok then
    local text = #rbody > 200 and ssub(rbody, 1, 197) .. "..." or rbody
    error(engine_error("http", format("%s %s returned status %d%s", method, url, status,
      text ~= "" and ": " .. text:gsub("%s+$", "") or ""),
      { reason = "status", status = status, url = url, method = method, headers = headers, body = rbody }), 0)
  end
  return r
end

local function http_request(...)
  local spec = ...
  expect(spec, "table", 1, "http.request", select("#", ...) > 0)
  check_options(spec, HTTP_OPTS, 1, "http.request")
  if spec.url == nil then argerror(1, "http.request", "option 'url' is required") end
  return http_perform("http.request", 1, spec)
end

-- http.get(url [, opts]) and the other methods without a body argument.
local function http_nobody(method)
  local fname = "http." .. lower(method)
  return function(...)
    local url, opts = ...
    expect(url, "string", 1, fname, select("#", ...) > 0)
    check_options(opts, HTTP_NOBODY_OPTS, 2, fname)
    local spec = { method = method, url = url }
    if opts then for k, v in pairs(opts) do spec[k] = v end end
    return http_perform(fname, 2, spec)
  end
end

-- http.post(url, body_or_table [, opts]), put and patch.
local function http_body(method)
  local fname = "http." .. lower(method)
  return function(...)
    local url, body, opts = ...
    expect(url, "string", 1, fname, select("#", ...) > 0)
    if body ~= nil and type(body) ~= "string" and type(body) ~= "table" then
      argerror(2, fname, "string or table expected, got " .. typename(body, true))
    end
    check_options(opts, HTTP_HELPER_OPTS, 3, fname)
    local spec = { method = method, url = url }
    if opts then for k, v in pairs(opts) do spec[k] = v end end
    if type(body) == "table" then spec.json = body else spec.body = body end
    return http_perform(fname, 3, spec)
  end
end

--- http.request{...}, http.get/head/delete(url [, opts]), http.post/put/patch(url, body [, opts]).
api.http = {
  request = http_request,
  get = http_nobody("GET"),
  head = http_nobody("HEAD"),
  delete = http_nobody("DELETE"),
  options = http_nobody("OPTIONS"),
  post = http_body("POST"),
  put = http_body("PUT"),
  patch = http_body("PATCH"),
}

---------------------------------------------------------------- logs and environment

local function join(...)
  local n = select("#", ...)
  if n == 1 then return tostring((...)) end
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  return concat(parts, "\t")
end

api.log = setmetatable({
  debug = function(...) H.log("debug", join(...)) end,
  info = function(...) H.log("info", join(...)) end,
  warn = function(...) H.log("warn", join(...)) end,
  error = function(...) H.log("error", join(...)) end,
}, { __call = function(_, ...) H.log("info", join(...)) end })

--- env(name [, default])
function api.env(...)
  local name, default = ...
  expect(name, "string", 1, "env", select("#", ...) > 0)
  local v = H.env(name)
  if v == nil then return default end
  return v
end

api.json = json

---------------------------------------------------------------- kv

local KV_KEY_LIMIT, KV_VALUE_LIMIT = 256, 1 << 20

local function kv_key(key, fname, present)
  expect(key, "string", 1, fname, present)
  if key == "" or #key > KV_KEY_LIMIT then
    argerror(1, fname, format("key must be 1 to %d bytes long (got %d)", KV_KEY_LIMIT, #key))
  end
  return key
end

--- kv.get(key), kv.set(key, value), kv.delete(key): small JSON values kept per flow (SPEC §3.5).
api.kv = {
  get = function(...)
    local text = H.kv("get", kv_key((...), "kv.get", select("#", ...) > 0))
    if text == nil then return nil end
    return json.decode(text)
  end,
  set = function(...)
    local key, value = ...
    kv_key(key, "kv.set", select("#", ...) > 0)
    if value == nil then
      H.kv("delete", key)
      return
    end
    local ok, text = pcall(json.encode, value)
    if not ok then argerror(2, "kv.set", "value cannot be stored as JSON: " .. tostring(text)) end
    if #text > KV_VALUE_LIMIT then
      argerror(2, "kv.set", format("value is %d bytes of JSON; kv keeps values up to 1 MiB", #text))
    end
    H.kv("set", key, text)
  end,
  delete = function(...)
    H.kv("delete", kv_key((...), "kv.delete", select("#", ...) > 0))
  end,
}

---------------------------------------------------------------- flow definitions

local definitions = {}

local OVERLAP = { skip = true, queue = true, allow = true, replace = true }
local CATCHUP = { none = true, latest = true, all = true }
local EVENTS = { ["run.failed"] = true, ["run.succeeded"] = true, ["run.finished"] = true, ["daemon.started"] = true }
local FLOW_FIELDS = { name = true, description = true, schedule = true, timezone = true, overlap = true, catchup = true,
                      catchup_window = true, jitter = true, timeout = true, max_concurrent = true, on = true, run = true,
                      on_failure = true, memory = true }

local function field_error(msg)
  user_error("flow: " .. msg)
end

local function string_list(v, field, valid)
  if type(v) == "string" then v = { v } end
  if type(v) ~= "table" then field_error(format("field '%s' must be a string or a list of strings (got %s)", field, type(v))) end
  local out = {}
  for i, s in ipairs(v) do
    if type(s) ~= "string" or s == "" then field_error(format("field '%s'[%d] must be a non-empty string", field, i)) end
    if valid and not valid[s] then
      local names = {}
      for k in pairs(valid) do names[#names + 1] = k end
      sort(names)
      field_error(format("field '%s': unknown event %q (expected one of %s)", field, s, concat(names, ", ")))
    end
    out[#out + 1] = s
  end
  if #out == 0 then field_error(format("field '%s' is an empty list", field)) end
  return out
end

--- flow{...}: defines a flow (SPEC §2).
function api.flow(def)
  if plugins.loading() then
    user_error("flow{} cannot be called while a plugin loads: flows live in the home's flows/ folder, plugins only provide modules")
  end
  if type(def) ~= "table" then
    argerror(1, "flow", "table expected, got " .. typename(def, def ~= nil))
  end
  local info = getinfo(2, "Sl")
  local d = { line = info and info.currentline or 0, source = info and info.short_src or "?" }
  for k in pairs(def) do
    if not FLOW_FIELDS[k] then
      field_error(format("unknown field '%s' (fields: name, description, schedule, timezone, overlap, catchup, catchup_window, jitter, timeout, max_concurrent, on, memory, run, on_failure)", tostring(k)))
    end
  end
  if type(def.run) ~= "function" then
    field_error(format("field 'run' must be a function (got %s)%s", type(def.run),
      def.schedule ~= nil and ": a flow with a schedule needs run = function(ctx) ... end to have something to start" or ""))
  end
  d.run = def.run
  if def.name ~= nil then
    if type(def.name) ~= "string" or not smatch(def.name, "^[%w][%w_.%-]*$") then
      field_error(format("field 'name' must be a string of letters, digits, '_', '-' and '.' (got %s)", describe_bad(def.name)))
    end
    d.name = def.name
  end
  if def.description ~= nil then
    if type(def.description) ~= "string" then field_error("field 'description' must be a string") end
    d.description = def.description
  end
  if def.schedule ~= nil then d.schedule = string_list(def.schedule, "schedule") end
  if def.timezone ~= nil then
    if type(def.timezone) ~= "string" or def.timezone == "" then field_error("field 'timezone' must be an IANA zone name such as \"Europe/Berlin\"") end
    d.timezone = def.timezone
  end
  for field, valid in pairs({ overlap = OVERLAP, catchup = CATCHUP }) do
    local v = def[field]
    if v ~= nil then
      if not valid[v] then
        local names = {}
        for k in pairs(valid) do names[#names + 1] = k end
        sort(names)
        field_error(format("field '%s' must be one of %s (got %s)", field, concat(names, ", "), describe_bad(v)))
      end
      d[field] = v
    end
  end
  for _, field in ipairs({ "catchup_window", "jitter", "timeout" }) do
    local v = def[field]
    if v ~= nil then
      local s = parse_duration(v)
      if s == nil then field_error(format("field '%s': duration expected, got %s", field, describe_bad(v))) end
      d[field] = s
    end
  end
  if def.max_concurrent ~= nil then
    local v = def.max_concurrent
    if mtype(v) ~= "integer" or v < 1 then field_error(format("field 'max_concurrent' must be an integer >= 1 (got %s)", describe_bad(v))) end
    d.max_concurrent = v
  end
  if def.on ~= nil then d.on = string_list(def.on, "on", EVENTS) end
  if def.on_failure ~= nil then
    if type(def.on_failure) ~= "function" then field_error("field 'on_failure' must be a function") end
    d.on_failure = def.on_failure
  end
  if def.memory ~= nil then
    local bytes = parse_size(def.memory)
    if not bytes then field_error(format("field 'memory': size expected such as \"512m\" or \"1g\" (got %s)", describe_bad(def.memory))) end
    d.memory = bytes
  end
  definitions[#definitions + 1] = d
end

-- Names the flows of the script (default: the file's base name) and checks for duplicates.
local function resolve(basename)
  local seen = {}
  for _, d in ipairs(definitions) do
    if d.name == nil then
      if #definitions > 1 then
        error(format("%s:%d: this flow has no name: a script that defines several flows must name each", d.source, d.line), 0)
      end
      d.name = basename
    end
    local other = seen[d.name]
    if other then
      error(format("%s:%d: duplicate flow name '%s' (first defined at line %d)", d.source, d.line, d.name, other.line), 0)
    end
    seen[d.name] = d
  end
  return seen
end

-- JSON list of the script's flow definitions, for the host.
function __tide_describe(basename)
  resolve(basename)
  local out = {}
  for i, d in ipairs(definitions) do
    out[i] = setmetatable({
      name = d.name, description = d.description, schedule = d.schedule, timezone = d.timezone,
      overlap = d.overlap, catchup = d.catchup, catchup_window = d.catchup_window, jitter = d.jitter,
      timeout = d.timeout, max_concurrent = d.max_concurrent, on = d.on, memory = d.memory, line = d.line,
      has_on_failure = d.on_failure ~= nil,
    }, json.object_mt)
  end
  return json.encode(setmetatable(out, json.array_mt))
end

---------------------------------------------------------------- runs

local run = { def = nil, ctx = nil, err = nil }

local function on_error(e)
  if e ~= "not enough memory" then
    pcall(function()
      if origin.err == e and origin.trace then return H.log("error", origin.trace) end
      capture(e)
      H.log("error", origin.trace or (type(e) == "string" and e or message_of(e)))
    end)
  end
  return e
end

-- The run's error record: the error, and the step and user's file:line it came from.
local function run_error_json(e)
  if origin.err ~= e or (origin.step == nil and origin.where == nil) then return error_json(e) end
  local ok, s = pcall(function()
    local r = error_record(e)
    if r.step == nil then r.step = origin.step end
    if r.where == nil then r.where = origin.where end
    return json.encode(r)
  end)
  return ok and s or error_json(e)
end

-- Phase 1: spawns the run's top-level task. Its results: "succeeded", result JSON, or "failed", error JSON.
function __tide_run(request)
  local req = json.decode(request)
  local byname = resolve(req.basename)
  local def = byname[req.flow]
  if not def then error(format("no flow named '%s' in this script", tostring(req.flow)), 0) end
  run.def = def
  local payload = req.payload
  if payload == nil or payload == json.null then payload = setmetatable({}, json.object_mt) end
  run.ctx = {
    payload = payload, run_id = req.run_id, flow = def.name, trigger = req.trigger or "manual",
    scheduled_at = req.scheduled_at, event = req.event,
  }
  H.spawn(function()
    local ok, r = xpcall(def.run, on_error, run.ctx)
    io.stdout:flush()
    io.stderr:flush()
    if not ok then
      run.err = r
      return "failed", run_error_json(r)
    end
    local encoded, s = pcall(json.encode, r)
    if not encoded then
      local e = engine_error("result", "the flow's result cannot be stored as JSON: " .. s)
      run.err = e
      return "failed", error_json(e)
    end
    return "succeeded", s
  end, 0, 0)
end

local function compensate(c)
  local id = H.step_begin("compensate " .. c.name, "compensation")
  local ok, e = pcall(c.fn, c.value)
  if ok then
    H.step_end(id, "succeeded", 1, record_json(e))
  else
    H.step_end(id, "failed", 1, nil, error_json(e))
  end
  return ok, e
end

-- Phase 2 (the run failed or was cancelled): compensations in reverse completion order, then
-- on_failure. Results: "done", JSON list of the errors they raised.
function __tide_cleanup(request)
  local req = json.decode(request)
  local err = run.err
  if req.reason == "timeout" then
    err = engine_error("timeout", req.message or "run timed out")
  elseif req.reason == "cancelled" then
    err = engine_error("cancelled", req.message or "run cancelled")
  end
  H.spawn(function()
    local errors = {}
    for i = #compensations, 1, -1 do
      local c = compensations[i]
      compensations[i] = nil
      local ok, e = compensate(c)
      if not ok then errors[#errors + 1] = { step = c.name, error = error_record(e) } end
    end
    local def = run.def
    if def and def.on_failure then
      local ok, e = xpcall(def.on_failure, on_error, run.ctx, err)
      if not ok then errors[#errors + 1] = { step = "on_failure", error = error_record(e) } end
    end
    local ok, s = pcall(json.encode, setmetatable(errors, json.array_mt))
    return "done", ok and s or "[]"
  end, 0, 0)
end

---------------------------------------------------------------- the sandbox (SPEC §3.6)

local raw_load = load

-- load, loadfile and dofile load text chunks only, and setmetatable refuses __gc (the shim's C
-- versions of the base functions: their errors are the originals', at the caller's line).
local sandbox = __tide_sandbox
__tide_sandbox = nil
load, loadfile, dofile = sandbox.load, sandbox.loadfile, sandbox.dofile

-- require: built-ins, then the home's plugins/ (text chunks only; see plugins.lua).
plugins = raw_load(H.source("plugins"), "=plugins", "b")()({
  json = json, raw_load = raw_load, raw_loadlib = package.loadlib, limited = limited, message_of = message_of,
})

os.exit = function()
  error("os.exit is not available in flows: raise an error to fail the run", 2)
end

io.read = function()
  error("io.read is not available in flows: a daemon has no standard input", 2)
end
io.input = function()
  error("io.input is not available in flows: a daemon has no standard input", 2)
end
local raw_lines = io.lines
-- Raises what io.lines raised as the original would: at the caller's line, named 'lines'.
local function lines_result(ok, ...)
  if ok then return ... end
  local e = ...
  if type(e) == "string" then
    e = string.gsub(string.gsub(e, "^prelude:%d+: ", "", 1), "^(bad argument #%d+ to )'[^']*'", "%1'lines'", 1)
  end
  error(e, 2)  -- io.lines tail-called us: level 2 is its caller
end
io.lines = function(filename, ...)
  if filename == nil then error("io.lines() without a file name reads standard input, which flows do not have", 2) end
  return lines_result(pcall(raw_lines, filename, ...))
end
io.stdin = nil

-- os.execute and io.popen run through sh, so they wait without blocking the daemon.
os.execute = function(cmd)
  if cmd == nil then return true end
  local r = api.sh(cmd, { check = false })
  if r.status == 0 then return true, "exit", 0 end
  return nil, "exit", r.status
end

local PopenReader = {}
PopenReader.__index = PopenReader
PopenReader.__name = "tide.popen"

function PopenReader:read(...)
  local fmts = select("#", ...) > 0 and { ... } or { "l" }
  local out = {}
  for i, f in ipairs(fmts) do
    local data, pos = self.data, self.pos
    if pos > #data then
      out[i] = (f == "a" or f == "*a") and "" or nil
    elseif f == "a" or f == "*a" then
      out[i] = ssub(data, pos)
      self.pos = #data + 1
    elseif type(f) == "number" then
      out[i] = ssub(data, pos, pos + f - 1)
      self.pos = pos + f
    elseif f == "n" or f == "*n" then
      local s, e = sfind(data, "^%s*[-+]?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if s then out[i] = tonumber(ssub(data, s, e)); self.pos = e + 1 end
    else
      local e = sfind(data, "\n", pos, true)
      local keep = f == "L" or f == "*L"
      if e then
        out[i] = ssub(data, pos, keep and e or e - 1)
        self.pos = e + 1
      else
        out[i] = ssub(data, pos)
        self.pos = #data + 1
      end
    end
  end
  return unpack(out, 1, #fmts)
end

function PopenReader:lines(...)
  local fmts = tpack(...)
  return function() return self:read(unpack(fmts, 1, fmts.n)) end
end

function PopenReader:write(s)
  self.input[#self.input + 1] = s
  return self
end

function PopenReader:close()
  if self.mode == "w" then
    self.status = api.sh(self.cmd, { check = false, stdin = concat(self.input) }).status
  end
  if self.status == 0 then return true, "exit", 0 end
  return nil, "exit", self.status
end

function PopenReader:setvbuf() return true end
function PopenReader:flush() return self end

io.popen = function(cmd, mode)
  expect(cmd, "string", 1, "popen")
  mode = mode or "r"
  if mode ~= "r" and mode ~= "w" then argerror(2, "popen", "invalid mode " .. describe_bad(mode)) end
  local f = setmetatable({ cmd = cmd, mode = mode, data = "", pos = 1, input = {}, status = 0 }, PopenReader)
  if mode == "r" then
    local r = api.sh(cmd, { check = false })
    f.data, f.status = r.stdout, r.status
  end
  return f
end

-- debug: only what error reporting needs; the rest reaches into the engine's upvalues and hooks.
debug = { traceback = debug.traceback, getinfo = debug.getinfo }
package.loadlib = nil  -- C modules load through require (plugins/?.so) only

-- Finalizers would run inside the engine at any allocation, even after the run has ended.
local raw_setmetatable = setmetatable
_G.setmetatable = sandbox.setmetatable  -- _G: `setmetatable` is a local of this chunk

-- io.write and the standard streams go to the run's log: standard output is not the flow's.
local function log_stream(level)
  local pending = ""
  local stream = {}
  function stream:write(...)
    for i = 1, select("#", ...) do  -- checked as the C io.write checks: strings and numbers
      local v = select(i, ...)
      local t = type(v)
      if t ~= "string" and t ~= "number" then
        argerror(i, "write", "string expected, got " .. typename(v, true))
      end
    end
    local text = pending .. concat({ ... })
    local start = 1
    while true do
      local nl = sfind(text, "\n", start, true)
      if not nl then break end
      H.log(level, ssub(text, start, nl - 1))
      start = nl + 1
    end
    pending = ssub(text, start)
    return self
  end
  function stream:flush()
    if pending ~= "" then H.log(level, pending) pending = "" end
    return self
  end
  function stream:close()
    self:flush()
    return nil, "cannot close standard file"
  end
  function stream:setvbuf() return true end
  function stream:lines() error("cannot read from the run's log", 2) end
  function stream:read() error("cannot read from the run's log", 2) end
  return raw_setmetatable(stream, { __name = "tide.logstream" })
end
io.stdout = log_stream("info")
io.stderr = log_stream("warn")
-- The default output starts as the run's log; io.output(file or name) makes io.write write
-- there, as in Lua, and io.output(io.stdout) brings it back.
local raw_output, raw_close = io.output, io.close
local output = io.stdout
io.write = function(...) return output:write(...) end
io.output = function(f)
  if f == nil then return output end
  if f == io.stdout or f == io.stderr then
    output = f
  else
    local ok, r = pcall(raw_output, f)
    if not ok then
      error(string.gsub(string.gsub(r, "^prelude:%d+: ", "", 1), "^(bad argument #%d+ to )'[^']*'", "%1'output'", 1), 2)
    end
    output = r
  end
  return output
end
io.close = function(...)
  local f = ...
  if select("#", ...) == 0 then f = output end
  if f == io.stdout or f == io.stderr then return nil, "cannot close standard file" end
  return raw_close(f)
end

-- Files' shared metatable is read-only: a __gc set on it would finalize every file inside the
-- engine, even after the run, out of reach of its timeout and cancel (what setmetatable refuses).
do
  local files = getmetatable(raw_output())  -- the process's stdout, a FILE* like any file
  if type(files) == "table" then
    files.__metatable = raw_setmetatable({}, {
      __index = files,
      __newindex = function() error("the metatable of files is read-only in flows", 2) end,
    })
  end
end

-- Module path: the home's plugins/ and plugins.json, the load limit, and the plugins the daemon
-- found failing (set by the host: {plugins, settings, load_time, failed}).
function __tide_setup(request)
  plugins.setup(json.decode(request))
end

-- A plugin as the daemon validates it (JSON in: {name, file}; JSON out: its description).
__tide_plugin_describe = plugins.describe
-- Errors of plugins.json, given the names of the plugins that exist (JSON arrays).
__tide_plugin_settings = plugins.check_settings
-- Syntax errors of modules inside plugins/ that are not plugins of their own (JSON arrays).
__tide_plugin_compile = plugins.compile

---------------------------------------------------------------- globals

package.preload.tide = function() return api end
for name, v in pairs(api) do _G[name] = v end
print = function(...) H.log("info", join(...)) end

-- Every global above is a built-in name: require gives the built-in, never a plugin of that name.
plugins.seal()

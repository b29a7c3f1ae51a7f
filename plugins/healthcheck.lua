-- healthcheck.lua: dead man's switch pings for flows: healthchecks.io (and self-hosted
-- Healthchecks), Uptime Kuma push monitors, or any URL. The monitoring side raises the alarm
-- when a run fails or when no run happened at all, which no notifier inside tide can notice
-- (a stopped daemon sends nothing). See docs/plugins.md.
--
--   local hc = require "healthcheck"
--   flow { name = "backup", schedule = "0 3 * * *", run = hc.wrap(function(ctx) ... end) }
--
-- Settings (HOME/plugins.json):
--   { "healthcheck": { "base": "https://hc-ping.com/YOUR-PING-KEY" } }      -- pings base/<flow name>
--   { "healthcheck": { "urls": { "backup": "https://hc-ping.com/0f3e..." } } } -- one URL per flow
--   "style": "healthchecks" (default) or "kuma"; "timeout" (default "10s").

local hc = {
  name = "healthcheck",
  version = "1.0.0",
  description = "Dead man's switch pings (healthchecks.io, Uptime Kuma, any URL) at a run's start, success and failure",
}

local format = string.format
local config = { urls = {}, style = "healthchecks", timeout = "10s" }
local FIELDS = { base = true, urls = true, style = true, timeout = true }

--- setup(config): the ping URLs, from plugins.json's "healthcheck" entry.
function hc.setup(c)
  for k in pairs(c) do
    if not FIELDS[k] then error(format("healthcheck: unknown setting '%s' (settings: base, urls, style, timeout)", tostring(k)), 2) end
  end
  if c.base ~= nil and type(c.base) ~= "string" then error("healthcheck: 'base' must be a URL string", 2) end
  if c.urls ~= nil and type(c.urls) ~= "table" then error("healthcheck: 'urls' must map flow names to URLs", 2) end
  if c.style ~= nil and c.style ~= "healthchecks" and c.style ~= "kuma" then
    error("healthcheck: 'style' must be \"healthchecks\" or \"kuma\"", 2)
  end
  config = { base = c.base, urls = c.urls or {}, style = c.style or "healthchecks", timeout = c.timeout or "10s" }
end

local function escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(ch) return format("%%%02X", ch:byte()) end))
end

--- url_for(flow): the ping URL of a flow: urls[flow], else base .. "/" .. flow, else nil.
function hc.url_for(flow)
  local url = config.urls[flow]
  if url == nil and config.base then url = config.base:gsub("/+$", "") .. "/" .. escape(flow) end
  return url
end

local KINDS = { start = true, success = true, fail = true }
local MAX_BODY = 10000  -- healthchecks.io keeps the first 10 kB of a ping's body
local MAX_QUERY = 250   -- Uptime Kuma's msg goes in the url: keep it short (x3 once escaped)

-- s cut to at most n bytes, with "..." when cut, never inside a UTF-8 character.
local function shorten(s, n)
  s = tostring(s)
  if #s <= n then return s end
  local stop = n - 3
  while stop > 0 and (s:byte(stop + 1) & 0xC0) == 0x80 do stop = stop - 1 end
  return s:sub(1, stop) .. "..."
end

local function check_ping(url, kind, fname)
  if type(url) ~= "string" or url == "" then
    error(format("healthcheck.%s: the url must be a non-empty string, got %s", fname, type(url)), 3)
  end
  if not KINDS[kind] then
    error(format("healthcheck.%s: kind must be \"start\", \"success\" or \"fail\" (got %s)", fname,
      type(kind) == "string" and format("%q", kind) or tostring(kind)), 3)
  end
end

--- request(url, kind [, message]): the http.request table of one ping (no I/O). kind: "start",
-- "success" or "fail"; anything else is an error. Messages are cut: 10 kB in a body, 250
-- bytes in Uptime Kuma's query string.
function hc.request(url, kind, message)
  check_ping(url, kind, "request")
  if config.style == "kuma" then
    if kind == "start" then return nil end  -- push monitors know no start
    local sep = url:find("?", 1, true) and "&" or "?"
    local status = kind == "fail" and "down" or "up"
    local msg = shorten(message or (kind == "fail" and "failed" or "OK"), MAX_QUERY)
    return { method = "GET", url = format("%s%sstatus=%s&msg=%s", url, sep, status, escape(msg)), timeout = config.timeout }
  end
  local suffix = kind == "start" and "/start" or kind == "fail" and "/fail" or ""
  return { method = "POST", url = url .. suffix, body = message and shorten(message, MAX_BODY) or "", timeout = config.timeout,
           headers = { ["Content-Type"] = "text/plain; charset=utf-8" } }
end

-- The host of a url (and its port), without user:password@ and without the secret path.
local function host(url)
  local authority = url:match("^%a[%w+.-]*://([^/?#]+)")
  if not authority then return "?" end
  return (authority:gsub("^.*@", ""))
end

local function hostname(url)
  local h = host(url):lower()
  return h:match("^(.*):%d*$") or h
end

local function replace_all(text, plain, by)
  if plain == "" then return text end
  local out, pos = {}, 1
  while true do
    local a, b = text:find(plain, pos, true)
    if not a then break end
    out[#out + 1] = text:sub(pos, a - 1)
    out[#out + 1] = by
    pos = b + 1
  end
  out[#out + 1] = text:sub(pos)
  return table.concat(out)
end

-- `text` with the ping url, and every url to its host, replaced by the host: a ping url is a
-- secret (the check's key), and an http error may quote it, or the url a redirect led to.
local function redact(text, url)
  local h, name = hostname(url), host(url)
  return (replace_all(text, url, name):gsub("%a[%w+.-]*://[^%s\"'<>`]*", function(u)
    local tail = u:match("[.,;:!?)%]]*$")  -- punctuation after a url is the sentence's
    if hostname(u) == h then return name .. tail end
  end))
end

--- ping(url, kind [, message]): sends one ping; a ping that fails is logged, never raised:
-- monitoring must not fail the work it watches. Returns the HTTP status, or nil.
function hc.ping(url, kind, message)
  kind = kind or "success"
  check_ping(url, kind, "ping")
  local req = hc.request(url, kind, message)
  if req == nil then return nil end
  local http = rawget(_G, "http") or require("tide").http
  if http == nil then
    log.warn("healthcheck: the http module is not available in this version of tide; no ping sent")
    return nil
  end
  local ok, res = pcall(http.request, req)
  if not ok or type(res) ~= "table" or type(res.status) ~= "number" or res.status >= 300 then
    local why = not ok and (type(res) == "table" and res.message or tostring(res)) or ("status " .. tostring(type(res) == "table" and res.status))
    log.warn(format("healthcheck: %s ping to %s failed: %s", kind, host(req.url), redact(tostring(why), req.url)))
    return nil
  end
  return res.status
end

--- wrap(fn [, opts]): a run function that pings `start`, runs fn(ctx), then pings success with
-- nothing or failure with the error's message, and returns or raises what fn did (unchanged).
-- opts.url overrides the URL from the settings. A flow without a URL runs unwatched, with a
-- warning in its log.
function hc.wrap(fn, opts)
  if type(fn) ~= "function" then error("healthcheck.wrap: a function expected (the flow's run)", 2) end
  opts = opts or {}
  return function(ctx)
    local url = opts.url or hc.url_for(ctx.flow)
    if url == nil then
      log.warn(format("healthcheck: no URL for flow '%s' (set base or urls[\"%s\"] in plugins.json)", ctx.flow, ctx.flow))
      return fn(ctx)
    end
    hc.ping(url, "start")
    local ok, result = pcall(fn, ctx)
    if ok then
      hc.ping(url, "success")
      return result
    end
    local msg = type(result) == "table" and (result.message or result.code) or result
    hc.ping(url, "fail", format("run %s of %s failed: %s", tostring(ctx.run_id), tostring(ctx.flow), tostring(msg)))
    error(result, 0)
  end
end

return hc

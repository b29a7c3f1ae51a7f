-- notify.lua: notifications from flows: ntfy, Slack-compatible webhooks (Slack, Mattermost,
-- Rocket.Chat), Discord, and plain JSON webhooks. See docs/plugins.md.
--
--   local notify = require "notify"
--   notify.send("Backup done", { title = "nightly", tags = { "floppy_disk" } })
--   notify.event(ctx.event)            -- in an on = "run.failed" flow
--
-- Settings (HOME/plugins.json):
--   { "notify": { "url": "https://ntfy.sh/my-topic" } }
--   { "notify": { "targets": [ { "url": "https://hooks.slack.com/services/..." },
--                              { "url": "https://ntfy.example.com/ops", "token": "tk_..." } ] } }
-- A target: url (or url_env, the name of an environment variable holding it), format (ntfy |
-- slack | discord | webhook; guessed from the url), token (a bearer token), headers, timeout,
-- dry_run (log what would be sent, send nothing).
--
-- With several targets, send tries every one and raises one error naming each that failed.
-- Within a run, sending the same message again (step("notify", fn, { retries = 2 })) skips
-- the targets that already got it: retries never send duplicates.

local notify = {
  name = "notify",
  version = "1.0.0",
  description = "Notifications to ntfy, Slack-compatible and Discord webhooks, or any JSON webhook",
}

local format, concat = string.format, table.concat

local FORMATS = { ntfy = true, slack = true, discord = true, webhook = true }
local TARGET_FIELDS = { url = true, url_env = true, format = true, token = true, headers = true, timeout = true, dry_run = true }
local SEND_FIELDS = { title = true, priority = true, tags = true, click = true, fields = true, target = true }
local PRIORITIES = { min = 1, low = 2, default = 3, high = 4, urgent = 5, max = 5 }
local MAX_MESSAGE = 4000  -- ntfy keeps 4096 bytes, Discord 2000 characters: long errors are cut

local targets = {}  -- from setup(config)

local function fail(msg, level)
  error("notify: " .. msg, (level or 1) + 1)
end

-- A target table checked field by field (`where` names it in errors).
local function check_target(t, where)
  if type(t) ~= "table" then fail(format("%s must be a table, got %s", where, type(t)), 3) end
  for k in pairs(t) do
    if not TARGET_FIELDS[k] then
      fail(format("%s: unknown setting '%s' (settings: url, url_env, format, token, headers, timeout, dry_run)", where, tostring(k)), 3)
    end
  end
  for _, k in ipairs({ "url", "url_env", "token" }) do
    if t[k] ~= nil and type(t[k]) ~= "string" then fail(format("%s: '%s' must be a string", where, k), 3) end
  end
  if t.format ~= nil and not FORMATS[t.format] then
    fail(format("%s: 'format' must be ntfy, slack, discord or webhook (got %s)", where, tostring(t.format)), 3)
  end
  if t.headers ~= nil and type(t.headers) ~= "table" then fail(where .. ": 'headers' must be a table", 3) end
  if t.url == nil and t.url_env == nil then
    fail(format("%s: no 'url' (or 'url_env', the name of an environment variable that holds it)", where), 3)
  end
  if t.url ~= nil and not t.url:match("^https?://[^/?#]") then
    fail(format("%s: 'url' must start with https:// or http://", where), 3)
  end
  if t.dry_run ~= nil and type(t.dry_run) ~= "boolean" then fail(where .. ": 'dry_run' must be true or false", 3) end
  if t.timeout ~= nil and type(t.timeout) ~= "string" and type(t.timeout) ~= "number" then
    fail(where .. ": 'timeout' must be a duration such as \"15s\"", 3)
  end
  return t
end

-- A list: a JSON array (or a Lua sequence), not an object such as { "url": ... }.
local function is_list(t)
  if type(t) ~= "table" or (json.object_mt ~= nil and getmetatable(t) == json.object_mt) then return false end
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

--- setup(config): the default targets, from plugins.json's "notify" entry.
function notify.setup(config)
  targets = {}
  if config.targets ~= nil then
    if not is_list(config.targets) then
      local got = type(config.targets) == "table" and "an object" or type(config.targets)
      fail(format("setting 'targets' must be a list of targets, [ { \"url\": ... }, ... ] (got %s); "
        .. "for one target, put its settings in the \"notify\" entry itself", got))
    end
    for i, t in ipairs(config.targets) do targets[i] = check_target(t, format("targets[%d]", i)) end
    for k in pairs(config) do
      if k ~= "targets" then fail(format("setting '%s' next to 'targets': put it inside each target", tostring(k))) end
    end
  elseif next(config) ~= nil then
    targets[1] = check_target(config, "settings")
  end
end

-- "https://ntfy.sh/alerts" -> "https://ntfy.sh", "alerts"; a server under a path prefix
-- ("https://example.com/ntfy/alerts") keeps it: "https://example.com/ntfy", "alerts".
local function split_url(url)
  local server, path = url:match("^(https?://[^/?#]+)([^?#]*)")
  if not server then return nil end
  local prefix, topic = path:match("^(.-)/([^/]*)/*$")
  if not prefix then return server, "" end
  return server .. prefix, topic
end

-- The host of a url (and its port), to name a target in logs and errors without its secret
-- path, and without user:password@.
local function host(url)
  local authority = url:match("^%a[%w+.-]*://([^/?#]+)")
  if not authority then return "?" end
  return (authority:gsub("^.*@", ""))
end

-- The host name alone, lower case (no port): what redact compares.
local function hostname(url)
  local h = host(url):lower()
  return h:match("^(.*):%d*$") or h
end

local function replace_all(text, plain, by)
  if plain == nil or plain == "" then return text end
  local out, pos = {}, 1
  while true do
    local a, b = text:find(plain, pos, true)
    if not a then break end
    out[#out + 1] = text:sub(pos, a - 1)
    out[#out + 1] = by
    pos = b + 1
  end
  out[#out + 1] = text:sub(pos)
  return concat(out)
end

-- `text` (an error, a response) with the target's secrets replaced by its name: every
-- occurrence of the url and the token, and every url to the same host, whatever its scheme,
-- port or path (a redirect to https, or to another secret path of the service), or carrying
-- the url's path elsewhere.
local function redact(text, url, name, token)
  text = replace_all(replace_all(text, url, name), token, name)
  local h = hostname(url)
  local path = url:match("^%a[%w+.-]*://[^/?#]*([/?].*)$")
  if path == "/" then path = nil end
  return (text:gsub("%a[%w+.-]*://[^%s\"'<>`]*", function(u)
    local tail = u:match("[.,;:!?)%]]*$")  -- punctuation after a url is the sentence's
    if hostname(u) == h or (path and u:find(path, 1, true)) then return name .. tail end
  end))
end

local function guess_format(url)
  local h = host(url):lower()
  if h:find("hooks.slack.com", 1, true) then return "slack" end
  if (h:find("discord.com", 1, true) or h:find("discordapp.com", 1, true)) and url:find("/api/webhooks/", 1, true) then
    return url:find("/slack$") and "slack" or "discord"
  end
  if h:find("ntfy", 1, true) then return "ntfy" end
  return "webhook"
end

local function cut(s, n)
  if #s <= n then return s end
  return s:sub(1, n - 3) .. "..."
end

local function tag_list(tags)
  if tags == nil then return nil end
  if type(tags) == "string" then return { tags } end
  local out = {}
  for i, t in ipairs(tags) do out[i] = tostring(t) end
  return out
end

local function priority_of(opts)
  local priority = opts.priority
  if type(priority) == "string" then priority = PRIORITIES[priority] end
  if priority ~= nil and (math.type(priority) ~= "integer" or priority < 1 or priority > 5) then
    return nil, format("priority must be 1-5 or min, low, default, high, urgent (got %s)", tostring(opts.priority))
  end
  return priority
end

local function url_of(target)
  local url = target.url or (target.url_env and env(target.url_env))
  if url == nil or url == "" then
    return nil, target.url_env and format("the environment variable %s (url_env) is not set", target.url_env)
      or "no url: set \"url\" in plugins.json's \"notify\" entry, or pass { target = { url = ... } }"
  end
  return url
end

-- The request that sends `message` to `target`, and the target's format; or nil and why not.
local function build(message, opts, target)
  local url, why = url_of(target)
  if not url then return nil, why end
  local kind = target.format or guess_format(url)
  local priority, bad = priority_of(opts)
  if bad then return nil, bad end
  local title, text = opts.title, cut(tostring(message), MAX_MESSAGE)
  local headers = { ["Content-Type"] = "application/json" }
  local body
  if kind == "ntfy" then
    -- JSON publishing: titles and tags may hold any text (headers must be ASCII)
    local base, topic = split_url(url)
    if not base or topic == "" then return nil, format("an ntfy url names its topic, such as https://ntfy.sh/my-topic (got %s)", url) end
    url = base
    body = { topic = topic, message = text, title = title, priority = priority, tags = tag_list(opts.tags), click = opts.click }
  elseif kind == "slack" then
    body = { text = title and format("*%s*\n%s", title, text) or text }
  elseif kind == "discord" then
    body = { content = cut(title and format("**%s**\n%s", title, text) or text, 2000) }
  else
    body = { title = title, message = text, priority = priority, tags = tag_list(opts.tags), click = opts.click, source = "tide" }
    for k, v in pairs(opts.fields or {}) do body[k] = v end
  end
  if target.token then headers["Authorization"] = "Bearer " .. target.token end
  for k, v in pairs(target.headers or {}) do headers[k] = tostring(v) end
  return { method = "POST", url = url, headers = headers, body = json.encode(body), timeout = target.timeout or "15s" }, kind
end

--- request(message, opts, target): the http.request table that sends `message` to `target`,
-- and the target's format (no I/O; what send uses, and what tests look at).
function notify.request(message, opts, target)
  local req, kind = build(message, opts or {}, target or {})
  if not req then fail(kind, 2) end
  return req, kind
end

-- How errors and logs name a target: its format and host, never its secret path.
local function name_of(target)
  local url = url_of(target)
  if not url then return target.url_env and ("url_env " .. target.url_env) or "a target without url" end
  return (target.format or guess_format(url)) .. " " .. host(url)
end

-- Errors of notify print as their message (tostring, logs), as the engine's errors do.
local ERROR = { __tostring = function(e) return e.message end }

local function http_module()
  local http = rawget(_G, "http") or require("tide").http
  if http == nil then fail("the http module is not available in this version of tide", 4) end
  return http
end

local function deliver(req, target, name, message, opts)
  local url = url_of(target)  -- for ntfy, req.url is the server: the topic is in the body
  local function hide(text) return redact(redact(text, url, name, target.token), req.url, name) end
  if target.dry_run then
    log.info(format("notify (dry run) %s: %s%s", name, opts.title and (opts.title .. ": ") or "", cut(tostring(message), 200)))
    return { target = name, dry_run = true, request = req }
  end
  local done, res = pcall(http_module().request, req)
  if not done then
    if type(res) == "table" and res.code == "cancelled" then error(res, 0) end
    -- the request failed (refused, timed out, TLS...): say so without the url's secret path
    local why = hide(type(res) == "table" and tostring(res.message or res.code) or tostring(res))
    error(setmetatable({ code = "notify", reason = type(res) == "table" and (res.reason or res.code) or nil, target = name,
                         message = format("notify: %s: %s", name, why) }, ERROR), 2)
  end
  if type(res) ~= "table" or type(res.status) ~= "number" or res.status < 200 or res.status > 299 then
    local status = type(res) == "table" and res.status or nil
    local detail = type(res) == "table" and type(res.body) == "string" and cut(hide(res.body):gsub("%s+", " "):match("^ ?(.-) ?$"), 300) or ""
    error(setmetatable({ code = "notify", status = status, target = name,
                         message = format("notify: %s answered %s%s", name, tostring(status), detail ~= "" and (": " .. detail) or "") }, ERROR), 2)
  end
  return { target = name, status = res.status, body = res.body }
end

-- Targets that got a message whose send failed at another target, by target and request:
-- sending that message again (a step's retry) skips them, so they get it once. Module state
-- lives as long as the run's Lua state: one run. A send that reaches every target forgets its
-- entries, so sending the same text again later is a new notification.
local delivered = {}

--- send(message [, opts]): sends to opts.target, or to every target of the settings.
-- opts: title, priority (1-5 or min/low/default/high/urgent), tags (list), click (url),
-- fields (extra JSON fields for plain webhooks), target (a target table, instead of the settings').
-- Returns one {target, status, body} (or {target, dry_run, request}) per target. Every target is
-- tried; when some fail, raises one error with code "notify" that names each failed target
-- (with `errors`: one per failed target, and `sent`: the targets that got the message). A
-- target that already got this message in this run, from a send that failed elsewhere, is not
-- sent it again: its result comes back with already_sent = true. So a step's retries resend
-- only to the targets that failed.
function notify.send(message, opts)
  if message == nil then fail("send needs a message", 2) end
  opts = opts or {}
  if type(opts) ~= "table" then fail("bad argument #2 to 'send' (table expected, got " .. type(opts) .. ")", 2) end
  for k in pairs(opts) do
    if not SEND_FIELDS[k] then fail(format("unknown option '%s' (options: title, priority, tags, click, fields, target)", tostring(k)), 2) end
  end
  local _, bad = priority_of(opts)
  if bad then fail(bad, 2) end
  local list = targets
  if opts.target ~= nil then list = { check_target(opts.target, "option 'target'") } end
  if #list == 0 then
    fail("no target: set \"url\" in plugins.json's \"notify\" entry, or pass { target = { url = ... } }", 2)
  end
  local results, failed, sent, keys = {}, {}, {}, {}
  for i, t in ipairs(list) do
    local name = name_of(t)
    local req, why = build(message, opts, t)
    if not req then
      if #list == 1 then fail(why, 2) end
      failed[#failed + 1] = { index = i, error = setmetatable({ code = "notify", target = name, message = format("notify: %s: %s", name, why) }, ERROR) }
    else
      local key = format("%d\0%s\0%s", i, req.url, req.body)
      keys[#keys + 1] = key
      local earlier = delivered[key]
      if earlier then
        results[i] = { already_sent = true }
        for k, v in pairs(earlier) do results[i][k] = v end
        sent[#sent + 1] = name
      else
        local ok, res = pcall(deliver, req, t, name, message, opts)
        if ok then
          results[i], delivered[key] = res, res
          sent[#sent + 1] = name
        else
          if type(res) == "table" and res.code == "cancelled" then error(res, 0) end
          failed[#failed + 1] = { index = i, error = res }
        end
      end
    end
  end
  if #failed == 0 then
    for _, key in ipairs(keys) do delivered[key] = nil end
    return results
  end
  if #list == 1 then error(failed[1].error, 2) end
  local errors, names, parts = {}, {}, {}
  for j, f in ipairs(failed) do
    local e = f.error
    errors[j] = e
    names[j] = type(e) == "table" and e.target or name_of(list[f.index])
    local msg = type(e) == "table" and tostring(e.message) or tostring(e)
    parts[j] = format("[%d] %s", f.index, (msg:gsub("^notify: ", "")))
  end
  error(setmetatable({ code = "notify", targets = names, errors = errors, sent = sent,
                       message = format("notify: %d of %d targets failed: %s", #failed, #list, concat(parts, "; ")) }, ERROR), 2)
end

local function seconds(ms)
  if type(ms) ~= "number" then return nil end
  if ms < 1000 then return format("%dms", math.floor(ms + 0.5)) end
  if ms < 60000 then return format("%.1fs", ms / 1000) end
  return format("%dm%02ds", math.floor(ms / 60000), math.floor(ms / 1000) % 60)
end

--- describe(event): the title, text and options (priority, tags) that tell of a run's end
-- (ctx.event of an `on` flow) or of the daemon's start.
function notify.describe(event)
  if type(event) ~= "table" then fail("describe needs an event table (ctx.event)", 2) end
  local status = event.status or (event.event == "daemon.started" and "started") or "finished"
  if event.event == "daemon.started" then
    return "tide started", format("The tide daemon started (pid %s) at %s.", tostring(event.pid), tostring(event.started_at)),
      { priority = "low", tags = { "arrow_forward" } }
  end
  local flow = event.flow or "?"
  local parts = { format("Run %s of %s %s", tostring(event.run_id or "?"), flow, status) }
  local took = seconds(event.duration_ms)
  if took then parts[#parts + 1] = " after " .. took end
  if event.trigger then parts[#parts + 1] = format(" (%s)", event.trigger) end
  local err = event.error
  local msg = type(err) == "table" and err.message or (type(err) == "string" and err) or nil
  if msg then parts[#parts + 1] = ":\n" .. tostring(msg) end
  local bad = status == "failed" or status == "interrupted" or status == "cancelled"
  return format("%s %s", flow, status), concat(parts),
    { priority = bad and "high" or "default", tags = { bad and "rotating_light" or "white_check_mark" } }
end

--- event(event [, opts]): sends a run's end (ctx.event) as a notification, with a title like
-- "backup failed", the run id, its duration and error.
function notify.event(event, opts)
  local title, text, defaults = notify.describe(event)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  o.title = title
  for k, v in pairs(opts or {}) do o[k] = v end
  return notify.send(text, o)
end

return notify

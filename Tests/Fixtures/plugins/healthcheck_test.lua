-- healthcheck_test.lua: the healthcheck plugin (plugins/healthcheck.lua) with `http` stubbed:
-- start, success and failure pings, URLs from settings, Uptime Kuma style, failures that never
-- fail the run. Returns "ok" or raises the first failed check.
local hc = require "healthcheck"

local function eq(got, want, what)
  local g, w = json.encode(got), json.encode(want)
  if g ~= w then error(string.format("%s: got %s, want %s", what, g, w), 2) end
end

local sent, fail_http = {}, false
local function stub(req)
  sent[#sent + 1] = req.method .. " " .. req.url .. (req.body and req.body ~= "" and (" " .. req.body) or "")
  if fail_http then error({ code = "http", message = "connection refused" }) end
  return { status = 200, body = "OK", headers = {} }
end
http = { request = stub }

flow {
  name = "healthcheck-test",
  run = function(ctx)
    hc.setup({ base = "https://hc-ping.com/KEY/", urls = { special = "https://hc.example/ping/abc" } })
    eq(hc.url_for("nightly backup"), "https://hc-ping.com/KEY/nightly%20backup", "slug url")
    eq(hc.url_for("special"), "https://hc.example/ping/abc", "per-flow url")

    local ok_run = hc.wrap(function(c) return { done = c.flow } end)
    eq(ok_run({ flow = "db", run_id = "r1" }), { done = "db" }, "wrapped result")
    eq(sent, { "POST https://hc-ping.com/KEY/db/start", "POST https://hc-ping.com/KEY/db" }, "start and success pings")

    sent = {}
    local failing = hc.wrap(function() error({ code = "DISK", message = "disk full" }) end)
    local ok, e = pcall(failing, { flow = "db", run_id = "r2" })
    assert(not ok and e.code == "DISK", "the run's error must come back unchanged: " .. json.encode(e))
    eq(sent, { "POST https://hc-ping.com/KEY/db/start", "POST https://hc-ping.com/KEY/db/fail run r2 of db failed: disk full" }, "failure ping")

    -- a ping that fails is logged, never raised
    sent, fail_http = {}, true
    eq(ok_run({ flow = "db", run_id = "r3" }), { done = "db" }, "the run goes on when pings fail")
    fail_http = false

    -- a failed ping's log line names the host only: a ping url (its key, user:password@) is a secret,
    -- and an http error may quote it or the url a redirect led to
    local real_log, logged = log, {}
    log = setmetatable({ warn = function(m) logged[#logged + 1] = m end }, { __index = real_log })
    http.request = function(req)
      error({ code = "http", message = "too many redirects: " .. req.url .. " led to https://hc.example:443/ping/abc-key/x." })
    end
    local status = hc.ping("https://me:hunter2@hc.example/ping/abc-key", "start")
    log = real_log
    eq(status, nil, "a failed ping returns nil")
    eq(logged, { "healthcheck: start ping to hc.example failed: too many redirects: hc.example led to hc.example." }, "redacted log line")
    http.request = stub

    -- Uptime Kuma push monitors: no start, status=up / down with a message
    hc.setup({ style = "kuma", urls = { db = "https://kuma.example/api/push/TOKEN" } })
    sent = {}
    ok_run({ flow = "db", run_id = "r4" })
    pcall(failing, { flow = "db", run_id = "r5" })
    eq(sent, { "GET https://kuma.example/api/push/TOKEN?status=up&msg=OK",
               "GET https://kuma.example/api/push/TOKEN?status=down&msg=run%20r5%20of%20db%20failed%3A%20disk%20full" }, "kuma pings")

    -- Uptime Kuma: a long message is cut (it goes in the url), never inside a UTF-8 character
    sent = {}
    hc.ping("https://kuma.example/api/push/TOKEN", "fail", string.rep("é", 400))
    local msg = sent[1]:match("&msg=(.*)$"):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    assert(#msg <= 250 and msg:sub(-3) == "..." and utf8.len(msg), "kuma message not shortened: " .. #msg .. " bytes")
    hc.setup({ base = "https://hc-ping.com/KEY" })
    sent = {}
    hc.ping("https://hc-ping.com/KEY/db", "fail", string.rep("x", 20000))
    eq(#sent[1], #"POST https://hc-ping.com/KEY/db/fail " + 10000, "a healthchecks body is cut at 10 kB")

    -- an unknown kind is an error naming the valid ones, and sends nothing (it sent a success ping)
    sent = {}
    for _, kind in ipairs({ "failure", "ok", 1 }) do
      local okk, ek = pcall(hc.ping, "https://hc-ping.com/KEY/db", kind, "m")
      assert(not okk and tostring(ek):find('kind must be "start", "success" or "fail"', 1, true), tostring(ek))
    end
    local okq, eq_ = pcall(hc.request, "https://hc-ping.com/KEY/db", "failed")
    assert(not okq and tostring(eq_):find("healthcheck.request: kind must be", 1, true), tostring(eq_))
    eq(#sent, 0, "no ping for an unknown kind")

    -- no URL: the run goes on unwatched
    hc.setup({})
    sent = {}
    eq(ok_run({ flow = "db", run_id = "r6" }), { done = "db" }, "unwatched run")
    eq(#sent, 0, "no ping without a URL")
    local bad = pcall(hc.setup, { style = "nagios" })
    assert(not bad, "an unknown style is refused")
    return "ok"
  end,
}

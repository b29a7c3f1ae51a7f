-- notify_test.lua: the notify plugin (plugins/notify.lua) with `http` stubbed by a Lua table:
-- what it would send to ntfy, Slack, Discord and plain webhooks, and how it fails.
-- Returns "ok" or raises the first failed check.
local notify = require "notify"

local function eq(got, want, what)
  local g, w = json.encode(got), json.encode(want)
  if g ~= w then error(string.format("%s: got %s, want %s", what, g, w), 2) end
end

local sent, answer = {}, { status = 200, body = "", headers = {} }
http = { request = function(req) sent[#sent + 1] = req; return answer end }  -- the stub

flow {
  name = "notify-test",
  run = function(ctx)
    -- ntfy: JSON publishing to the server root, the topic in the body
    notify.send("disk 91% full", { title = "srv1", priority = "high", tags = { "warning" }, click = "https://grafana/x",
                                   target = { url = "https://ntfy.sh/ops-alerts", token = "tk_1" } })
    local r = sent[1]
    eq(r.method, "POST", "ntfy method")
    eq(r.url, "https://ntfy.sh", "ntfy url")
    eq(r.headers.Authorization, "Bearer tk_1", "ntfy token")
    eq(json.decode(r.body), { topic = "ops-alerts", message = "disk 91% full", title = "srv1", priority = 4,
                              tags = { "warning" }, click = "https://grafana/x" }, "ntfy body")

    -- Slack (and Mattermost, Rocket.Chat): {text}, title in bold
    notify.send("deploy done", { title = "web", target = { url = "https://hooks.slack.com/services/T0/B0/xyz" } })
    eq(json.decode(sent[2].body), { text = "*web*\ndeploy done" }, "slack body")
    eq(sent[2].headers["Content-Type"], "application/json", "slack content type")

    -- Discord: {content}; its /slack endpoint takes Slack's shape
    notify.send("hi", { target = { url = "https://discord.com/api/webhooks/1/abc" } })
    eq(json.decode(sent[3].body), { content = "hi" }, "discord body")
    notify.send("hi", { target = { url = "https://discord.com/api/webhooks/1/abc/slack" } })
    eq(json.decode(sent[4].body), { text = "hi" }, "discord /slack body")

    -- a plain webhook: every field, plus extra ones; the format can be forced
    notify.send("x", { title = "t", fields = { host = "srv1" }, target = { url = "https://example.com/hook", headers = { ["X-Key"] = "k" } } })
    eq(json.decode(sent[5].body), { title = "t", message = "x", source = "tide", host = "srv1" }, "webhook body")
    eq(sent[5].headers["X-Key"], "k", "custom header")
    notify.send("x", { target = { url = "https://push.example.com/topic", format = "ntfy" } })
    eq(json.decode(sent[6].body).topic, "topic", "forced ntfy")

    -- a run's end as ctx.event gives it
    local event = { event = "run.failed", run_id = "run_42", flow = "backup", status = "failed", trigger = "schedule",
                    duration_ms = 83500, error = { code = "exit", message = "tar exited with status 2" } }
    notify.event(event, { target = { url = "https://ntfy.sh/ops" } })
    local body = json.decode(sent[7].body)
    eq(body.title, "backup failed", "event title")
    eq(body.message, "Run run_42 of backup failed after 1m23s (schedule):\ntar exited with status 2", "event message")
    eq(body.priority, 4, "a failure is urgent enough")
    eq(body.tags, { "rotating_light" }, "event tags")
    local title, text = notify.describe({ event = "run.succeeded", run_id = "r", flow = "f", status = "succeeded", duration_ms = 250 })
    eq({ title, text }, { "f succeeded", "Run r of f succeeded after 250ms" }, "success text")

    -- failures: a non-2xx answer raises code "notify" naming the host, not the secret path
    answer = { status = 403, body = "forbidden\n", headers = {} }
    local ok, e = pcall(notify.send, "x", { target = { url = "https://hooks.slack.com/services/T0/B0/secret" } })
    assert(not ok and e.code == "notify" and e.status == 403, json.encode(e))
    eq(e.message, "notify: slack hooks.slack.com answered 403: forbidden", "error message")
    assert(not e.message:find("secret"), "the webhook's secret path leaked")
    answer = { status = 200, body = "", headers = {} }

    -- an ntfy server under a path prefix keeps it; the topic is the last segment
    notify.send("p", { target = { url = "https://example.com/ntfy/alerts", format = "ntfy" } })
    eq(sent[#sent].url, "https://example.com/ntfy", "ntfy under a prefix")
    eq(json.decode(sent[#sent].body).topic, "alerts", "ntfy topic under a prefix")

    -- a request that fails (refused, timeout): code notify, the host named, the secret path not
    local real = http.request
    http.request = function(req) error({ code = "http", reason = "connect", message = "cannot connect to " .. req.url .. ": refused" }) end
    local okc, ec = pcall(notify.send, "x", { target = { url = "https://hooks.slack.com/services/T0/B0/secret" } })
    http.request = real
    assert(not okc and ec.code == "notify" and ec.reason == "connect", json.encode(ec))
    eq(ec.message, "notify: slack hooks.slack.com: cannot connect to slack hooks.slack.com: refused", "transport error")

    -- no secret in an error: every occurrence of the url, any url to its host (a redirect to
    -- https, another path), its path on another host, the token; user:password@ never shown
    local hook = "http://hooks.slack.com/services/T0/B0/secret"
    http.request = function(req)
      error({ code = "http", reason = "redirect", message = "too many redirects from " .. req.url .. " (" .. req.url
        .. "): the last one led to https://HOOKS.slack.com:443/services/T0/B0/secret?x=1, via https://mirror.example/services/T0/B0/secret"
        .. " with Bearer tk_secret_token" })
    end
    local okr, er = pcall(notify.send, "x", { target = { url = hook, token = "tk_secret_token" } })
    http.request = real
    assert(not okr and er.code == "notify" and er.reason == "redirect", json.encode(er))
    eq(er.message, "notify: slack hooks.slack.com: too many redirects from slack hooks.slack.com (slack hooks.slack.com):"
      .. " the last one led to slack hooks.slack.com, via slack hooks.slack.com with Bearer slack hooks.slack.com", "every secret redacted")
    answer = { status = 400, body = "no such hook: " .. hook, headers = {} }
    local okb, eb = pcall(notify.send, "x", { target = { url = "https://bot:hunter2@chat.example:8443/hooks/abc", format = "slack" } })
    assert(not okb and not eb.message:find("hunter2", 1, true) and not eb.message:find("/hooks/abc", 1, true), json.encode(eb))
    eq(eb.target, "slack chat.example:8443", "no user:password@ in a target's name")
    local okb2, eb2 = pcall(notify.send, "x", { target = { url = hook } })
    eq(eb2.message, "notify: slack hooks.slack.com answered 400: no such hook: slack hooks.slack.com", "an answer that quotes the url")
    answer = { status = 200, body = "", headers = {} }

    -- bad input: unknown options, no target, a bad priority, an ntfy url without a topic
    for _, case in ipairs({
      { { tittle = "x", target = { url = "https://a/b" } }, "unknown option 'tittle'" },
      { {}, "no target" },
      { { priority = 9, target = { url = "https://ntfy.sh/x" } }, "priority must be" },
      { { target = { url = "https://ntfy.sh/" } }, "names its topic" },
      { { target = { url = "https://a/b", format = "sms" } }, "'format' must be" },
    }) do
      local ok2, e2 = pcall(notify.send, "m", case[1])
      assert(not ok2 and tostring(e2):find(case[2], 1, true), "expected '" .. case[2] .. "', got " .. tostring(e2))
    end

    -- dry run: logs, sends nothing
    local before = #sent
    local res = notify.send("quiet", { target = { url = "https://ntfy.sh/x", dry_run = true } })
    eq(#sent, before, "dry run sent something")
    eq(res[1].dry_run, true, "dry run result")

    -- the settings: setup() takes a target or a list; send() with no target uses them
    notify.setup({ targets = { { url = "https://ntfy.sh/a" }, { url = "https://hooks.slack.com/services/x" } } })
    local results = notify.send("both")
    eq(#results, 2, "two targets")
    eq(results[1].target, "ntfy ntfy.sh", "target name")
    local ok3, e3 = pcall(notify.setup, { url = "https://ntfy.sh/a", colour = "red" })
    assert(not ok3 and tostring(e3):find("unknown setting 'colour'"), tostring(e3))
    -- settings are checked when they are read (tide check shows it), not at the first send
    for _, case in ipairs({
      { '{"targets": {"url": "https://ntfy.sh/a"}}', "setting 'targets' must be a list of targets" },  -- an object
      { '{"targets": {}}', "setting 'targets' must be a list of targets" },
      { '{"targets": "https://ntfy.sh/a"}', "must be a list of targets" },
      { '{"targets": [{"url": "https://ntfy.sh/a"}, {"token": "t"}]}', "targets[2]: no 'url'" },
      { '{"url": "ntfy.sh/a"}', "'url' must start with https://" },
      { '{"url": "https://ntfy.sh/a", "dry_run": "yes"}', "'dry_run' must be true or false" },
    }) do
      local okc, ec = pcall(notify.setup, json.decode(case[1]))
      assert(not okc and tostring(ec):find(case[2], 1, true), case[1] .. ": expected '" .. case[2] .. "', got " .. tostring(ec))
    end
    notify.setup(json.decode('{"targets": []}'))
    notify.setup(json.decode('{"targets": [{"url_env": "X"}, {"url": "https://ntfy.sh/a", "dry_run": false}]}'))

    -- several targets: every one is tried, and one error names each that failed
    notify.setup({ targets = { { url = "https://ntfy.sh/a" }, { url = "https://hooks.slack.com/services/T/B/s1" },
                               { url = "https://example.com/hook" } } })
    local calls, down = {}, { ["hooks.slack.com"] = 1, ["example.com"] = 2 }  -- how many more times each fails
    http.request = function(req)
      local h = req.url:match("^https://([^/]+)")
      calls[h] = (calls[h] or 0) + 1
      if (down[h] or 0) > 0 then
        down[h] = down[h] - 1
        if h == "example.com" then error({ code = "http", reason = "connect", message = "cannot connect to " .. req.url }) end
        return { status = 503, body = "busy", headers = {} }
      end
      return { status = 200, body = "ok", headers = {} }
    end
    local okm, em = pcall(notify.send, "m1")
    assert(not okm and em.code == "notify", json.encode(em))
    eq(calls, { ["ntfy.sh"] = 1, ["hooks.slack.com"] = 1, ["example.com"] = 1 }, "every target tried")
    eq(em.message, "notify: 2 of 3 targets failed: [2] slack hooks.slack.com answered 503: busy;"
      .. " [3] webhook example.com: cannot connect to webhook example.com", "one error for all failures")
    eq(em.targets, { "slack hooks.slack.com", "webhook example.com" }, "failed targets")
    eq(em.sent, { "ntfy ntfy.sh" }, "who got it")
    eq({ #em.errors, em.errors[1].status, em.errors[2].reason }, { 2, 503, "connect" }, "each failure")
    eq(tostring(em), em.message, "tostring of a notify error")
    -- a step's retries resend only to the targets that have not got the message
    local res = step("notify", function() return notify.send("m1") end, { retries = { attempts = 3, delay = "10ms" } })
    eq(calls, { ["ntfy.sh"] = 1, ["hooks.slack.com"] = 2, ["example.com"] = 3 }, "no duplicates on retry")
    eq({ #res, res[1].already_sent, res[1].target, res[2].already_sent, res[3].status }, { 3, true, "ntfy ntfy.sh", true, 200 }, "results after retries")
    -- once every target has it, the same text sent again is a new notification
    notify.send("m1")
    eq(calls, { ["ntfy.sh"] = 2, ["hooks.slack.com"] = 3, ["example.com"] = 4 }, "sent again after a full send")
    -- a target that cannot even be built (its url_env unset) is one failure among others
    notify.setup({ targets = { { url = "https://ntfy.sh/a" }, { url_env = "TIDE_NOTIFY_TEST_UNSET" } } })
    local oku, eu = pcall(notify.send, "m2")
    assert(not oku, "a target without url passed")
    eq(eu.message, "notify: 1 of 2 targets failed: [2] url_env TIDE_NOTIFY_TEST_UNSET: the environment variable"
      .. " TIDE_NOTIFY_TEST_UNSET (url_env) is not set", "an unset url_env")
    eq(calls["ntfy.sh"], 3, "the other target got it")
    http.request = real
    return "ok"
  end,
}

-- on-failure.lua: runs whenever a run of another flow fails (SPEC §2 `on`), with its summary as
-- ctx.event, and sends a notification through the notify plugin (plugins/notify.lua).
-- Try it: tide run saga --payload '{"fail_at":"ship"}'   then   tide logs <the on-failure run>
-- examples/plugins.json has notify in dry_run mode: it logs what it would send. Put your ntfy
-- topic or Slack webhook there as "url" (and drop dry_run) to get real notifications.
local notify = require "notify"

flow {
  name = "on-failure",
  description = "Notifies of failed runs (ntfy, Slack, Discord or a JSON webhook)",
  on = "run.failed",
  run = function(ctx)
    local e = ctx.event
    local count = (kv.get("failures") or 0) + 1
    kv.set("failures", count)
    local sent = step("notify", function() return notify.event(e) end, { retries = 2 })
    return { flow = e.flow, run_id = e.run_id, failures_so_far = count, sent = #sent }
  end,
}

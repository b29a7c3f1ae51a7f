-- on-failure.lua: runs whenever a run of another flow fails (SPEC §2 `on`), with its summary as ctx.event.
-- Try it: tide run saga --payload '{"fail_at":"ship"}'   then   tide runs --flow on-failure
flow {
  name = "on-failure",
  description = "Reports failed runs (a real one would post to a webhook)",
  on = "run.failed",
  run = function(ctx)
    local e = ctx.event
    log.warn(string.format("%s failed (%s): %s", e.flow, e.run_id, e.error and e.error.message or "?"))
    local count = (kv.get("failures") or 0) + 1
    kv.set("failures", count)
    return { flow = e.flow, run_id = e.run_id, failures_so_far = count }
  end,
}

-- heartbeat.lua: a scheduled flow. Every 5 minutes (and once after downtime, for the newest
-- missed start), count the beats in the key-value store and check the disk.
flow {
  name = "heartbeat",
  description = "Counts beats and checks free disk space every 5 minutes",
  schedule = "*/5 * * * *",
  catchup = "latest",        -- after downtime: one beat for the newest missed start
  overlap = "skip",          -- a beat still running when the next is due: skip the next
  jitter = "10s",
  timeout = "1m",
  run = function(ctx)
    local beats = (kv.get("beats") or 0) + 1
    kv.set("beats", beats)
    local df = sh("df -Pk . | tail -1")
    log.info("beat", beats, "trigger", ctx.trigger, "for", ctx.scheduled_at)
    return { beats = beats, scheduled_at = ctx.scheduled_at, disk = df.stdout:gsub("%s+$", "") }
  end,
}

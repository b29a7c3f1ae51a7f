-- backup-rotate.lua: a nightly backup as cron users write it, with three plugins:
--   files (atomic write, checksum), rotate (keep the last 3 and one a day for a week, delete the
--   rest) and healthcheck (ping healthchecks.io or Uptime Kuma at the start, success or failure).
--   tide exec examples/flows/backup-rotate.lua --home examples          (run it a few times)
--   tide exec examples/flows/backup-rotate.lua --home examples --payload '{"dry_run":true}'
-- For real use, add  schedule = "0 3 * * *"  and replace the snapshot with pg_dump, tar, restic...
local files = require "files"
local rotate = require "rotate"
local hc = require "healthcheck"

flow {
  name = "backup-rotate",
  description = "Snapshot, checksum, then keep the last 3 and one a day for a week",
  timeout = "10m",
  run = hc.wrap(function(ctx)
    local dir = ctx.payload.dir or (env("TMPDIR", "/tmp") .. "/tide-example-backups")
    local path = string.format("%s/snapshot-%s.txt", dir, os.date("%Y%m%d-%H%M%S"))
    step("snapshot", function()
      local df = sh("df -Pk /").stdout
      -- readers of the folder never see a half-written snapshot: write() renames it into place
      files.write(path, "taken at " .. os.date("!%Y-%m-%dT%H:%M:%SZ") .. "\n" .. df, { mkdir = true, mode = "0600" })
    end)
    local sum = step("checksum", function()
      local sum = files.checksum(path)
      files.write(path .. ".sha256", sum .. "  " .. path:match("[^/]+$") .. "\n")
      return sum
    end)
    local pruned = step("rotate", function()
      return rotate.prune(dir .. "/snapshot-*.txt", { keep_last = 3, keep_daily = 7, dry_run = ctx.payload.dry_run })
    end)
    for _, old in ipairs(pruned.deleted) do
      if not pruned.dry_run then os.remove(old .. ".sha256") end
    end
    return { snapshot = path, sha256 = sum, kept = #pruned.kept, deleted = pruned.deleted, dry_run = pruned.dry_run }
  end),
}

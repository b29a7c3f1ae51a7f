-- primary-backup.lua: race a primary against a backup; the loser is really cancelled.
--   tide exec examples/flows/primary-backup.lua
-- The slow "primary" runs `sleep 30`; when the backup wins, that process is killed.
flow {
  name = "primary-backup",
  description = "Use whichever mirror answers first",
  timeout = "1m",
  run = function(ctx)
    local body, mirror = race({
      primary = function()
        return sh("sleep " .. (ctx.payload.primary_delay or 30) .. " && echo from-primary").stdout
      end,
      backup = function()
        sleep(ctx.payload.backup_delay or "300ms")
        return sh("echo from-backup").stdout
      end,
    }, { name = "mirrors" })
    -- any() tolerates failures: the first mirror that succeeds wins.
    local checksum = any({
      broken = function() error({ code = "UNREACHABLE", mirror = "eu" }) end,
      working = function() return sh("printf %s '" .. body .. "' | cksum").stdout:match("%d+") end,
    })
    return { mirror = mirror, body = body:gsub("%s+$", ""), checksum = checksum }
  end,
}

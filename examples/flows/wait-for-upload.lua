-- wait-for-upload.lua: wait for a file another system drops off, check it, and say so.
-- Uses the files plugin (wait_for, checksum) and notify (plugins/notify.lua).
--   tide exec examples/flows/wait-for-upload.lua --home examples --payload '{"path":"/tmp/drop/export.csv","timeout":"30s"}'
--   and meanwhile, in another terminal:  mkdir -p /tmp/drop && seq 1000 > /tmp/drop/export.csv
-- Cancelling the run (Ctrl-C, tide cancel) ends the wait at once: it polls with sleep.
local files = require "files"
local notify = require "notify"

flow {
  name = "wait-for-upload",
  description = "Wait for a dropped-off file to appear and settle, verify it, notify",
  timeout = "3h",
  run = function(ctx)
    local path = ctx.payload.path or "/tmp/drop/export.csv"
    local arrived = step("wait", function()
      return files.wait_for(path, { timeout = ctx.payload.timeout or "2h", interval = "500ms", stable = "1s" })
    end)
    local sum = step("checksum", function() return files.checksum(path) end)
    if ctx.payload.sha256 and sum ~= ctx.payload.sha256:lower() then
      error({ code = "CHECKSUM", message = path .. " has sha256 " .. sum .. ", expected " .. ctx.payload.sha256 })
    end
    notify.send(string.format("%s arrived (%d bytes, sha256 %s…)", path, arrived.size, sum:sub(1, 12)),
      { title = "upload received", tags = { "inbox_tray" } })
    return { path = path, size = arrived.size, sha256 = sum, waited = math.floor(arrived.waited * 10 + 0.5) / 10 }
  end,
}

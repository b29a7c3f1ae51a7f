-- process-items.lua: process 1,000 items with bounded concurrency (a sliding window of 16).
--   tide exec examples/flows/process-items.lua --payload '{"count":1000}'
flow {
  name = "process-items",
  description = "Resize a folder of images, 16 at a time, tolerating a few failures",
  timeout = "10m",
  run = function(ctx)
    local count = ctx.payload.count or 1000
    local items = {}
    for i = 1, count do items[i] = ("image-%04d.png"):format(i) end
    local results, errors = batch(items, function(name, i)
      sleep(0.005 + (i % 7) * 0.002) -- stands in for the real work
      if i % 250 == 0 then error({ code = "CORRUPT", file = name }) end
      return #name
    end, { concurrency = 16, tolerate = 10, name = "resize" })
    local failed = {}
    for _, e in pairs(errors) do failed[#failed + 1] = e.file end
    table.sort(failed)
    log.info(("%d processed, %d failed"):format(count - #failed, #failed))
    return { processed = count - #failed, failed = failed }
  end,
}

-- exec-batch.lua: batch of N exec{"true"} with concurrency 16, timed inside the script.
flow {
  name = "exec-batch",
  run = function(ctx)
    local n = ctx.payload.n or 1000
    local items = {}
    for i = 1, n do items[i] = i end
    local t = now()
    batch(items, function() return exec({ "true" }).status end, { concurrency = 16 })
    return { ms = (now() - t) * 1000 }
  end,
}

-- fanout.lua: parallel over N tasks that each sleep 10 ms, timed inside the script.
flow {
  name = "fanout",
  run = function(ctx)
    local n = ctx.payload.n or 10000
    local tasks = {}
    for i = 1, n do tasks[i] = function() sleep(0.01) return i end end
    local t = now()
    local results = parallel(tasks)
    local elapsed = now() - t
    assert(#results == n and results[n] == n)
    return { ms = elapsed * 1000 }
  end,
}

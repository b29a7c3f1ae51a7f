-- http-get.lua: parallel of N http.get calls to one URL, timed inside the script.
flow {
  name = "http-get",
  run = function(ctx)
    local n, url = ctx.payload.n or 1000, ctx.payload.url
    local tasks = {}
    for i = 1, n do tasks[i] = function() return #http.get(url).body end end
    local t = now()
    local results = parallel(tasks)
    local elapsed = now() - t
    assert(#results == n and results[n] > 0)
    return { ms = elapsed * 1000 }
  end,
}

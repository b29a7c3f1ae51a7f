-- steps.lua: N sequential steps of a trivial function, timed inside the script.
flow {
  name = "steps",
  run = function(ctx)
    local n = ctx.payload.n or 100000
    local f = function() return 1 end
    local t = now()
    for i = 1, n do step("s", f) end
    local elapsed = now() - t
    return { us_per_step = elapsed * 1e6 / n, ms = elapsed * 1000 }
  end,
}

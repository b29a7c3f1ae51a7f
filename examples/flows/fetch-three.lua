-- fetch-three.lua: fetch three things at once, each as a recorded step.
--   tide exec examples/flows/fetch-three.lua --payload '{"user":"ada"}'
flow {
  name = "fetch-three",
  description = "Load a user's profile, recent orders and notifications concurrently",
  timeout = "30s",
  run = function(ctx)
    local user = ctx.payload.user or "ada"
    local data = parallel({
      profile = function()
        return step("profile", function()
          sleep("120ms") -- stands in for a slow API call
          return { name = user, plan = "pro" }
        end)
      end,
      orders = function()
        return step("orders", function()
          local r = sh("printf '%s\\n' 1041 1042 1077")
          local ids = {}
          for id in r.stdout:gmatch("%d+") do ids[#ids + 1] = tonumber(id) end
          return ids
        end, { retries = 2 })
      end,
      notifications = function()
        return step("notifications", function()
          sleep("80ms")
          return 3
        end)
      end,
    }, { name = "fetch-user-data", timeout = "5s" })
    log.info(("%s has %d orders and %d notifications"):format(data.profile.name, #data.orders, data.notifications))
    return data
  end,
}

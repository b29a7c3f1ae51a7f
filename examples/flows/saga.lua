-- saga.lua: a booking saga; when a later step fails, completed steps are compensated
-- in reverse order.
--   tide exec examples/flows/saga.lua                               (succeeds)
--   tide exec examples/flows/saga.lua --payload '{"fail_at":"ship"}' (fails and compensates)
local function maybe_fail(ctx, name)
  if ctx.payload.fail_at == name then error({ code = "STEP_FAILED", step = name }) end
end

flow {
  name = "saga",
  description = "Reserve stock, charge the card and book shipping, or undo what was done",
  timeout = "2m",
  run = function(ctx)
    local reservation = step("reserve-stock", function()
      maybe_fail(ctx, "reserve")
      return { id = "res-17", sku = "tea-kettle" }
    end, { compensate = function(r) log.warn("releasing reservation " .. r.id) end })

    local charge, email = parallel(
      function()
        return step("charge-card", function()
          maybe_fail(ctx, "charge")
          return { id = "ch-9", amount = 42 }
        end, {
          retries = { attempts = 3, delay = "200ms", backoff = "exponential" },
          compensate = function(c) log.warn("refunding charge " .. c.id) end,
        })
      end,
      function()
        return step("send-receipt", function() return "queued" end,
          { compensate = function() log.warn("sending a cancellation email") end })
      end)

    local shipment = step("book-shipping", function()
      maybe_fail(ctx, "ship")
      return { tracking = "TRK123" }
    end)
    return { reservation = reservation.id, charge = charge.id, email = email, tracking = shipment.tracking }
  end,
  on_failure = function(ctx, err)
    log.error("saga failed at " .. tostring(err.step or err.message) .. "; compensations done")
  end,
}

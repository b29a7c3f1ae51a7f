flow { name = "t", run = function()
  step("a", function() end, { compensate = function() sh("sleep 30.999") end })
  sh("sleep 30.998")
end }

// StepTests.swift: SPEC §3.4, steps with retries, backoff, per-attempt timeouts and compensation.
import Testing
import TideEngine
import TideProtocol

/// Runs a step that fails `failures` times, then returns the attempt start offsets (virtual ms).
private func attemptTimes(_ retries: String, failures: Int = 10) async -> RunOutcome {
    await runFlow(script("""
        local t0, times, n = now(), {}, 0
        pcall(step, "flaky", function()
          n = n + 1
          times[#times + 1] = math.floor((now() - t0) * 1000 + 0.5)
          if n <= \(failures) then error("fail " .. n, 0) end
        end, { retries = \(retries) })
        return times
        """), virtualTime: true)
}

@Suite("step")
struct StepTests {
    @Test("returns fn's results and records name, status and result")
    func records() async {
        let o = await runFlow(script("""
            local a, b = step("compute", function() return 1, 2 end)
            return { a, b }
            """))
        #expect(o.value == [1, 2])
        let s = o.steps.first { $0.name == "compute" }
        #expect(s?.kind == .step && s?.status == .succeeded && s?.attempts == 1 && s?.result == "1")
    }

    @Test("exponential backoff: 1s, 2s, 4s between attempts")
    func exponential() async {
        let o = await attemptTimes(#"{ attempts = 4, delay = "1s" }"#)
        #expect(o.value == [0, 1000, 3000, 7000])
    }

    @Test("linear backoff: 1s, 2s, 3s")
    func linear() async {
        let o = await attemptTimes(#"{ attempts = 4, delay = "1s", backoff = "linear" }"#)
        #expect(o.value == [0, 1000, 3000, 6000])
    }

    @Test("fixed backoff: 500ms each time")
    func fixed() async {
        let o = await attemptTimes(#"{ attempts = 3, delay = "500ms", backoff = "fixed" }"#)
        #expect(o.value == [0, 500, 1000])
    }

    @Test("max_delay caps the backoff; factor scales it")
    func maxDelay() async {
        let o = await attemptTimes(#"{ attempts = 5, delay = "1s", factor = 3, max_delay = "5s" }"#)
        #expect(o.value == [0, 1000, 4000, 9000, 14000])
    }

    @Test("jitter keeps each delay between half and all of it")
    func jitter() async {
        let o = await attemptTimes(#"{ attempts = 4, delay = "1s", jitter = true }"#)
        guard case .array(let times)? = o.value, times.count == 4 else { Issue.record("no times: \(o.error ?? "")"); return }
        let t = times.compactMap { number($0) }
        let gaps = zip(t.dropFirst(), t).map { $0 - $1 }
        for (gap, full) in zip(gaps, [1000.0, 2000, 4000]) {
            #expect(gap >= full / 2 - 1 && gap <= full + 1, "gap \(gap) for a \(full) ms delay")
        }
    }

    @Test("retries = n makes n + 1 attempts and stops at the first success")
    func retriesNumber() async {
        let o = await attemptTimes("2", failures: 1)
        #expect(o.value == [0, 1000])
        let failing = await attemptTimes("2")
        guard case .array(let times)? = failing.value else { Issue.record("no times"); return }
        #expect(times.count == 3)
    }

    @Test("retry_if decides which errors are retried")
    func retryIf() async {
        let o = await runFlow(script("""
            local n = 0
            local ok, e = pcall(step, "s", function() n = n + 1 error({code = n == 1 and "BUSY" or "FATAL"}) end,
              { retries = { attempts = 5, delay = 0 }, retry_if = function(err) return err.code == "BUSY" end })
            return { n = n, code = e.code }
            """), virtualTime: true)
        #expect(o.value == ["n": 2, "code": "FATAL"])
    }

    @Test("by default every error but cancelled is retried")
    func defaultRetryIf() async {
        let o = await runFlow(script("""
            local n = 0
            pcall(step, "s", function() n = n + 1 error({code = "cancelled"}) end, { retries = 3 })
            local m = 0
            pcall(step, "t", function() m = m + 1 error("x") end, { retries = { attempts = 3, delay = 0 } })
            return { n, m }
            """), virtualTime: true)
        #expect(o.value == [1, 3])
    }

    @Test("timeout applies per attempt: a timed-out attempt is cancelled and retried")
    func perAttemptTimeout() async {
        let o = await runFlow(script("""
            local n, closed = 0, 0
            local r = step("slow", function()
              n = n + 1
              local g <close> = setmetatable({}, {__close = function() closed = closed + 1 end})
              if n < 3 then sleep(10) end
              return "done"
            end, { timeout = "1s", retries = { attempts = 3, delay = 0 } })
            return { r = r, n = n, closed = closed }
            """), virtualTime: true)
        #expect(o.value == ["r": "done", "n": 3, "closed": 3])
        #expect(o.steps.first { $0.name == "slow" }?.attempts == 3)
    }

    @Test("a step that runs out of attempts fails with its last error, unchanged")
    func exhausted() async {
        let o = await runFlow(script("""
            step("s", function() error({code = "NOPE"}) end, { retries = { attempts = 2, delay = 0 } })
            """), virtualTime: true)
        #expect(o.status == .failed && o.errorCode == "NOPE")
        let s = o.steps.first { $0.name == "s" }
        #expect(s?.status == .failed && s?.attempts == 2)
    }

    @Test("bad options are argument errors")
    func badOptions() async {
        let o = await runFlow(script(#"step("s", function() end, { retries = { backoff = "quadratic" } })"#))
        #expect(o.errorMessage.contains("bad argument #3 to 'step' (option 'retries.backoff': exponential, linear or fixed expected"))
    }
}

@Suite("compensation")
struct CompensationTests {
    @Test("compensations run in reverse completion order when the run fails, parallel siblings included")
    func reverseOrder() async {
        let o = await runFlow(script("""
            step("reserve", function() return "r" end, { compensate = function(v) log("undo reserve " .. v) end })
            parallel({
              function() sleep(2) step("charge", function() return "c" end, { compensate = function(v) log("undo charge " .. v) end }) end,
              function() sleep(1) step("email", function() return "e" end, { compensate = function(v) log("undo email " .. v) end }) end })
            step("ship", function() error("no truck", 0) end)
            """), virtualTime: true, observer: EventLog())
        #expect(o.status == .failed)
        let compensations = o.steps.filter { $0.kind == .compensation }.map(\.name)
        #expect(compensations == ["compensate charge", "compensate email", "compensate reserve"])
    }

    @Test("compensations do not run when the run succeeds")
    func notOnSuccess() async {
        let o = await runFlow(script(#"step("a", function() end, { compensate = function() error("should not run") end }) return "ok""#))
        #expect(o.status == .succeeded && !o.steps.contains { $0.kind == .compensation })
    }

    @Test("compensation errors are collected into the run's record, never swallowed")
    func errorsCollected() async {
        let o = await runFlow(script("""
            step("a", function() end, { compensate = function() error("undo a failed", 0) end })
            step("b", function() end, { compensate = function() end })
            error("boom", 0)
            """))
        let errors = JSONValue(text: o.compensationErrors)
        #expect(errors == [["step": "a", "error": ["message": "undo a failed"]]])
        #expect(o.steps.first { $0.name == "compensate b" }?.status == .succeeded)
        #expect(o.errorMessage == "boom")
    }

    @Test("on_failure runs after compensation with the run's error")
    func onFailure() async {
        let events = EventLog()
        let o = await runFlow("""
            flow { name = "t",
              run = function() step("a", function() end, { compensate = function() log("compensated") end }) error({code = "X"}) end,
              on_failure = function(ctx, err) log("on_failure " .. err.code .. " " .. ctx.flow) end }
            """, observer: events)
        #expect(o.status == .failed)
        let lines = events.logLines.filter { $0 == "compensated" || $0.hasPrefix("on_failure") }
        #expect(lines == ["compensated", "on_failure X t"])
    }

    @Test("a cancelled or timed-out run is compensated too")
    func onTimeout() async {
        let events = EventLog()
        let o = await runFlow(script(#"step("a", function() end, { compensate = function() log("undo") end }) sleep(60)"#, options: #"timeout = "1s","#),
                              virtualTime: true, observer: events)
        #expect(o.status == .failed && o.errorCode == "timeout")
        #expect(events.logLines.contains("undo"))
    }
}

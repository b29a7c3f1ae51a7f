// HardeningTests.swift: flow code that once took the process down, or escaped the sandbox.
import Foundation
import Testing
import TideEngine

@Suite("hardening")
struct HardeningTests {
    // "888888888888888882m" was found by `make fuzz`: the integer times 60 wrapped to a negative duration.
    @Test(arguments: ["sleep(1e11)", "parallel({ function() end }, { timeout = 1e12 })", #"sleep("100000d")"#,
                      #"sleep("888888888888888882m")"#, #"sleep("153722867280912931m1s")"#])
    func hugeDurationsAreArgumentErrors(call: String) async {
        let o = await runFlow(script(call))
        #expect(o.status == .failed && o.errorMessage.contains("duration expected"))
    }

    @Test("a flow timeout beyond ten years is a load error, not a crash")
    func hugeFlowTimeout() async {
        let o = await runFlow(script("return 1", options: "timeout = 1e11,"))
        #expect(o.status == .failed && o.errorCode == "load" && o.errorMessage.contains("field 'timeout': duration expected"))
    }

    // Found by `make fuzz` (Fuzz/lua/units_driver.lua): the size times its unit wrapped around
    // as an integer, so "17179869185g" was 1 GiB, and a number past the integers gave a float.
    @Test("a size beyond the integers is refused, not wrapped", arguments: ["17179869185g", "8589934593g", "99999999999999999999"])
    func hugeSizes(size: String) async {
        let o = await runFlow(script("return 1", options: "memory = \"\(size)\","))
        #expect(o.status == .failed && o.errorCode == "load" && o.errorMessage.contains("field 'memory': size expected"), "\(o.status) \(o.errorMessage)")
        let call = await runFlow(script("local ok, err = pcall(http.get, 'http://127.0.0.1:9/', { max_body = '\(size)' }) return tostring(err)"))
        #expect(call.value?.string?.contains("option 'max_body': size expected") == true, "\(call.value ?? .null) \(call.errorMessage)")
    }

    // Found by `make fuzz` (Fuzz/lua/json_driver.lua): 1e400 decoded to inf, which json.encode refuses.
    @Test("json.decode refuses a number past the doubles, as the daemon's reader does")
    func jsonNumberOutOfRange() async {
        let o = await runFlow(script(#"local ok, err = pcall(json.decode, "[1e400]") return { ok = ok, err = err, small = json.decode("1e-400") }"#))
        #expect(o.value == ["ok": false, "err": "json.decode: number out of range at line 1 column 2", "small": 0], "\(o.value ?? .null) \(o.errorMessage)")
    }

    @Test("__gc metamethods are refused: finalizers would run inside the engine")
    func gcRefused() async {
        let o = await runFlow(script("return { pcall(setmetatable, {}, { __gc = function() end }) }"))
        guard case .array(let r)? = o.value else { Issue.record("no result: \(o.error ?? "")"); return }
        #expect(r.first == false && r.last?.string?.contains("__gc metamethods are not available") == true)
    }

    @Test("debug is reduced to traceback and getinfo; package.loadlib is gone")
    func debugAndLoadlib() async {
        let o = await runFlow(script("""
            local names = {}
            for k in pairs(debug) do names[#names + 1] = k end
            table.sort(names)
            return { names = names, loadlib = package.loadlib == nil }
            """))
        #expect(o.value == ["names": ["getinfo", "traceback"], "loadlib": true])
    }

    @Test("io.write and io.stdout go to the run's log, never to standard output")
    func ioWriteToLog() async {
        let events = EventLog()
        let o = await runFlow(script(#"io.write("one ", 1, "\n") io.stdout:write("two\n") io.stderr:write("three\n") io.write("tail")"#), observer: events)
        #expect(o.status == .succeeded)
        #expect(events.logLines.contains("one 1") && events.logLines.contains("two") && events.logLines.contains("three"))
        #expect(events.logLines.contains("tail"))
    }

    @Test("standard input for a command that never reads it does not kill tide")
    func stdinNotRead() async {
        let o = await runFlow(script(#"return { sh("true", { stdin = string.rep("x", 2e6) }).status, sh("wc -c", { stdin = string.rep("y", 3e5) }).stdout }"#))
        #expect(o.value == [0, "300000\n"])
    }

    @Test(arguments: [#"exec({ "echo", "a\0b" })"#, #"sh("echo a\0b")"#, #"sh("true", { env = { X = "a\0b" } })"#])
    func nulBytesAreArgumentErrors(call: String) async {
        let o = await runFlow(script(call))
        #expect(o.status == .failed && o.errorMessage.contains("NUL byte"))
    }

    @Test("a result nested deeper than 500 levels fails the run clearly instead of becoming null")
    func deepResult() async {
        let o = await runFlow(script("local t = {} local c = t for i = 1, 600 do c.x = {} c = c.x end return t"))
        #expect(o.status == .failed && o.errorCode == "result" && o.errorMessage.contains("maximum depth 500"))
    }

    @Test("an error whose __pairs raises keeps its value, and the group's other tasks are cancelled")
    func errorWithBadPairs() async {
        let o = await runFlow(script("""
            local finished = false
            local e = setmetatable({ code = "ODD" }, { __pairs = function() error("pairs exploded") end })
            local ok, got = pcall(parallel, { function() error(e) end, function() sleep(1) finished = true end })
            sleep(2)
            return { same = got == e, finished = finished }
            """), virtualTime: true)
        #expect(o.value == ["same": true, "finished": false])
    }

    @Test("a step retried after a timed-out attempt with a nested timeout is recorded as succeeded")
    func nestedHiddenGroups() async {
        let o = await runFlow(script("""
            local n = 0
            return step("s", function()
              n = n + 1
              if n == 1 then timeout(3, function() sleep(10) end) end
              return "ok"
            end, { timeout = "1s", retries = { attempts = 2, delay = 0 } })
            """), virtualTime: true)
        #expect(o.value == "ok")
        let s = o.steps.first { $0.name == "s" }
        #expect(s?.status == .succeeded && s?.attempts == 2 && s?.result == "\"ok\"")
    }

    @Test("children that ignore SIGTERM are killed with the group after 2 s")
    func sigkillEscalation() async {
        let marker = "36.\(Int.random(in: 100_000...999_999))"
        let o = await runFlow(script("""
            local ok, e = pcall(timeout, "300ms", function() sh("sh -c 'trap \\"\\" TERM; sleep \(marker)' & wait") end)
            return e.code
            """))
        #expect(o.value == "timeout")
        let gone = await waitUntil(seconds: 1) { !processAlive("sleep \(marker)") }
        #expect(gone != nil, "a child that ignored SIGTERM outlived the run")
    }

    @Test("a stop is not user code's to catch: pcall re-raises it and the run times out")
    func stopErrorsPassThroughPcall() async {
        let events = EventLog()
        let o = await runFlow(script("""
            local ok, e = pcall(table.sort, { 3, 2, 1 }, function() while true do end end)
            log("caught " .. tostring(type(e) == "table" and e.code or e))
            return "returned anyway"
            """, options: #"timeout = "300ms","#), observer: events)
        #expect(!events.logLines.contains { $0.hasPrefix("caught") })
        #expect(o.status == .failed && o.errorCode == "timeout")
    }

    @Test("a group's deadline still fires after completions woke its owner, with no other timer armed")
    func groupDeadlineAfterCompletions() async {
        let start = Date()
        let o = await runFlow(script("""
            local ok, e = pcall(parallel, { function() return 1 end, function() return 2 end, function() sh("sleep 60") end }, { timeout = "300ms" })
            return e.code
            """))
        // the error code says the deadline fired; the wide bound says it did not wait for the
        // 60 s command (a loaded CI machine is slow, never 30 s slow)
        #expect(o.value == "timeout")
        #expect(Date().timeIntervalSince(start) < 30, "the deadline did not fire")
    }
}

@Suite("stops user code cannot escape")
struct StopTests {
    @Test("pcall cannot swallow a timeout: a loop around pcall still ends at the flow's timeout")
    func pcallLoop() async {
        let o = await runFlow(script("""
            while true do pcall(table.sort, { 3, 2, 1 }, function() while true do end end) end
            """, options: #"timeout = "300ms","#))
        #expect(o.status == .failed && o.errorCode == "timeout")
    }

    @Test("coroutine.resume cannot swallow a timeout either")
    func resumeLoop() async {
        let o = await runFlow(script("""
            while true do coroutine.resume(coroutine.create(function() while true do end end)) end
            """, options: #"timeout = "300ms","#))
        #expect(o.status == .failed && o.errorCode == "timeout")
    }

    @Test("a script's top level that catches the stop is still stopped at the load limit")
    func loadLoop() async {
        let o = await runFlow("flow { name = 't', run = function() end }\nwhile true do pcall(function() while true do end end) end\n")
        #expect(o.status == .failed && o.errorCode == "load" && o.errorMessage.contains("loading took longer than 2 s"))
    }

    @Test("a <close> handler looping in coroutine.close is stopped by the timeout")
    func coroutineCloseLoop() async {
        let o = await runFlow(script("""
            local co = coroutine.create(function()
              local g <close> = setmetatable({}, { __close = function() while true do end end })
              coroutine.yield()
            end)
            coroutine.resume(co)
            coroutine.close(co)
            """, options: #"timeout = "300ms","#))
        #expect(o.status == .failed && o.errorCode == "timeout")
    }

    @Test("a task looping on a user-coroutine generator is still preempted")
    func generatorPreempted() async {
        var best = Double.infinity
        for _ in 0..<3 {
            let o = await runFlow(script("""
                local looping = true
                local _, woke = parallel(
                  function()
                    local gen = coroutine.wrap(function() while true do coroutine.yield(1) end end)
                    local t = now() while now() - t < 0.3 do gen() end looping = false
                  end,
                  function() local t = now() sleep("50ms") return { late = now() - t, during = looping } end)
                return woke
                """))
            if o.value?["during"] == true { best = min(best, number(o.value?["late"]) ?? .infinity) }
            if best < 0.1 { break }
        }
        #expect(best < 0.1, "the sleeper never woke on time while its sibling looped on a generator")
    }

    @Test("after a run timeout, <close> handlers still get their budget")
    func closeBudgetAfterTimeout() async {
        let events = EventLog()
        let o = await runFlow(script("""
            local g <close> = setmetatable({}, { __close = function() local t = now() while now() - t < 0.1 do end log("closed in time") end })
            sleep(10)
            """, options: #"timeout = "300ms","#), observer: events)
        #expect(o.status == .failed && o.errorCode == "timeout")
        #expect(events.logLines.contains("closed in time"))
    }

    @Test("a run that catches an overrun <close> budget and returns is not reported as timed out")
    func closeBudgetIsNotTheRunsTimeout() async {
        let o = await runFlow(script("""
            pcall(parallel, {
              function() error("fail fast", 0) end,
              function() local g <close> = setmetatable({}, { __close = function() while true do end end }) sleep(10) end })
            return "fine"
            """))
        #expect(o.value == "fine")
    }
}

@Suite("cancelling during cleanup")
struct CleanupCancelTests {
    @Test("one cancel during the cleanup of a run that failed on its own lets the compensations finish")
    func oneCancelKeepsCleanup() async {
        let events = EventLog()
        let task = Task {
            await runFlow(script("""
                step("reserve", function() end, { compensate = function() log("undoing") sleep(0.5) log("undone") end })
                error("boom", 0)
                """), observer: events)
        }
        #expect(await waitUntil(seconds: 30) { events.logLines.contains("undoing") } != nil)
        task.cancel()
        let o = await task.value
        #expect(events.logLines.contains("undone"))
        #expect(o.steps.first { $0.name == "compensate reserve" }?.status == .succeeded)
        #expect(o.status == .failed && o.errorMessage == "boom")
    }
}

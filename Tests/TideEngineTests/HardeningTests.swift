// HardeningTests.swift: flow code that once took the process down, or escaped the sandbox.
import Foundation
import Testing
import TideEngine

@Suite("hardening")
struct HardeningTests {
    @Test(arguments: ["sleep(1e11)", "parallel({ function() end }, { timeout = 1e12 })", #"sleep("100000d")"#])
    func hugeDurationsAreArgumentErrors(call: String) async {
        let o = await runFlow(script(call))
        #expect(o.status == .failed && o.errorMessage.contains("duration expected"))
    }

    @Test("a flow timeout beyond ten years is a load error, not a crash")
    func hugeFlowTimeout() async {
        let o = await runFlow(script("return 1", options: "timeout = 1e11,"))
        #expect(o.status == .failed && o.errorCode == "load" && o.errorMessage.contains("field 'timeout': duration expected"))
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

    @Test("the hook's stop errors are tables with code; a run that catches one still timed out")
    func stopErrorsHaveCodes() async {
        let events = EventLog()
        let o = await runFlow(script("""
            local ok, e = pcall(table.sort, { 3, 2, 1 }, function() while true do end end)
            log("caught " .. tostring(type(e) == "table" and e.code or e))
            return "returned anyway"
            """, options: #"timeout = "300ms","#), observer: events)
        #expect(events.logLines.contains("caught timeout"))
        #expect(o.status == .failed && o.errorCode == "timeout")
    }

    @Test("a group's deadline still fires after completions woke its owner, with no other timer armed")
    func groupDeadlineAfterCompletions() async {
        let start = Date()
        let o = await runFlow(script("""
            local ok, e = pcall(parallel, { function() return 1 end, function() return 2 end, function() sh("sleep 5") end }, { timeout = "300ms" })
            return e.code
            """))
        #expect(o.value == "timeout")
        #expect(Date().timeIntervalSince(start) < 4, "the deadline did not fire")
    }
}

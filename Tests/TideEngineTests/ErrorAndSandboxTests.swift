// ErrorAndSandboxTests.swift: SPEC §3.2 errors, §3.5 built-ins, §3.6 what user code cannot do.
import Foundation
import Testing
import TideEngine

@Suite("errors")
struct ErrorTests {
    @Test("typed errors reach the caller of parallel and race as the same table")
    func typedErrorsUnchanged() async {
        let o = await runFlow(script("""
            local e = {code = "NOT_FOUND"}
            local _, a = pcall(parallel, { function() error(e) end })
            local _, b = pcall(race, { function() error(e) end })
            return { a == e, b == e, a.code }
            """))
        #expect(o.value == [true, true, "NOT_FOUND"])
    }

    @Test("engine errors carry code, message and a __tostring")
    func engineErrorShape() async {
        let o = await runFlow(script("""
            local _, e = pcall(timeout, "10ms", function() sleep(1) end)
            return { code = e.code, message = e.message, text = tostring(e) }
            """), virtualTime: true)
        #expect(o.value == ["code": "timeout", "message": "timed out after 10ms", "text": "timed out after 10ms"])
    }

    @Test(arguments: [
        ("error(nil)", "error raised with no value (error(nil))"),
        ("error(42)", "42"),
        (#"error({code = "NOT_FOUND"})"#, "NOT_FOUND"),
        (#"error("plain", 0)"#, "plain"),
    ])
    func errorValuesOfAnyType(body: String, message: String) async {
        let o = await runFlow(script(body))
        #expect(o.status == .failed)
        #expect(o.errorMessage == message)
    }

    @Test("a run's error record names the innermost failed step and the user's file:line; the log's traceback has the user's frames only")
    func errorOrigin() async {
        let events = EventLog()
        let o = await runFlow(script("""
            local function check(x) if x then error({ code = "NOT_FOUND" }) end end
            step("outer", function()
              step("inner", function() check(true) end)
            end)
            """), observer: events)
        #expect(o.status == .failed)
        #expect(o.errorValue == ["code": "NOT_FOUND", "message": "NOT_FOUND", "step": "inner", "where": "test.lua:2"])
        let trace = events.logLines.first { $0.contains("stack traceback") } ?? ""
        #expect(trace.contains("test.lua:2: in ") && trace.contains("test.lua:4: in "), "\(trace)")
        #expect(!trace.contains("prelude:") && !trace.contains("[C]:"), "\(trace)")
        // an error outside any step: where, no step; the user's own fields are kept
        let plain = await runFlow(script(#"error({ code = "X", step = "mine" })"#))
        #expect(plain.errorValue == ["code": "X", "message": "X", "step": "mine", "where": "test.lua:2"])
    }

    @Test("a result that cannot be JSON fails the run with a clear message")
    func resultNotJSON() async {
        let o = await runFlow(script("return { callback = function() end }"))
        #expect(o.status == .failed && o.errorCode == "result")
        #expect(o.errorMessage.contains("cannot be stored as JSON") && o.errorMessage.contains("$.callback"))
    }
}

@Suite("sandbox and bad input")
struct SandboxTests {
    @Test("os.exit raises an error: the run fails, the process lives")
    func osExit() async {
        let o = await runFlow(script("os.exit(3)"))
        #expect(o.status == .failed && o.errorMessage.contains("os.exit is not available in flows"))
    }

    @Test("an allocation bomb hits the memory limit of its run only")
    func allocationBomb() async {
        let o = await runFlow(script(#"local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(1000) .. i end"#, options: #"memory = "32m","#))
        #expect(o.status == .failed && o.errorCode == "memory")
        #expect(o.errorMessage.contains("32 MiB"))
    }

    @Test("the files' shared metatable is read-only: a __gc set there would finalize every file inside the engine")
    func fileMetatableReadOnly() async {
        let o = await runFlow(script("""
            local mt = getmetatable(io.open("/etc/hostname"))
            local ok, e = pcall(function() mt.__gc = function() while true do end end end)
            return { ok = ok, e = e, read = mt.__index.read ~= nil }
            """))
        #expect(o.value == ["ok": false, "e": "test.lua:3: the metatable of files is read-only in flows", "read": true])
    }

    @Test("io.output(file) redirects io.write as in Lua; io.output(io.stdout) brings back the log; standard streams do not close")
    func ioOutput() async {
        let events = EventLog()
        let o = await runFlow(script("""
            local same = io.output(io.stdout) == io.stdout
            local path = os.tmpname()
            io.output(path)
            io.write("to the file ", 1, "\\n")
            io.close()
            io.output(io.stdout)
            io.write("to the log\\n")
            local f = io.open(path) local text = f:read("a") f:close() os.remove(path)
            return { same = same, text = text, close = select(2, io.stdout:close()), close2 = select(2, io.close(io.stdout)) }
            """), observer: events)
        #expect(o.value == ["same": true, "text": "to the file 1\n", "close": "cannot close standard file", "close2": "cannot close standard file"], "\(o.error ?? "")")
        #expect(events.logLines.contains("to the log") && !events.logLines.contains { $0.contains("to the file") })
    }

    @Test("sleep where Lua cannot yield (a table.sort comparator) is a clear error")
    func sleepInComparator() async {
        let o = await runFlow(script("table.sort({3, 1, 2}, function(a, b) sleep(0.01) return a < b end)"))
        #expect(o.status == .failed && o.errorMessage.contains("sleep cannot wait here"))
    }

    @Test("sleep inside a user coroutine.wrap is a clear error")
    func sleepInUserCoroutine() async {
        let o = await runFlow(script("coroutine.wrap(function() sleep(0.01) end)()"))
        #expect(o.status == .failed && o.errorMessage.contains("cannot be used inside a coroutine made with coroutine.create or coroutine.wrap"))
    }

    @Test("unbounded recursion is a stack overflow error")
    func recursion() async {
        let o = await runFlow(script("local function f() return f() + 1 end return f()"))
        #expect(o.status == .failed && o.errorMessage.contains("stack overflow"))
    }

    @Test("a syntax error is a load error with file:line")
    func syntaxError() async {
        let o = await runFlow("flow { name = 'x', run = function() end }\nlocal = 3\n")
        #expect(o.status == .failed && o.errorCode == "load" && o.errorMessage.hasPrefix("test.lua:2:"))
    }

    @Test("bytecode is refused: load only takes text chunks")
    func bytecodeRefused() async {
        let o = await runFlow(script("local f, e = load(string.dump(function() end)) return e"))
        #expect(o.value?.string?.contains("attempt to load a binary chunk") == true)
    }

    @Test("io.read is unavailable; os.execute and io.popen run through sh")
    func ioAndShell() async {
        let o = await runFlow(script("""
            local ok, e = pcall(io.read)
            local f = io.popen("printf 'a\\nb\\n'")
            local first, second = f:read("l"), f:read("l")
            local done = f:close()
            local x = { os.execute("exit 3") }
            return { ok = ok, first = first, second = second, done = done, status = x[3] }
            """))
        #expect(o.value == ["ok": false, "first": "a", "second": "b", "done": true, "status": 3])
    }

    @Test("a subprocess writing 100 MB: output is capped, the run keeps going")
    func hugeOutput() async {
        let o = await runFlow(script("""
            local r = sh("head -c 100000000 /dev/zero")
            return { bytes = #r.stdout, status = r.status }
            """))
        #expect(o.value == ["bytes": 1_048_576, "status": 0])
    }

    @Test("a command that does not exist raises exit with status 127")
    func missingCommand() async {
        let o = await runFlow(script("""
            local ok, e = pcall(exec, { "no-such-command-tide" })
            local r = exec({ "no-such-command-tide" }, { check = false })
            return { e.code, e.status, e.message, r.status }
            """))
        #expect(o.value == ["exit", 127, "command not found: no-such-command-tide", 127])
    }

    @Test("durations: numbers and strings; anything else is an argument error")
    func durations() async {
        let o = await runFlow(script(#"sleep("10 parsecs")"#))
        #expect(o.errorMessage.contains(#"bad argument #1 to 'sleep' (duration expected, got "10 parsecs")"#))
        let ok = await runFlow(script(#"sleep("1m30s") sleep(0.5) sleep("250ms") return "ok""#), virtualTime: true)
        #expect(ok.value == "ok")
    }
}

@Suite("built-ins")
struct BuiltinTests {
    @Test("sh and exec return status, stdout, stderr, duration; options cwd, env, stdin, check")
    func subprocesses() async {
        let o = await runFlow(script("""
            local a = sh("echo $GREETING; pwd; cat", { env = { GREETING = "hi" }, cwd = "/tmp", stdin = "in" })
            local b = exec({ "sh", "-c", "echo err >&2; exit 4" }, { check = false })
            local ok, e = pcall(sh, "exit 5")
            return { a.stdout, a.status, b.status, b.stderr, e.code, e.status, type(a.duration) }
            """))
        #expect(o.value == ["hi\n/tmp\nin", 0, 4, "err\n", "exit", 5, "number"])
    }

    @Test("sh timeout option kills the command and raises timeout")
    func shTimeout() async {
        let o = await runFlow(script(#"local ok, e = pcall(sh, "sleep 20", { timeout = "200ms" }) return e.code"#))
        #expect(o.value == "timeout")
    }

    @Test("json, env, now, log and print")
    func misc() async {
        let events = EventLog()
        let o = await runFlow(script("""
            print("printed", 1)
            log.warn("careful")
            local t = json.decode('{"a":[1,2,null]}')
            return { json.encode(t), t.a[3] == json.null, env("HOME") ~= nil, env("NO_SUCH_VAR_TIDE", "dflt"), now() > 1.7e9 }
            """), observer: events)
        #expect(o.value == [#"{"a":[1,2,null]}"#, true, true, "dflt", true])
        #expect(events.logLines.contains("printed\t1") && events.logLines.contains("careful"))
    }

    @Test("ctx carries payload, run_id, flow and trigger")
    func context() async {
        let o = await runFlow(script("return { ctx.payload.n, ctx.run_id, ctx.flow, ctx.trigger }"), payload: #"{"n": 5}"#)
        #expect(o.value == [5, "run_test", "t", "manual"])
    }

    @Test("require 'tide' returns the API")
    func requireTide() async {
        let o = await runFlow(script("local t = require('tide') return t.parallel == parallel and t.step == step"))
        #expect(o.value == true)
    }
}

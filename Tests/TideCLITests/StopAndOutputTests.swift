// StopAndOutputTests.swift: a second stop signal, and what the client prints of a run and a flow
// (tracebacks, error summaries, the step tree, escaped control characters, stale versions).
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("stop signals and client output")
struct StopAndOutputTests {
    typealias L = Lifecycle

    @Test("a second SIGINT during the grace period stops the daemon at once: the run is recorded cancelled, its commands are gone")
    func secondSignalStopsAtOnce() async throws {
        let marker = "38.\(Int.random(in: 100_000...999_999))"
        let cleanup = "39.\(Int.random(in: 100_000...999_999))"
        try await L.withHome(files: [
            "flows/long.lua": """
                flow { name = "long", run = function()
                  step("a", function() end, { compensate = function() log("undoing") sh("sleep \(cleanup)") end })
                  sh("sleep \(marker)")
                end }
                """,
        ], markers: [marker, cleanup]) { home in
            let d1 = try await home.start(["--grace-period", "60s"])
            let id = try await L.detach(d1, "long")
            try #require(await waitUntil(timeout: .seconds(30)) { !L.processes(matching: "sleep \(marker)").isEmpty })
            kill(d1.pid, SIGINT)
            try #require(await waitUntil(timeout: .seconds(30)) { d1.log.contains("a second signal stops at once") }, "log:\n\(d1.log.suffix(2000))")
            let clock = ContinuousClock()
            let start = clock.now
            kill(d1.pid, SIGINT)
            let exit = await d1.stop(signal: 0, timeout: .seconds(30))
            let took = clock.now - start
            #expect(exit == 0, "log:\n\(d1.log.suffix(4000))")
            // the grace period is 60 s and the compensation would sleep; at once is a few seconds
            #expect(took < .seconds(10), "the second SIGINT took \(took) to stop the daemon")
            #expect(L.processes(matching: "sleep \(marker)").isEmpty && L.processes(matching: "sleep \(cleanup)").isEmpty,
                    "a command outlived the daemon")

            let d2 = try await home.start()
            let run = try await L.json(d2, ["show", id])
            #expect(run["status"]?.string == "cancelled", "\(run)")
            #expect(run["error"]?["message"]?.string?.contains("at once") == true, "\(run)")
        }
    }

    @Test("tide run of a flow whose newest file fails to load warns on standard error and in --json")
    func staleVersionIsSaid() async throws {
        try await L.withHome(files: ["flows/f.lua": #"flow { name = "f", run = function() return "v1" end }"#]) { home in
            let d = try await home.start()
            try home.dir.write("flows/f.lua", "flow { name = \"f\", run = function() return \"v2\" end\n")  // unclosed
            try #require(await waitUntil(timeout: .seconds(30)) { ((try? await L.fileErrors(d)) ?? [:])["flows/f.lua"] != nil })

            let run = try await d.tide(["run", "f"])
            #expect(run.status == 0, "\(run.combined)")
            #expect(run.stderr.contains("warning: flows/f.lua failed to load") && run.stderr.contains("version loaded before"),
                    "no warning: \(run.stderr)")
            let json = try await d.tide(["run", "f", "--json"])
            let report = try json.json()
            #expect(report["result"] == .string("v1"), "\(json.stdout)")
            #expect(report["stale"]?["file"]?.string == "flows/f.lua", "\(json.stdout)")
            #expect(report["stale"]?["error"]?.string?.contains("flows/f.lua:2") == true, "\(json.stdout)")
            let detached = try await d.tide(["run", "f", "--detach", "--json"])
            #expect(try detached.json()["stale"]?["file"]?.string == "flows/f.lua", "\(detached.stdout)")
            #expect(detached.stderr.contains("warning:"), "\(detached.stderr)")

            try home.dir.write("flows/f.lua", #"flow { name = "f", run = function() return "v3" end }"#)
            try #require(await waitUntil(timeout: .seconds(30)) { ((try? await L.fileErrors(d)) ?? [:]).isEmpty })
            let fresh = try await d.tide(["run", "f", "--json"])
            #expect(try fresh.json()["stale"] == nil, "\(fresh.stdout)")
            #expect(!fresh.stderr.contains("warning"), "\(fresh.stderr)")
        }
    }

    @Test("tide show: a branch that is just its step is one row; the error names the step and the user's file:line")
    func showTreeAndErrorSummary() async throws {
        try await L.withHome(files: [
            "flows/b.lua": """
                flow { name = "b", run = function()
                  parallel({
                    fetch = function() return step("fetch", function() return 1 end) end,
                    other = function() sleep(0) return step("parse", function() return 2 end) end,
                  })
                  step("ship", function()
                    error({ code = "STEP_FAILED" })
                  end)
                end }
                """,
        ]) { home in
            let d = try await home.start()
            let id = try await L.detach(d, "b")
            try #require(await waitUntil(timeout: .seconds(30)) { (try? await L.runStatus(d, id)) == "failed" })
            let show = try await d.tide(["show", id])
            let rows = show.stdout.split(separator: "\n").map(String.init)
            #expect(rows.filter { $0.contains("fetch") }.count == 1, "fetch twice:\n\(show.stdout)")
            #expect(rows.contains { $0.contains("other") } && rows.contains { $0.contains("parse") }, "a branch with another name keeps its row:\n\(show.stdout)")
            #expect(show.stdout.contains("error: STEP_FAILED (in step 'ship' at flows/b.lua:7)"), "\(show.stdout)")
            let json = try await L.json(d, ["show", id])
            #expect(json["error"]?["step"]?.string == "ship" && json["error"]?["where"]?.string == "flows/b.lua:7", "\(json)")
        }
    }

    @Test("step names, errors and log lines with control characters are printed escaped; a long file name keeps its line number")
    func controlCharactersAndLongNames() async throws {
        let long = "flows/" + String(repeating: "a-very-long-folder-name/", count: 2) + "with-a-long-file-name.lua"
        try await L.withHome(files: [
            "flows/esc.lua": """
                flow { name = "esc", run = function()
                  log("log\\27[2Jline")
                  step("st\\27[1mep", function() error("bad\\27]0;title\\7\\nline") end)
                end }
                """,
            long: "\n\nflow { name = \"deep\", run = function() end }",
        ]) { home in
            let d = try await home.start()
            try #require(await waitUntil(timeout: .seconds(30)) { (try? await L.flow(d, "deep")) != nil })
            let flows = try await d.tide(["flows"])
            #expect(flows.stdout.contains("with-a-long-file-name.lua:3"), "the line number was cut:\n\(flows.stdout)")

            let run = try await d.tide(["run", "esc"])
            #expect(run.status == 1)
            #expect(!run.combined.contains("\u{1B}") && !run.combined.contains("\u{07}"), "\(run.combined.debugDescription)")
            #expect(run.stdout.contains("bad\\e]0;title\\u{7}\\nline"), "\(run.stdout)")
            #expect(run.combined.contains("st\\e[1mep"), "\(run.combined)")
            let id = try #require(try await L.statuses(d).keys.first)
            for command in [["runs"], ["show", id], ["logs", id]] {
                let out = try await d.tide(command)
                #expect(out.status == 0, "\(out.combined)")
                #expect(!out.stdout.contains("\u{1B}") && !out.stdout.contains("\u{07}"), "tide \(command[0]): \(out.stdout.debugDescription)")
            }
            let logs = try await d.tide(["logs", id])
            #expect(logs.stdout.contains("log\\e[2Jline"), "\(logs.stdout)")
        }
    }
}

@Suite("tide exec output")
struct ExecOutputTests {
    @Test("a failed step's traceback shows the user's frames only, and the summary names the step")
    func tracebackOfUserFrames() async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("t.lua", """
                local function check(x)
                  if x > 1 then error("too big: " .. x) end
                end
                flow { name = "t", run = function()
                  step("validate", function() check(2) end)
                end }
                """)
            let out = try await TideProcess.run(["exec", file], in: dir.url)
            #expect(out.status == 1)
            let trace = out.combined
            #expect(trace.contains("stack traceback:"), "\(trace)")
            #expect(trace.contains("t.lua:2: in ") && trace.contains("t.lua:5: in "), "the user's frames are missing:\n\(trace)")
            #expect(!trace.contains("prelude:") && !trace.contains("[C]: in function 'pcall'") && !trace.contains("xpcall"),
                    "tide's own frames are shown:\n\(trace)")
            #expect(out.stdout.contains("(in step 'validate')"), "\(out.stdout)")
        }
    }

    @Test("tide exec prints the result on one line, and run ids have 16 hex digits as the daemon's")
    func oneLineResult() async throws {
        let run = try await ExecRun.run(#"flow { name = "r", run = function() return { items = { "a", "b" }, text = string.rep("x", 200) } end }"#)
        #expect(run.report.status == "succeeded")
        #expect(run.output.stdout.split(separator: "\n").count == 1, "\(run.output.stdout)")
        #expect((run.report.json["run_id"]?.string ?? "").range(of: #"^run_[0-9a-f]{16}$"#, options: .regularExpression) != nil, "\(run.output.stdout)")
        try await withScratchDirectory { dir in
            let file = try dir.write("r.lua", #"flow { name = "r", run = function() return { items = { "a", "b" }, text = string.rep("x", 200) } end }"#)
            let human = try await TideProcess.run(["exec", file], in: dir.url)
            let result = human.stdout.split(separator: "\n").filter { $0.hasPrefix("result: ") }
            #expect(result.count == 1 && result[0].hasSuffix("}"), "the result is not one line:\n\(human.stdout)")
        }
    }
}

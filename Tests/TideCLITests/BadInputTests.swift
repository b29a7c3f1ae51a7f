// Bad flow scripts fail their run with a clear error; the tide process itself survives (SPEC §3.2, §3.6).
import Foundation
import Testing

@Suite("Bad input through tide exec --json")
struct BadInputTests {
    @Test func syntaxErrorNamesFileAndLine() async throws {
        let run = try await ExecRun.run("""
            flow {
              name = "broken",
              run = function(ctx) local x = = 1 end,
            }
            """, fileName: "broken.lua")
        run.expectFailed()
        #expect(run.report.errorMessage.contains("broken.lua:3"), "error: \(run.report.errorMessage)")
    }

    @Test func parallelOfNilIsABadArgument() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx) parallel(nil) end }
            """)
        run.expectFailed()
        #expect(
            run.report.errorMessage.contains("bad argument #1 to 'parallel' (table expected, got nil)"),
            "error: \(run.report.errorMessage)")
    }

    @Test func parallelTaskThatIsNotAFunctionIsABadArgument() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx) parallel({1}) end }
            """)
        run.expectFailed()
        let message = run.report.errorMessage
        #expect(message.contains("parallel"), "error: \(message)")
        #expect(message.contains("function"), "error: \(message)")
    }

    @Test func errorTableIsPropagatedWithItsCode() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx) error{code = "NOT_FOUND"} end }
            """)
        run.expectFailed()
        #expect(run.report.errorCode == "NOT_FOUND", "error: \(String(describing: run.report.error))")
    }

    @Test func errorTableRaisedInsideParallelKeepsItsCode() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx)
              local ok, err = pcall(parallel, {
                function() sleep("10ms") error{code = "NOT_FOUND", id = 7} end,
                function() sleep("60s") end,
              })
              return {ok = ok, code = err.code, id = err.id}
            end }
            """)
        run.expectSucceeded()
        #expect(run.report.result == .object(["ok": .bool(false), "code": .string("NOT_FOUND"), "id": .number(7)]))
        // a wide margin: a loaded CI machine may be slow, but never 30 s slow
        #expect(run.output.duration < .seconds(30), "fail-fast should not wait for the 60 s sibling")
    }

    @Test func errorWithNilFailsWithAMessage() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx) error(nil) end }
            """)
        run.expectFailed()
        #expect(run.report.errorMessage.contains("nil"), "error: \(String(describing: run.report.error))")
    }

    @Test func errorWithANumberFailsWithThatNumber() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx) error(42) end }
            """)
        run.expectFailed()
        #expect(run.report.errorMessage.contains("42"), "error: \(String(describing: run.report.error))")
    }

    @Test func osExitFailsTheRunInsteadOfExiting() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx) os.exit(3) end }
            """)
        run.expectFailed()
        #expect(run.output.status != 3)
        #expect(run.report.errorMessage.contains("os.exit"), "error: \(run.report.errorMessage)")
    }

    @Test func infiniteLoopIsEndedByTheFlowTimeout() async throws {
        let run = try await ExecRun.run("""
            flow { name = "spin", timeout = "1s", run = function(ctx) while true do end end }
            """)
        run.expectFailed()
        #expect(run.report.errorCode == "timeout", "error: \(String(describing: run.report.error))")
        #expect(run.output.duration < .seconds(15))
    }

    @Test func allocationBombHitsTheMemoryLimit() async throws {
        let run = try await ExecRun.run("""
            flow { name = "bomb", memory = "64m", run = function(ctx)
              local t = {}
              for i = 1, 1e9 do t[i] = ("x"):rep(1000) .. i end
            end }
            """)
        run.expectFailed()
        #expect(run.report.errorMessage.localizedCaseInsensitiveContains("memory"), "error: \(run.report.errorMessage)")
    }

    @Test func sleepInsideTableSortComparatorFailsClearly() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx)
              local t = {3, 1, 2}
              table.sort(t, function(a, b) sleep("1ms") return a < b end)
              return t
            end }
            """)
        run.expectFailed()
        let message = run.report.errorMessage
        #expect(message.contains("sleep"), "error: \(message)")
        #expect(message.contains("sort"), "error: \(message)")
    }

    @Test func sleepInsideUserCoroutineFailsClearly() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx)
              local f = coroutine.wrap(function() sleep("1ms") return 1 end)
              return f()
            end }
            """)
        run.expectFailed()
        let message = run.report.errorMessage
        #expect(message.contains("coroutine"), "error: \(message)")
        #expect(message.contains("sleep"), "error: \(message)")
    }

    @Test func unboundedRecursionIsAStackOverflow() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx)
              local function f() return f() + 1 end
              f()
            end }
            """)
        run.expectFailed()
        #expect(run.report.errorMessage.contains("stack overflow"), "error: \(run.report.errorMessage)")
    }

    @Test func hugeSubprocessOutputIsCapped() async throws {
        // 100 MB on one line, no newline. Generous limit: the point is that the run survives.
        let run = try await ExecRun.run("""
            flow { name = "flood", run = function(ctx)
              local r = sh("head -c 100000000 /dev/zero | tr '\\\\0' x")
              return #r.stdout
            end }
            """, timeout: .seconds(120))
        run.expectSucceeded()
        let length = try #require(run.report.result?.number, "result: \(String(describing: run.report.result))")
        #expect(length > 0)
        #expect(length < 100_000_000)
    }

    @Test func missingCommandFailsWithCodeExit() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx) exec{"no-such-command-xyz"} end }
            """)
        run.expectFailed()
        #expect(run.report.errorCode == "exit", "error: \(String(describing: run.report.error))")
        #expect(run.report.errorMessage.contains("no-such-command-xyz"), "error: \(run.report.errorMessage)")
    }

    @Test func badDurationIsABadArgument() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx) sleep("soon") end }
            """)
        run.expectFailed()
        #expect(
            run.report.errorMessage.contains("bad argument #1 to 'sleep' (duration expected"),
            "error: \(run.report.errorMessage)")
    }

    @Test func runtimeErrorNamesFileAndLine() async throws {
        let run = try await ExecRun.run("""
            flow { name = "p", run = function(ctx)
              local t = nil
              return t.field
            end }
            """, fileName: "nilindex.lua")
        run.expectFailed()
        #expect(run.report.errorMessage.contains("nilindex.lua:3"), "error: \(run.report.errorMessage)")
    }
}

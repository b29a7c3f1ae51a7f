// `tide exec`: results, payloads, flow selection and the --json report (SPEC §2, §6).
import Foundation
import Testing

@Suite("tide exec")
struct ExecCommandTests {
    @Test func parallelOfTwoFunctionsSucceedsWithBothResults() async throws {
        let run = try await ExecRun.run("""
            flow {
              name = "pair",
              run = function(ctx)
                local a, b = parallel(function() return 1 end, function() return 2 end)
                return {a = a, b = b}
              end,
            }
            """)
        run.expectSucceeded()
        #expect(run.report.result == .object(["a": .number(1), "b": .number(2)]))
        #expect(run.report.steps?.array != nil, "steps must be an array: \(run.report.json)")
        #expect(run.report.json["flow"]?.string == "pair")
        #expect(run.report.error == .null, "a succeeded run has error null")
        #expect(run.report.json["run_id"]?.string?.isEmpty == false)
        #expect(run.report.json["started_at"]?.string != nil)
        #expect(run.report.json["finished_at"]?.string != nil)
    }

    @Test func payloadReachesContext() async throws {
        let run = try await ExecRun.run("""
            flow { name = "greet", run = function(ctx) return ctx.payload.who end }
            """, arguments: ["--payload", #"{"who":"x"}"#])
        run.expectSucceeded()
        #expect(run.report.result == .string("x"))
    }

    @Test func missingPayloadIsAnEmptyTable() async throws {
        let run = try await ExecRun.run("""
            flow { name = "empty", run = function(ctx)
              return type(ctx.payload) == "table" and next(ctx.payload) == nil
            end }
            """)
        run.expectSucceeded()
        #expect(run.report.result == .bool(true))
    }

    @Test(arguments: ["not json", #"{"who":"#, "5", #""text""#, "true"])
    func payloadThatIsNotAJSONObjectIsAUsageError(payload: String) async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("flow.lua", #"flow { name = "p", run = function(ctx) return 1 end }"#)
            let output = try await TideProcess.run(["exec", file, "--json", "--payload", payload], in: dir.url)
            #expect(output.status == 2, "stdout: \(output.stdout) stderr: \(output.stderr)")
            #expect(output.stderr.localizedCaseInsensitiveContains("payload"), "stderr: \(output.stderr)")
        }
    }

    @Test func resultContainingAFunctionFailsTheRun() async throws {
        let run = try await ExecRun.run("""
            flow { name = "fn", run = function(ctx) return {f = function() end} end }
            """)
        run.expectFailed()
        #expect(run.report.errorMessage.localizedCaseInsensitiveContains("JSON"), "error: \(run.report.errorMessage)")
    }

    @Test func flowOptionPicksOneOfSeveralFlows() async throws {
        let source = """
            flow { name = "first", run = function(ctx) return "one" end }
            flow { name = "second", run = function(ctx) return "two" end }
            """
        let second = try await ExecRun.run(source, arguments: ["--flow", "second"])
        second.expectSucceeded()
        #expect(second.report.result == .string("two"))
        #expect(second.report.json["flow"]?.string == "second")

        let first = try await ExecRun.run(source, arguments: ["--flow", "first"])
        first.expectSucceeded()
        #expect(first.report.result == .string("one"))
    }

    @Test func severalFlowsWithoutFlowOptionFailNamingEveryFlow() async throws {
        let run = try await ExecRun.run("""
            flow { name = "alpha", run = function(ctx) return 1 end }
            flow { name = "beta", run = function(ctx) return 2 end }
            """)
        #expect(run.output.status == 1, "stderr: \(run.output.stderr)")
        #expect(run.report.status == "failed")
        #expect(run.report.errorMessage.contains("alpha"), "error: \(run.report.errorMessage)")
        #expect(run.report.errorMessage.contains("beta"), "error: \(run.report.errorMessage)")
    }

    @Test func unnamedSingleFlowIsNamedAfterItsFile() async throws {
        let run = try await ExecRun.run(
            "flow { run = function(ctx) return ctx.flow end }", fileName: "nightly-backup.lua")
        run.expectSucceeded()
        #expect(run.report.json["flow"]?.string == "nightly-backup")
        #expect(run.report.result == .string("nightly-backup"))
    }

    @Test func withoutJSONTheResultIsPrinted() async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("flow.lua", #"flow { name = "plain", run = function(ctx) return "marker-7f3a" end }"#)
            let output = try await TideProcess.run(["exec", file], in: dir.url)
            #expect(output.status == 0, "stderr: \(output.stderr)")
            #expect(output.combined.contains("marker-7f3a"), "output: \(output.combined)")
        }
    }

    @Test func exitFailureFromSubprocessFailsTheRunWithCodeExit() async throws {
        let run = try await ExecRun.run("""
            flow { name = "sub", run = function(ctx)
              local r = exec({"sh", "-c", "echo out; exit 0"})
              local ok, err = pcall(sh, "echo oops >&2; exit 4")
              local unchecked = sh("exit 5", {check = false})
              return {stdout = r.stdout, status = r.status, code = err.code, err_status = err.status,
                      unchecked = unchecked.status}
            end }
            """)
        run.expectSucceeded()
        #expect(run.report.result?["stdout"] == .string("out\n"))
        #expect(run.report.result?["status"] == .number(0))
        #expect(run.report.result?["code"] == .string("exit"))
        #expect(run.report.result?["err_status"] == .number(4))
        #expect(run.report.result?["unchecked"] == .number(5))
    }
}

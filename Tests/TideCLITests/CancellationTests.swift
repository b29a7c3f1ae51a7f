// Cancellation is real: losing, timed-out and failed-fast tasks leave no subprocess behind (SPEC §3.1).
import Foundation
import Testing

@Suite("Cancellation kills subprocesses")
struct CancellationTests {
    /// A `sleep` command line no other test (or run) uses, so `pgrep -f` finds only ours.
    private static func uniqueSleep() -> String {
        "sleep 30.\(Int.random(in: 100_000...999_999))"
    }

    /// Lua that waits (up to 10 s) until `file` exists, so a task is surely inside its subprocess.
    private static func waitForFile(_ file: String) -> String {
        """
        for _ = 1, 500 do
          if sh("test -e '\(file)'", {check = false}).status == 0 then break end
          sleep("20ms")
        end
        """
    }

    @Test func raceCancelsTheLosingSubprocess() async throws {
        let sleepCommand = Self.uniqueSleep()
        try await withScratchDirectory { dir in
            let started = dir.url.appending(path: "started").path
            let file = try dir.write("race.lua", """
                flow { name = "race", run = function(ctx)
                  return race{
                    fast = function()
                      \(Self.waitForFile(started))
                      sleep("100ms")
                      return "ok"
                    end,
                    slow = function() sh("touch '\(started)'; \(sleepCommand)") end,
                  }
                end }
                """)
            let output = try await TideProcess.run(["exec", file, "--json"], in: dir.url)
            let report = try ExecReport(output)
            #expect(output.status == 0, "stderr: \(output.stderr)")
            #expect(report.status == "succeeded", "report: \(report.json)")
            #expect(report.result == .string("ok"))
            #expect(output.duration < .seconds(15), "took \(output.duration)")
            #expect(dir.exists("started"), "the slow task's subprocess never started")
            await expectNoProcessRemains(matching: sleepCommand)
        }
    }

    @Test func flowTimeoutKillsARunningSubprocess() async throws {
        let sleepCommand = Self.uniqueSleep()
        let run = try await ExecRun.run("""
            flow { name = "slow", timeout = "1s", run = function(ctx) sh("\(sleepCommand)") end }
            """)
        run.expectFailed()
        #expect(run.report.errorCode == "timeout", "error: \(String(describing: run.report.error))")
        #expect(run.output.duration < .seconds(15), "took \(run.output.duration)")
        await expectNoProcessRemains(matching: sleepCommand)
    }

    @Test func timeoutFunctionKillsItsSubprocess() async throws {
        let sleepCommand = Self.uniqueSleep()
        let run = try await ExecRun.run("""
            flow { name = "t", run = function(ctx)
              local ok, err = pcall(timeout, "300ms", function() sh("\(sleepCommand)") end)
              return {ok = ok, code = type(err) == "table" and err.code or tostring(err)}
            end }
            """)
        run.expectSucceeded()
        #expect(run.report.result == .object(["ok": .bool(false), "code": .string("timeout")]))
        #expect(run.output.duration < .seconds(15), "took \(run.output.duration)")
        await expectNoProcessRemains(matching: sleepCommand)
    }

    @Test func failFastParallelKillsTheSiblingsSubprocess() async throws {
        let sleepCommand = Self.uniqueSleep()
        let run = try await ExecRun.run("""
            flow { name = "ff", run = function(ctx)
              parallel{
                function() sleep("200ms") error("boom-9d2e") end,
                function() sh("\(sleepCommand)") end,
              }
            end }
            """)
        run.expectFailed()
        #expect(run.report.errorMessage.contains("boom-9d2e"), "error: \(run.report.errorMessage)")
        #expect(run.output.duration < .seconds(15), "took \(run.output.duration)")
        await expectNoProcessRemains(matching: sleepCommand)
    }
}

/// Expects that within 1 s no process's command line contains `pattern` (polls `pgrep -f`).
/// Leftovers are killed by their process id after the check, so a failure does not leak them.
private func expectNoProcessRemains(
    matching pattern: String, sourceLocation: SourceLocation = #_sourceLocation
) async {
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(1)
    var remaining = processIDs(matching: pattern)
    while !remaining.isEmpty && clock.now < deadline {
        try? await Task.sleep(for: .milliseconds(25))
        remaining = processIDs(matching: pattern)
    }
    #expect(remaining.isEmpty, "still running 1 s after the run ended: '\(pattern)' (pids \(remaining))",
            sourceLocation: sourceLocation)
    for pid in remaining { kill(pid, SIGKILL) }
}

/// Process ids whose full command line contains `pattern`, from `pgrep -f`.
private func processIDs(matching pattern: String) -> [Int32] {
    let pgrep = Process()
    pgrep.executableURL = URL(filePath: "/usr/bin/env")
    pgrep.arguments = ["pgrep", "-f", pattern]
    let pipe = Pipe()
    pgrep.standardOutput = pipe
    pgrep.standardError = FileHandle.nullDevice
    do { try pgrep.run() } catch {
        Issue.record("cannot run pgrep: \(error)")
        return []
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    pgrep.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
        .split(whereSeparator: \.isNewline)
        .compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
}

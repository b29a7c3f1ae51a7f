// InterruptTests.swift: Ctrl-C / SIGTERM in `tide exec`: cancel once, quit at the second.
import Foundation
import Testing

@Suite("interrupting tide exec")
struct InterruptTests {
    /// Starts `tide exec file`, waits until `ready` holds, then sends the signals with a pause.
    fileprivate func interrupt(_ source: String, signals: [Int32], ready: @escaping (String) -> Bool) async throws -> (status: Int32, output: String) {
        try await withScratchDirectory { dir in try await run(source, in: dir, signals: signals, ready: ready) }
    }

    private func run(_ source: String, in dir: ScratchDirectory, signals: [Int32], ready: (String) -> Bool) async throws -> (status: Int32, output: String) {
        let file = dir.url.appendingPathComponent("flow.lua")
        try source.write(to: file, atomically: true, encoding: .utf8)
        let outURL = dir.url.appendingPathComponent("out.txt")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let process = Process()
        process.executableURL = try TideProcess.binary
        process.arguments = ["exec", file.path]
        process.standardOutput = out
        process.standardError = out
        try ChildLauncher.run(process)
        let start = Date()
        while Date().timeIntervalSince(start) < 20 {
            if ready((try? String(contentsOf: outURL, encoding: .utf8)) ?? "") { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        for (index, signal) in signals.enumerated() {
            kill(process.processIdentifier, signal)
            guard index + 1 < signals.count else { break }
            // the next signal only once tide has taken this one: the kernel merges a signal into
            // one still pending, so a fixed pause sent "two" signals that arrived as one
            let acknowledged = "cancelling"
            let start = Date()
            while Date().timeIntervalSince(start) < 30,
                  !((try? String(contentsOf: outURL, encoding: .utf8)) ?? "").contains(acknowledged) {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: outURL, encoding: .utf8)) ?? "")
    }

    @Test("SIGINT cancels the run: compensations run, status cancelled, exit 1, no process left")
    func firstInterrupt() async throws {
        let marker = "34.\(Int.random(in: 100_000...999_999))"
        let r = try await interrupt("""
            flow { name = "f", run = function()
              step("a", function() end, { compensate = function() log("compensated") end })
              log("started")
              sh("sleep \(marker)")
            end }
            """, signals: [SIGINT], ready: { $0.contains("started") })
        #expect(r.status == 1)
        #expect(r.output.contains("compensated") && r.output.contains("cancelled"))
        #expect(!processRunning("sleep \(marker)"))
    }

    @Test("SIGTERM stops a loop that cannot yield in a flow without a timeout")
    func stuckLoop() async throws {
        let r = try await interrupt("""
            flow { name = "f", run = function() log("started") table.sort({3, 2, 1}, function() while true do end end) end }
            """, signals: [SIGTERM], ready: { $0.contains("started") })
        #expect(r.status == 1 && r.output.contains("cancelled"))
    }

    @Test("a second signal exits at once with 130 and kills the commands still running")
    func secondInterrupt() async throws {
        let marker = "35.\(Int.random(in: 100_000...999_999))"
        let r = try await interrupt("""
            flow { name = "f", run = function()
              step("a", function() end, { compensate = function() log("undoing") sh("sleep \(marker)") end })
              log("started")
              sh("sleep 60")
            end }
            """, signals: [SIGINT, SIGINT], ready: { $0.contains("started") })
        #expect(r.status == 130)
        #expect(!processRunning("sleep \(marker)"))
    }
}


extension InterruptTests {
    @Test("a second signal during a command's teardown leaves no process behind")
    func secondInterruptDuringTeardown() async throws {
        let marker = "37.\(Int.random(in: 100_000...999_999))"
        let r = try await interrupt("""
            flow { name = "f", run = function() log("started") sh("trap '' TERM; sleep \(marker)") end }
            """, signals: [SIGINT, SIGINT], ready: { $0.contains("started") && processRunning("sleep \(marker)") })
        #expect(r.status == 130)
        // SIGKILL is delivered and acted on asynchronously: gone within a moment of tide's exit
        #expect(await waitUntil(timeout: .seconds(5)) { !processRunning("sleep \(marker)") }, "a command that ignored SIGTERM outlived tide")
    }
}

/// Whether a live process's command line contains `marker`.
func processRunning(_ marker: String) -> Bool {
    for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where pid.allSatisfy(\.isNumber) {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let cmdline = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        if cmdline.contains(marker), stat[stat.index(close, offsetBy: 2)] != "Z" { return true }
    }
    return false
}

// Shortcuts for the common case: write one flow script, `tide exec --json` it, check the outcome.
import Foundation
import Testing

/// The output of one `tide exec FILE --json` run and its parsed report.
struct ExecRun: Sendable {
    var output: TideOutput
    var report: ExecReport

    /// Writes `source` to `fileName` in a fresh scratch folder and runs `tide exec <file> --json <extra...>`
    /// there. Throws (failing the test) when stdout is not exactly one JSON object.
    static func run(
        _ source: String,
        fileName: String = "flow.lua",
        arguments extra: [String] = [],
        timeout: Duration = .seconds(30),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> ExecRun {
        try await withScratchDirectory { dir in
            let file = try dir.write(fileName, source)
            let output = try await TideProcess.run(
                ["exec", file, "--json"] + extra, in: dir.url, timeout: timeout,
                sourceLocation: sourceLocation)
            do {
                return ExecRun(output: output, report: try ExecReport(output))
            } catch {
                Issue.record(
                    "tide exec --json did not print one JSON object (exit \(output.status)): \(error)\nstdout: \(output.stdout.prefix(2000))\nstderr: \(output.stderr.prefix(2000))",
                    sourceLocation: sourceLocation)
                throw error
            }
        }
    }

    /// Expects a run that failed cleanly: exit status 1 (not a crash or a signal), status "failed",
    /// a non-null error and a `steps` array.
    func expectFailed(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!output.signaled, "tide died from signal \(output.status)", sourceLocation: sourceLocation)
        #expect(output.status == 1, "exit status; stderr: \(output.stderr.prefix(1000))", sourceLocation: sourceLocation)
        #expect(report.status == "failed", sourceLocation: sourceLocation)
        #expect(report.error != nil && report.error != .null, "error is null: \(report.json)", sourceLocation: sourceLocation)
        #expect(report.steps?.array != nil, "steps is not an array: \(report.json)", sourceLocation: sourceLocation)
    }

    /// Expects a run that succeeded: exit status 0 and status "succeeded".
    func expectSucceeded(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!output.signaled, "tide died from signal \(output.status)", sourceLocation: sourceLocation)
        #expect(output.status == 0, "exit status; error: \(report.errorMessage); stderr: \(output.stderr.prefix(1000))", sourceLocation: sourceLocation)
        #expect(report.status == "succeeded", "report: \(report.json)", sourceLocation: sourceLocation)
    }
}

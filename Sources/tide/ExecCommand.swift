// ExecCommand.swift: `tide exec FILE.lua`: run one flow in-process, with a live view.
import ArgumentParser
import Foundation
import TideEngine
import TideProtocol

struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a flow script once, in-process (no daemon), showing its steps live.",
        discussion: "Ctrl-C cancels the run (compensations still run); a second Ctrl-C quits at once.")

    @Argument(help: "The flow script.")
    var file: String

    @Option(name: .long, help: "The flow to run, when the script defines several.")
    var flow: String?

    @Option(name: .long, help: "The payload (ctx.payload), a JSON object.")
    var payload: String?

    @Flag(name: .long, help: "Print the run as one JSON object on standard output.")
    var json = false

    @OptionGroup var home: HomeOptions

    func validate() throws {
        if let payload { _ = try parsePayload(payload) }
    }

    func run() async throws {
        let script: FlowScript
        do {
            script = try FlowScript(contentsOf: file)
        } catch {
            printError("tide: \(error.message)")
            throw ExitCode(1)
        }
        let view = LiveView(json: json)
        let request = RunRequest(
            script: script, flow: flow, payload: payload, runID: makeRunID(), plugins: home.plugins)
        let interrupts = InterruptHandler {
            view.note("cancelling (Ctrl-C again to quit now)")
        }
        let outcome = await interrupts.cancellingOnInterrupt {
            await RunExecutor.execute(request, observer: view, cancellationReason: "interrupted (Ctrl-C)")
        }
        view.finish()
        await SharedHTTPClient.shutdown()  // its connections close before the process exits
        if json {
            print(RunReport(outcome).jsonText())
        } else {
            printRunSummary(RunReport(outcome))
        }
        if outcome.status != .succeeded { throw ExitCode(1) }
    }
}

/// The end of a run for people: how it ended, its result or error, cleanup errors.
func printRunSummary(_ report: RunReport) {
    let took = formatDuration(report.durationMilliseconds ?? 0)
    switch report.status {
    case .succeeded:
        print("✓ \(report.flow) succeeded in \(took)  (\(report.runID))")
        print("result: \(pretty(report.result ?? .null))")
    default:
        let message = report.error?["message"]?.string ?? "unknown error"
        let code = report.error?["code"]?.string.flatMap { $0 == message ? nil : " [\($0)]" } ?? ""
        print("✗ \(report.flow) \(report.status.rawValue) after \(took): \(message)\(code)  (\(report.runID))")
        if let error = report.error, case .object(let fields) = error, fields.keys.contains(where: { $0 != "message" && $0 != "code" }) {
            print("error: \(pretty(error))")
        }
        if case .array(let errors)? = report.compensationErrors {
            print("cleanup errors (\(errors.count)):")
            for e in errors { print("  - \(e["step"]?.string ?? "?"): \(e["error"]?["message"]?.string ?? pretty(e))") }
        }
    }
}

/// A run id: `run_` and 12 random hex digits.
func makeRunID() -> String {
    "run_" + String((0..<12).map { _ in "0123456789abcdef".randomElement()! })
}

/// JSON text for the terminal: pretty-printed when large.
func pretty(_ value: JSONValue) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
    guard let compact = try? encoder.encode(value) else { return "?" }
    if compact.count <= 100 { return String(decoding: compact, as: UTF8.self) }
    encoder.outputFormatting.insert(.prettyPrinted)
    return String(decoding: (try? encoder.encode(value)) ?? compact, as: UTF8.self)
}

/// "850ms", "1.25s", "2m05s".
func formatDuration(_ milliseconds: Double) -> String {
    if milliseconds < 1000 { return String(format: "%.0fms", milliseconds) }
    let seconds = milliseconds / 1000
    if seconds < 60 { return String(format: "%.2fs", seconds) }
    return String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60)
}

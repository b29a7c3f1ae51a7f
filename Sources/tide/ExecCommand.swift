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

/// The end of a run for people: how it ended, its result or error, cleanup errors. JSON values
/// print on one line, as `tide run --json` prints them.
func printRunSummary(_ report: RunReport) {
    let took = formatDuration(report.durationMilliseconds ?? 0)
    switch report.status {
    case .succeeded:
        print("✓ \(printable(report.flow)) succeeded in \(took)  (\(report.runID))")
        print("result: \(printable((report.result ?? .null).jsonText))")
    default:
        let error = report.error ?? .null
        let message = error["message"]?.string ?? "unknown error"
        let code = error["code"]?.string.flatMap { $0 == message ? nil : " [\($0)]" } ?? ""
        print("✗ \(printable(report.flow)) \(report.status.rawValue) after \(took): \(printable(message))\(code)\(errorOrigin(error))  (\(report.runID))")
        if case .object(var fields) = error {
            for shown in ["message", "code", "step", "where"] { fields[shown] = nil }
            if !fields.isEmpty { print("error: \(printable(JSONValue.object(fields).jsonText))") }
        }
        if case .array(let errors)? = report.compensationErrors {
            print("cleanup errors (\(errors.count)):")
            for e in errors { print("  - \(printable(e["step"]?.string ?? "?")): \(printable(e["error"]?["message"]?.string ?? e.jsonText))") }
        }
    }
}

/// Where a run's error came from, as the error record names it: " in step 'ship' at
/// flows/saga.lua:12" (the location left out when the message starts with it already).
func errorOrigin(_ error: JSONValue) -> String {
    var parts: [String] = []
    if let step = error["step"]?.string { parts.append("in step '\(printable(step))'") }
    if let place = error["where"]?.string, !(error["message"]?.string ?? "").hasPrefix(place + ":") {
        parts.append("at \(printable(place))")
    }
    return parts.isEmpty ? "" : " (" + parts.joined(separator: " ") + ")"
}

/// A run id: `run_` and 16 random hex digits, as the daemon makes them.
func makeRunID() -> String {
    "run_" + String((0..<16).map { _ in "0123456789abcdef".randomElement()! })
}

/// "850ms", "1.25s", "2m05s".
func formatDuration(_ milliseconds: Double) -> String {
    if milliseconds < 1000 { return String(format: "%.0fms", milliseconds) }
    let seconds = milliseconds / 1000
    if seconds < 60 { return String(format: "%.2fs", seconds) }
    return String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60)
}

// RunCommand.swift: `tide run FLOW`: start a run on the daemon and follow it live.
import ArgumentParser
import Foundation
import TideProtocol

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start a run of a flow on the daemon and follow it live; exits with its status.",
        discussion: "Ctrl-C stops following; the run goes on (tide cancel RUN stops it).")

    @Argument(help: "The flow to run (see tide flows).")
    var flow: String

    @Option(name: .long, help: "The payload (ctx.payload), a JSON object.")
    var payload: String?

    @Flag(name: .long, help: "Print the run id and return at once.")
    var detach = false

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if let payload { _ = try parsePayload(payload) }
    }

    func run() throws {
        var params: [String: JSONValue] = ["flow": .string(flow)]
        if let payload { params["payload"] = try parsePayload(payload) }
        let connection = try client.connect()
        if detach {
            let result: JSONValue
            do { result = try connection.call("run.start", params) } catch { throw client.report(error) }
            if let warning = staleWarning(result["stale"]) { printError("tide: " + warning) }
            if client.json { return client.printJSON(result) }
            print(result["run_id"]?.string ?? "?")
            return
        }
        params["follow"] = .bool(true)
        let view = LiveView(json: client.json)
        InterruptExit.install(message: "stopped following; the run goes on (tide runs lists it, tide cancel RUN stops it)")
        let result: JSONValue
        do {
            result = try connection.call("run.start", params) { method, params in
                if let event = runEvent(method, params) { view.record(event) }
                if method == "run.queued" { view.note("queued behind the flow's max_concurrent") }
                if method == "run.stale", let warning = staleWarning(params["stale"]) { view.warn(warning) }
            }
        } catch {
            view.finish()
            throw client.report(error)
        }
        view.finish()
        guard let report = try? result.decode(as: RunReport.self) else { throw Failure(message: "unexpected answer: \(result.jsonText)") }
        if client.json { client.printJSON(result) } else { printRunSummary(report) }
        if report.status != .succeeded { throw ExitCode(1) }
    }
}

/// The warning for a run of an older version of its file, whose newest version failed to load
/// (the answer's `stale` field; `--json` keeps the field in the JSON).
func staleWarning(_ stale: JSONValue?) -> String? {
    guard let stale, let file = stale["file"]?.string else { return nil }
    let error = stale["error"]?.string ?? "?"
    return "warning: \(printable(file)) failed to load (\(printable(error))); this run uses the version loaded before it (tide flows shows the error)"
}

/// A run's notification as the event the live view draws.
func runEvent(_ method: String, _ params: JSONValue) -> RunEvent? {
    switch method {
    case "step.started", "step.finished":
        guard let step = try? params["step"]?.decode(as: RunReport.Step.self) else { return nil }
        return method == "step.started" ? .nodeStarted(step.record) : .nodeFinished(step.record)
    case "run.log":
        guard let line = params["line"], let level = line["level"]?.string.flatMap(LogLine.Level.init(rawValue:)) else { return nil }
        return .log(LogLine(level: level, message: line["message"]?.string ?? "",
                            time: line["time"]?.string.flatMap(parseISOTimestamp) ?? Date().timeIntervalSince1970,
                            node: line["node"]?.number.map { Int($0) }))
    case "batch.progress":
        guard let node = params["node"]?.number, let done = params["done"]?.number, let total = params["total"]?.number else { return nil }
        return .progress(node: Int(node), done: Int(done), total: Int(total))
    case "step.retrying":
        guard let node = params["node"]?.number, let attempt = params["attempt"]?.number else { return nil }
        return .retrying(node: Int(node), attempt: Int(attempt), error: params["error"]?.jsonText ?? "",
                         delay: params["delay"]?.number ?? 0)
    default:
        return nil
    }
}

/// Parses `--payload`: a JSON object or array.
func parsePayload(_ text: String) throws -> JSONValue {
    guard let value = JSONValue(text: text) else {
        throw ValidationError("--payload is not valid JSON: \(text)")
    }
    switch value {
    case .object, .array: return value
    default: throw ValidationError("--payload must be a JSON object (or array), got: \(text)")
    }
}

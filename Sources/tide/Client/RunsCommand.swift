// RunsCommand.swift: `tide runs`: recent runs, newest first.
import ArgumentParser
import TideProtocol

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List recent runs, newest first.")

    @Option(name: .long, help: "Only runs of this flow.")
    var flow: String?

    @Option(name: .long, help: "Only runs with this status: queued, running, succeeded, failed, cancelled, interrupted.")
    var status: String?

    @Option(name: .long, help: "At most this many runs (default 20).")
    var limit: Int = 20

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if let status, RunStatus(rawValue: status) == nil {
            throw ValidationError("--status must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), got '\(status)'")
        }
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let result = try client.call("runs.list", ClientOptions.params([
            "flow": flow.map(JSONValue.string), "status": status.map(JSONValue.string), "limit": .int(Int64(limit)),
        ]))
        if client.json { return client.printJSON(result) }
        guard let runs = try? result["runs"]?.decode(as: [RunSummary].self) else { throw Failure(message: "unexpected answer: \(result.jsonText)") }
        if runs.isEmpty {
            print("no runs yet")
            return
        }
        print("\(column("RUN", 21)) \(column("FLOW", 18)) \(column("STATUS", 13)) \(column("TRIGGER", 8)) \(column("STARTED", 12)) \(column("TOOK", 8)) ERROR")
        for r in runs {
            let took = r.durationMilliseconds.map(formatDuration) ?? "-"
            print("\(column(r.runID, 21)) \(column(r.flow, 18)) \(column(statusMark(r.status.rawValue) + " " + r.status.rawValue, 13)) \(column(r.trigger, 8)) \(column(shortTime(r.startedAt ?? r.queuedAt), 12)) \(column(took, 8)) \(printable(r.error ?? ""))")
        }
    }
}

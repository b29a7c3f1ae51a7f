// FlowsCommand.swift: `tide flows`: the flows served, and the files that failed to load.
import ArgumentParser
import TideProtocol

struct FlowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flows",
        abstract: "List flows with their file, schedule, next start, last run and status; and files that failed to load.")

    @OptionGroup var client: ClientOptions

    func run() throws {
        let result = try client.call("flows.list")
        if client.json { return client.printJSON(result) }
        guard let list = try? result.decode(as: FlowsList.self) else { throw Failure(message: "unexpected answer: \(result.jsonText)") }
        if list.flows.isEmpty {
            print("no flows (put *.lua scripts in the home's flows/ folder)")
        } else {
            // as wide as the longest name and file:line (up to a limit): a cut line number was useless
            let nameWidth = min(40, max(20, list.flows.map { printable($0.name).count }.max() ?? 0))
            let fileWidth = min(60, max(26, list.flows.map { printable("\($0.file):\($0.line)").count }.max() ?? 0))
            print("\(column("FLOW", nameWidth)) \(column("FILE", fileWidth)) \(column("TRIGGER", 22)) \(column("NEXT", 12)) \(column("LAST RUN", 24)) NOW")
            for f in list.flows {
                let trigger = f.schedule?.joined(separator: "; ") ?? f.on?.joined(separator: ", ") ?? "manual"
                let last = f.lastRun.map { "\(statusMark($0.status.rawValue)) \($0.status.rawValue) \(shortTime($0.finishedAt ?? $0.startedAt ?? $0.queuedAt))" } ?? "never"
                var now: [String] = []
                if f.running > 0 { now.append("\(f.running) running") }
                if f.queued > 0 { now.append("\(f.queued) queued") }
                if f.stale { now.append("stale: newer file failed") }
                print("\(column(f.name, nameWidth)) \(columnKeepingEnd("\(f.file):\(f.line)", fileWidth)) \(column(trigger, 22)) \(column(shortTime(f.nextStart), 12)) \(column(last, 24)) \(now.joined(separator: ", "))")
            }
        }
        if !list.errors.isEmpty {
            print("")
            print("failed to load (\(list.errors.count)):")
            for e in list.errors {
                print("  ✗ \(printable(e.error))")
            }
        }
    }
}

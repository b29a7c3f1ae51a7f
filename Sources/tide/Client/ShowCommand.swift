// ShowCommand.swift: `tide show RUN`: a run's steps as a tree, and its timeline as a Gantt chart.
import ArgumentParser
import Foundation
import TideProtocol

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one run: its steps as a tree and a timeline of what ran in parallel and what was slow.")

    @Argument(help: ArgumentHelp("The run id (see tide runs).", valueName: "run"))
    var runID: String

    @Option(name: .long, help: "Width of the timeline in columns (default: fits the terminal).")
    var width: Int?

    @OptionGroup var client: ClientOptions

    func run() throws {
        let result = try client.call("run.get", ["run_id": .string(runID)])
        if client.json { return client.printJSON(result) }
        guard let report = try? result.decode(as: RunReport.self) else { throw Failure(message: "unexpected answer: \(result.jsonText)") }
        print(RunChart(report: report, width: width ?? terminalWidth()).render(), terminator: "")
    }
}

/// Draws a run: a header, the tree of its nodes, and a timeline with one bar per node.
struct RunChart {
    let report: RunReport
    let width: Int

    private struct Row {
        var step: RunReport.Step
        var depth: Int
    }

    func render() -> String {
        var out = ""
        let took = report.durationMilliseconds.map(formatDuration) ?? "running"
        out += "\(statusMark(report.status.rawValue)) \(printable(report.flow))  \(report.runID)  \(report.status.rawValue)  \(took)\n"
        out += "  started \(report.startedAt)\(report.trigger.map { "  trigger \(printable($0))" } ?? "")\n"
        if let error = report.error, let message = error["message"]?.string {
            out += "  error: \(printable(message))\(errorOrigin(error))\n"
        }
        if case .array(let errors)? = report.compensationErrors {
            for e in errors { out += "  cleanup error in \(printable(e["step"]?.string ?? "?")): \(printable(e["error"]?["message"]?.string ?? e.jsonText))\n" }
        }
        let rows = ordered()
        guard !rows.isEmpty else {
            out += "\n  (no steps recorded)\n"
            return out
        }
        let start = parseISOTimestamp(report.startedAt) ?? rows.compactMap { parseISOTimestamp($0.step.startedAt) }.min() ?? 0
        let ends = rows.compactMap { $0.step.finishedAt.flatMap(parseISOTimestamp) }
        let end = max(report.finishedAt.flatMap(parseISOTimestamp) ?? 0, ends.max() ?? 0, start + 0.001)
        let labelWidth = min(40, max(12, rows.map { $0.depth * 2 + 2 + printable($0.step.name).count + label($0.step).count }.max() ?? 12))
        let durationWidth = 9
        let barWidth = max(10, width - labelWidth - durationWidth - 4)
        out += "\n"
        out += column("STEPS", labelWidth) + "  " + column("TOOK", durationWidth) + " " + axis(span: end - start, width: barWidth) + "\n"
        for row in rows {
            let s = row.step
            let name = String(repeating: "  ", count: row.depth) + statusMark(s.status) + " " + printable(s.name) + label(s)
            let took = s.durationMilliseconds.map(formatDuration) ?? "…"
            let from = parseISOTimestamp(s.startedAt) ?? start
            let to = s.finishedAt.flatMap(parseISOTimestamp) ?? end
            out += column(name, labelWidth) + "  " + column(took, durationWidth) + " " + bar(from - start, to - start, span: end - start, width: barWidth, status: s.status) + "\n"
        }
        return out
    }

    /// Extra words after a node's name: the primitive, attempts, counts.
    private func label(_ s: RunReport.Step) -> String {
        var parts: [String] = []
        if s.kind == "group", let p = s.primitive, p != s.name { parts.append(p) }
        if let a = s.attempts, a > 1 { parts.append("\(a) attempts") }
        if let total = s.total { parts.append("\(s.done ?? 0)/\(total)") }
        if s.kind == "compensation" { parts.append("compensation") }
        return parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")"
    }

    /// Nodes depth-first, children in start order.
    private func ordered() -> [Row] {
        var children: [Int: [RunReport.Step]] = [:]
        var roots: [RunReport.Step] = []
        let ids = Set(report.steps.map(\.id))
        for s in report.steps {
            if let p = s.parent, ids.contains(p) { children[p, default: []].append(s) } else { roots.append(s) }
        }
        var out: [Row] = []
        func visit(_ s: RunReport.Step, _ depth: Int) {
            let kids = (children[s.id] ?? []).sorted(by: { $0.id < $1.id })
            // a branch that is just a step of its name (`fetch = function() return step("fetch", ...) end`)
            // is one row, the step's: two rows said the same thing twice
            if s.kind == "branch", kids.count == 1, kids[0].kind == "step", kids[0].name == s.name {
                return visit(kids[0], depth)
            }
            out.append(Row(step: s, depth: depth))
            for c in kids { visit(c, depth + 1) }
        }
        for r in roots.sorted(by: { $0.id < $1.id }) { visit(r, 0) }
        return out
    }

    private func bar(_ from: Double, _ to: Double, span: Double, width: Int, status: String) -> String {
        let a = min(width - 1, max(0, Int((from / span * Double(width)).rounded(.down))))
        let b = min(width, max(a + 1, Int((to / span * Double(width)).rounded(.up))))
        let fill: Character = status == "failed" ? "▓" : status == "cancelled" ? "░" : "█"
        return String(repeating: " ", count: a) + String(repeating: fill, count: b - a) + String(repeating: " ", count: width - b)
    }

    private func axis(span: Double, width: Int) -> String {
        let left = "0"
        let right = formatDuration(span * 1000)
        let gap = max(1, width - left.count - right.count)
        return left + String(repeating: "─", count: gap) + right
    }
}

/// The terminal's width, or 100 when the output is not a terminal.
func terminalWidth() -> Int {
    var size = winsize()
    if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 { return Int(size.ws_col) }
    return 100
}

// LiveView.swift: shows a run's steps as they start and finish, groups side by side, batch bars.
import Foundation
import Synchronization
import TideEngine
import TideProtocol

/// A run observer that draws the run on a terminal (a live region redrawn every 100 ms, finished
/// steps and log lines scrolling above it), or prints plain lines when the output is not a
/// terminal. With `--json` it draws on standard error if that is a terminal, else stays quiet.
final class LiveView: RunObserver, Sendable {
    private enum Mode { case off, plain, terminal }

    private struct Node {
        var record: StepRecord
        var children: [Int] = []
    }

    private struct State {
        var nodes: [Int: Node] = [:]
        var roots: [Int] = []
        var lines: [String] = []  // finished output waiting to be printed
        var drawnLines = 0
        var lastPlainProgress: [Int: Int] = [:]
        var finished = false
    }

    private let mode: Mode
    private let out: FileHandle
    private let state = Mutex(State())
    private let color: Bool
    private let stopped = Mutex(false)

    init(json: Bool) {
        let stdoutTTY = isatty(1) != 0, stderrTTY = isatty(2) != 0
        if json {
            mode = stderrTTY ? .terminal : .off
            out = .standardError
            color = stderrTTY
        } else {
            mode = stdoutTTY ? .terminal : .plain
            out = .standardOutput
            color = stdoutTTY
        }
        if mode == .terminal {
            let holder = DrawerBox()
            let thread = Thread {
                while !(holder.view?.isStopped ?? true) {
                    holder.view?.redraw()
                    usleep(100_000)
                }
            }
            thread.name = "tide-live-view"
            holder.view = self
            thread.start()
        }
    }

    fileprivate var isStopped: Bool { stopped.withLock { $0 } }

    // MARK: - Events

    func record(_ event: RunEvent) {
        guard mode != .off else { return }
        var plain: [String] = []
        state.withLock { s in
            switch event {
            case .nodeStarted(let r):
                s.nodes[r.id] = Node(record: r)
                if let p = r.parent { s.nodes[p]?.children.append(r.id) } else { s.roots.append(r.id) }
                if mode == .plain, r.kind != .branch { plain.append(startLine(r, depth: depth(r, s))) }
            case .nodeFinished(let r):
                if s.nodes[r.id] == nil {
                    s.nodes[r.id] = Node(record: r)
                    if let p = r.parent { s.nodes[p]?.children.append(r.id) } else { s.roots.append(r.id) }
                }
                s.nodes[r.id]?.record = r
                let show = r.kind != .branch || r.status == .failed
                if show {
                    let line = finishLine(r, depth: depth(r, s))
                    if mode == .plain { plain.append(line) } else { s.lines.append(line) }
                }
            case .retrying(let node, let attempt, let error, let delay):
                let name = printable(s.nodes[node]?.record.name ?? "?")
                let line = indent(s.nodes[node].map { depth($0.record, s) } ?? 0)
                    + paint("↻", 33) + " \(name): attempt \(attempt) failed (\(errorMessage(error))); retrying in \(formatDuration(delay * 1000))"
                if mode == .plain { plain.append(line) } else { s.lines.append(line) }
            case .progress(let node, let done, let total):
                s.nodes[node]?.record.done = done
                s.nodes[node]?.record.total = total
                if mode == .plain, total > 0 {
                    let step = max(1, total / 10)
                    let last = s.lastPlainProgress[node] ?? 0
                    if done == total || done - last >= step {
                        s.lastPlainProgress[node] = done
                        let name = printable(s.nodes[node]?.record.name ?? "batch")
                        plain.append(indent(s.nodes[node].map { depth($0.record, s) } ?? 0) + "  \(name) \(bar(done, total, width: 20)) \(done)/\(total)")
                    }
                }
            case .log(let line):
                let text = indent(line.node.flatMap { s.nodes[$0] }.map { depth($0.record, s) + 1 } ?? 0)
                    + levelTag(line.level) + " " + printable(line.message, keepingLines: true)
                if mode == .plain { plain.append(text) } else { s.lines.append(text) }
            }
        }
        if !plain.isEmpty { out.write(Data((plain.joined(separator: "\n") + "\n").utf8)) }
    }

    /// Prints a warning on standard error (in the drawn region while the view draws on the terminal).
    func warn(_ text: String) {
        if mode == .terminal {  // the terminal shows both streams: printing beside the region would garble it
            state.withLock { $0.lines.append(paint("tide: " + text, 33)) }
            return
        }
        printError("tide: \(text)")
    }

    /// Prints a note (e.g. "cancelling").
    func note(_ text: String) {
        if mode == .off {
            printError("tide: \(text)")
            return
        }
        state.withLock { $0.lines.append(paint("… " + text, 33)) }
        if mode == .plain { redrawPlain() }
    }

    /// Stops drawing and prints what is left.
    func finish() {
        stopped.withLock { $0 = true }
        if mode == .terminal { redraw(final: true) }
        if mode == .plain { redrawPlain() }
    }

    private func redrawPlain() {
        let lines = state.withLock { s -> [String] in
            defer { s.lines.removeAll() }
            return s.lines
        }
        if !lines.isEmpty { out.write(Data((lines.joined(separator: "\n") + "\n").utf8)) }
    }

    // MARK: - Terminal drawing

    fileprivate func redraw(final: Bool = false) {
        let text = state.withLock { s -> String in
            var text = ""
            if s.drawnLines > 0 { text += "\u{1b}[\(s.drawnLines)A\u{1b}[J" }
            for line in s.lines { text += line + "\n" }
            s.lines.removeAll()
            var region: [String] = []
            if !final {
                for root in s.roots { drawActive(root, depth: 0, s, into: &region) }
                if region.count > 24 {
                    let more = region.count - 23
                    region = Array(region.prefix(23)) + [paint("  … \(more) more lines", 90)]
                }
            }
            for line in region { text += line + "\n" }
            s.drawnLines = region.count
            return text
        }
        if !text.isEmpty { out.write(Data(text.utf8)) }
    }

    private func drawActive(_ id: Int, depth: Int, _ s: State, into region: inout [String]) {
        guard let node = s.nodes[id] else { return }
        let r = node.record
        let running = r.status == .running
        let parentIsGroup = r.parent.flatMap { s.nodes[$0] }?.record.kind == .group
        let parentRunning = r.parent.flatMap { s.nodes[$0] }?.record.status == .running
        // A running node is drawn; so are the finished branches of a running group (side by side).
        guard running || (r.kind == .branch && parentIsGroup && parentRunning) else { return }
        let now = Date().timeIntervalSince1970
        let elapsed = formatDuration(((r.finishedAt ?? now) - r.startedAt) * 1000)
        var line = indent(depth)
        switch r.kind {
        case .group:
            line += spinner(now) + " " + paint(printable(r.name), 1) + paint("  \(r.primitive ?? "group")", 90)
            if let total = r.total, total > 0 {
                let done = r.done ?? 0
                line += "  " + bar(done, total, width: 24) + " \(done)/\(total)"
            }
            line += paint("  \(elapsed)", 90)
        case .branch:
            let mark = running ? spinner(now) : statusMark(r.status)
            line += paint("├ ", 90) + mark + " " + printable(r.name) + paint("  \(elapsed)", 90)
        case .step, .compensation:
            line += spinner(now) + " " + printable(r.name) + (r.attempts > 1 ? paint("  attempt \(r.attempts)", 33) : "") + paint("  \(elapsed)", 90)
        }
        region.append(line)
        for child in node.children { drawActive(child, depth: depth + 1, s, into: &region) }
    }

    // MARK: - Lines

    private func depth(_ r: StepRecord, _ s: State) -> Int {
        var d = 0
        var p = r.parent
        while let id = p, let n = s.nodes[id] {
            d += 1
            p = n.record.parent
        }
        return d
    }

    private func startLine(_ r: StepRecord, depth: Int) -> String {
        switch r.kind {
        case .group:
            return indent(depth) + "┌ \(printable(r.name)) (\(r.primitive ?? "group"), \(r.total ?? 0) tasks)"
        default:
            return indent(depth) + "▶ \(printable(r.name))"
        }
    }

    private func finishLine(_ r: StepRecord, depth: Int) -> String {
        let took = formatDuration(r.durationMilliseconds ?? 0)
        var line = indent(depth) + statusMark(r.status) + " " + printable(r.name)
        switch r.kind {
        case .group:
            line += paint(" (\(r.primitive ?? "group")\(r.total.map { ", \(r.done ?? 0)/\($0)" } ?? ""))", 90)
        case .branch:
            line += paint(" (branch)", 90)
        case .compensation:
            line += paint(" (compensation)", 90)
        case .step:
            if r.attempts > 1 { line += paint(" (\(r.attempts) attempts)", 90) }
        }
        line += paint("  \(took)", 90)
        if r.status == .failed, let error = r.error { line += "  " + paint(errorMessage(error), 31) }
        return line
    }

    private func statusMark(_ status: NodeStatus) -> String {
        switch status {
        case .succeeded: paint("✓", 32)
        case .failed: paint("✗", 31)
        case .cancelled: paint("⊘", 33)
        case .running: "…"
        }
    }

    private func levelTag(_ level: LogLine.Level) -> String {
        switch level {
        case .debug: paint("debug", 90)
        case .info: paint("info ", 36)
        case .warn: paint("warn ", 33)
        case .error: paint("error", 31)
        }
    }

    private func spinner(_ now: Double) -> String {
        let frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
        return paint(frames[Int(now * 10) % frames.count], 36)
    }

    private func bar(_ done: Int, _ total: Int, width: Int) -> String {
        let filled = total > 0 ? min(width, done * width / total) : 0
        return "[" + String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled) + "]"
    }

    private func indent(_ depth: Int) -> String { String(repeating: "  ", count: depth) }

    private func paint(_ text: String, _ code: Int) -> String {
        color ? "\u{1b}[\(code)m\(text)\u{1b}[0m" : text
    }

    private func errorMessage(_ json: String) -> String {
        printable(JSONValue(text: json)?["message"]?.string ?? json)
    }
}

/// Lets the drawing thread reach the view without keeping it alive.
private final class DrawerBox: @unchecked Sendable {
    weak var view: LiveView?
}

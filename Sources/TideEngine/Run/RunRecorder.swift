// RunRecorder.swift: the node tree of one run, kept on the run's thread.
import TideProtocol

/// Builds the run's history (steps, groups, branches) and forwards events to the observer.
final class RunRecorder {
    private(set) var nodes: [StepRecord] = []
    let observer: RunObserver
    let wallClock: () -> Double
    private var lastProgress: [Int: Double] = [:]

    init(observer: RunObserver, wallClock: @escaping () -> Double) {
        self.observer = observer
        self.wallClock = wallClock
    }

    /// Starts a node; returns its id (ids start at 1; 0 means the top of the run).
    func begin(_ kind: StepRecord.Kind, name: String, parent: Int32, primitive: String? = nil, total: Int? = nil, announce: Bool = true) -> Int32 {
        let id = nodes.count + 1
        let record = StepRecord(
            id: id, parent: parent > 0 ? Int(parent) : nil, kind: kind, name: name, primitive: primitive,
            status: .running, attempts: kind == .step || kind == .compensation ? 1 : 0,
            startedAt: wallClock(), finishedAt: nil, result: nil, error: nil,
            total: total, done: total == nil ? nil : 0)
        nodes.append(record)
        if announce { observer.record(.nodeStarted(record)) }
        return Int32(id)
    }

    /// Finishes a running node; finishing twice keeps the first outcome.
    func finish(_ id: Int32, _ status: NodeStatus, attempts: Int? = nil, result: String? = nil, error: String? = nil) {
        let i = Int(id) - 1
        guard nodes.indices.contains(i), nodes[i].status == .running else { return }
        nodes[i].status = status
        nodes[i].finishedAt = wallClock()
        if let attempts { nodes[i].attempts = attempts }
        if let result { nodes[i].result = result }
        if let error { nodes[i].error = error }
        observer.record(.nodeFinished(nodes[i]))
    }

    /// Attaches an error to a node (finished or not).
    func setError(_ id: Int32, _ error: String) {
        let i = Int(id) - 1
        guard nodes.indices.contains(i) else { return }
        nodes[i].error = error
    }

    /// Sets how many members of a group finished.
    func setDone(_ id: Int32, _ done: Int) {
        let i = Int(id) - 1
        guard nodes.indices.contains(i) else { return }
        nodes[i].done = done
    }

    func retrying(_ id: Int32, attempt: Int, error: String, delay: Double) {
        let i = Int(id) - 1
        guard nodes.indices.contains(i) else { return }
        nodes[i].attempts = attempt + 1
        observer.record(.retrying(node: Int(id), attempt: attempt, error: error, delay: delay))
    }

    /// Records progress of a group; events are sent at most every 50 ms, and always at the end.
    func progress(_ id: Int32, done: Int, total: Int) {
        let i = Int(id) - 1
        guard nodes.indices.contains(i) else { return }
        nodes[i].done = done
        nodes[i].total = total
        let now = wallClock()
        if done == total || now - (lastProgress[i] ?? 0) >= 0.05 {
            lastProgress[i] = now
            observer.record(.progress(node: Int(id), done: done, total: total))
        }
    }

    func log(_ level: LogLine.Level, _ message: String, node: Int32) {
        observer.record(.log(LogLine(level: level, message: message, time: wallClock(), node: node > 0 ? Int(node) : nil)))
    }

    /// Marks every node still running as cancelled (the run ended under them).
    func cancelOpenNodes() {
        for i in nodes.indices where nodes[i].status == .running {
            finish(Int32(i + 1), .cancelled)
        }
    }
}

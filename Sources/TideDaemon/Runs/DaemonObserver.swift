// DaemonObserver.swift: a run's events into the history and out to subscribers.
import Synchronization
import TideEngine
import TideProtocol
import TideStore

/// Records one run's steps and log lines in the store (posted writes: the run never waits for
/// the disk) and publishes them as notifications when someone listens.
final class DaemonObserver: RunObserver {
    let runID: String
    let flow: String
    private let store: RunStore
    private let hub: EventHub
    private let logSeq = Mutex(0)

    init(runID: String, flow: String, store: RunStore, hub: EventHub) {
        self.runID = runID
        self.flow = flow
        self.store = store
        self.hub = hub
    }

    /// Log lines written so far.
    var logCount: Int { logSeq.withLock { $0 } }

    func record(_ event: RunEvent) {
        switch event {
        case .nodeStarted(let step):
            store.record(step: step, run: runID)
            publish("step.started") { .object(["step": JSONValue(step: step)]) }
        case .nodeFinished(let step):
            store.record(step: step, run: runID)
            publish("step.finished") { .object(["step": JSONValue(step: step)]) }
        case .retrying(let node, let attempt, let error, let delay):
            publish("step.retrying") {
                .object(["node": .int(Int64(node)), "attempt": .int(Int64(attempt)), "error": JSONValue(text: error) ?? .string(error),
                         "delay": .double(delay)])
            }
        case .progress(let node, let done, let total):
            publish("batch.progress") { .object(["node": .int(Int64(node)), "done": .int(Int64(done)), "total": .int(Int64(total))]) }
        case .log(let line):
            // numbered under the lock so that the store and followers see one order
            logSeq.withLock { seq in
                seq += 1
                store.record(log: line, seq: seq, run: runID)
                let entry = LogEntry(seq: seq, time: isoTimestamp(line.time), level: line.level, message: line.message, node: line.node)
                publish("run.log") { .object(["line": JSONValue(log: entry)]) }
            }
        }
    }

    private func publish(_ method: String, _ params: () -> JSONValue) {
        guard hub.wants(runID: runID, flow: flow) else { return }
        var body = params()
        if case .object(var members) = body {
            members["run_id"] = .string(runID)
            members["flow"] = .string(flow)
            body = .object(members)
        }
        hub.publish(DaemonEvent(method: method, runID: runID, flow: flow, params: body))
    }
}

extension JSONValue {
    /// A step in its wire form (as in `run.get`).
    init(step: StepRecord) {
        self.init(step: RunReport.Step(step))
    }

    init(step s: RunReport.Step) {
        var o: [String: JSONValue] = [
            "id": .int(Int64(s.id)), "kind": .string(s.kind), "name": .string(s.name), "status": .string(s.status),
            "started_at": .string(s.startedAt),
        ]
        if let p = s.parent { o["parent"] = .int(Int64(p)) }
        if let p = s.primitive { o["primitive"] = .string(p) }
        if let a = s.attempts { o["attempts"] = .int(Int64(a)) }
        if let f = s.finishedAt { o["finished_at"] = .string(f) }
        if let d = s.durationMilliseconds { o["duration_ms"] = .double(d) }
        if let r = s.result { o["result"] = r }
        if let e = s.error { o["error"] = e }
        if let t = s.total { o["total"] = .int(Int64(t)) }
        if let d = s.done { o["done"] = .int(Int64(d)) }
        self = .object(o)
    }

    /// A run report (SPEC §6 shape) in its wire form, built directly (no encoder round trip).
    init(report r: RunReport) {
        var o: [String: JSONValue] = [
            "run_id": .string(r.runID), "flow": .string(r.flow), "status": .string(r.status.rawValue),
            "result": r.result ?? .null, "error": r.error ?? .null, "steps": .array(r.steps.map { JSONValue(step: $0) }),
            "started_at": .string(r.startedAt), "finished_at": r.finishedAt.map(JSONValue.string) ?? .null,
            "duration_ms": r.durationMilliseconds.map(JSONValue.double) ?? .null,
        ]
        if let c = r.compensationErrors { o["compensation_errors"] = c }
        if let t = r.trigger { o["trigger"] = .string(t) }
        self = .object(o)
    }

    /// A log line in its wire form.
    init(log e: LogEntry) {
        var o: [String: JSONValue] = [
            "seq": .int(Int64(e.seq)), "time": .string(e.time), "level": .string(e.level.rawValue), "message": .string(e.message),
        ]
        if let n = e.node { o["node"] = .int(Int64(n)) }
        self = .object(o)
    }

    /// A run summary in its wire form.
    init(summary s: RunSummary) {
        var o: [String: JSONValue] = [
            "run_id": .string(s.runID), "flow": .string(s.flow), "status": .string(s.status.rawValue),
            "trigger": .string(s.trigger), "queued_at": .string(s.queuedAt),
        ]
        o["started_at"] = s.startedAt.map(JSONValue.string) ?? .null
        o["finished_at"] = s.finishedAt.map(JSONValue.string) ?? .null
        o["duration_ms"] = s.durationMilliseconds.map(JSONValue.double) ?? .null
        if let e = s.error { o["error"] = .string(e) }
        if let at = s.scheduledAt { o["scheduled_at"] = .string(at) }
        self = .object(o)
    }
}

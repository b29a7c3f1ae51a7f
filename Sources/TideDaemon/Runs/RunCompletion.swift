// RunCompletion.swift: the end of one run, awaited by any number of callers (run.start wait, run.cancel wait).
import Synchronization
import TideProtocol
import TideStore

/// A finished run as its waiters receive it: the row and its final steps, straight from memory.
public struct FinishedRun: Sendable {
    public var row: RunRow
    public var steps: [StepRecord]
}

/// Resolved once, when the run has been recorded as finished; waiting after that returns at once.
final class RunCompletion: Sendable {
    private struct State {
        var result: FinishedRun?
        var abandoned = false
        var waiters: [Int: CheckedContinuation<FinishedRun?, Never>] = [:]
        var next = 0
    }

    private let state = Mutex(State())

    func resolve(_ finished: FinishedRun) {
        let waiters = state.withLock { s -> [CheckedContinuation<FinishedRun?, Never>] in
            s.result = finished
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: finished) }
    }

    /// The daemon stops before the run ends (it stays queued): waiters return nil.
    func abandon() {
        let waiters = state.withLock { s -> [CheckedContinuation<FinishedRun?, Never>] in
            s.abandoned = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// The finished run; nil when the waiting task is cancelled (its connection closed) or the
    /// daemon stops first.
    func wait() async -> FinishedRun? {
        let id = state.withLock { s -> Int in
            s.next += 1
            return s.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<FinishedRun?, Never>) in
                let ready = state.withLock { s -> (Bool, FinishedRun?) in
                    if let result = s.result { return (true, result) }
                    if s.abandoned || Task.isCancelled { return (true, nil) }
                    s.waiters[id] = continuation
                    return (false, nil)
                }
                if ready.0 { continuation.resume(returning: ready.1) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }
}

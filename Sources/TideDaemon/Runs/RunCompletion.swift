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
        var waiters: [CheckedContinuation<FinishedRun, Never>] = []
    }

    private let state = Mutex(State())

    func resolve(_ finished: FinishedRun) {
        let waiters = state.withLock { s -> [CheckedContinuation<FinishedRun, Never>] in
            s.result = finished
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: finished) }
    }

    func wait() async -> FinishedRun {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> FinishedRun? in
                if let result = s.result { return result }
                s.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

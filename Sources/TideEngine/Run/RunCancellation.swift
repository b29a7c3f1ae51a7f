// RunCancellation.swift: a handle to cancel one run from outside (a daemon's `run.cancel`).
import Synchronization

/// Cancels a run started with ``RunExecutor/execute(_:limits:observer:clock:cancellation:cancellationReason:)``.
/// Cancelling before the run starts cancels it as soon as it does.
public final class RunCancellation: Sendable {
    private struct State {
        var mailbox: Mailbox?
        var pending: [String] = []
    }

    private let state = Mutex(State())

    /// Creates a handle.
    public init() {}

    /// Asks the run to stop: its tasks are cancelled, then its compensations run. A second
    /// request during that cleanup stops the cleanup too.
    public func cancel(reason: String) {
        let mailbox = state.withLock { s -> Mailbox? in
            if s.mailbox == nil { s.pending.append(reason) }
            return s.mailbox
        }
        mailbox?.cancel(reason: reason)
    }

    func attach(_ mailbox: Mailbox) {
        let pending = state.withLock { s -> [String] in
            s.mailbox = mailbox
            defer { s.pending = [] }
            return s.pending
        }
        for reason in pending { mailbox.cancel(reason: reason) }
    }
}

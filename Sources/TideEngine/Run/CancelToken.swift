// CancelToken.swift: lets the run thread cancel one subprocess task of the async side.
import Synchronization

/// Fires once, cancelled or finished; an async waiter returns when it fires.
final class CancelToken: Sendable {
    private enum State {
        case pending(CheckedContinuation<Void, Never>?)
        case fired
    }

    private let state = Mutex<State>(.pending(nil))
    private let cancelled = Mutex(false)

    /// Whether the token was fired by a cancellation (not by the work finishing).
    var wasCancelled: Bool { cancelled.withLock { $0 } }

    /// Fires the token for a cancellation.
    func cancel() {
        cancelled.withLock { $0 = true }
        fire()
    }

    /// Fires the token (cancel or finish, the same to the waiter).
    func fire() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            defer { state = .fired }
            if case .pending(let c) = state { return c }
            return nil
        }
        waiter?.resume()
    }

    /// Returns when the token fires (at once if it has).
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let fired = state.withLock { state -> Bool in
                if case .fired = state { return true }
                state = .pending(continuation)
                return false
            }
            if fired { continuation.resume() }
        }
    }
}

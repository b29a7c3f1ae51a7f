// CancelToken.swift: lets the run thread cancel one subprocess task of the async side.
import Synchronization

/// Fires once, cancelled or finished; an async waiter returns when it fires.
final class CancelToken: Sendable {
    private enum State {
        case pending(CheckedContinuation<Void, Never>?)
        case fired(cancelled: Bool)
    }

    private let state = Mutex<State>(.pending(nil))

    /// Whether the token was fired by a cancellation that came before the work's own end.
    var wasCancelled: Bool {
        state.withLock { if case .fired(let cancelled) = $0 { return cancelled } else { return false } }
    }

    /// Whether the token has fired (either way).
    var hasFired: Bool {
        state.withLock { if case .fired = $0 { return true } else { return false } }
    }

    /// Fires the token for a cancellation; a no-op once the work has finished.
    func cancel() { transition(cancelled: true) }

    /// Fires the token because the work finished; a no-op once cancelled.
    func fire() { transition(cancelled: false) }

    private func transition(cancelled: Bool) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard case .pending(let c) = state else { return nil }
            state = .fired(cancelled: cancelled)
            return c
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

// HTTPExchangeState.swift: the lifecycle of one http call across its redirects, as a value.

/// Where an http call is: a request (hop) in flight, finished, or cancelled. The owner
/// (``HTTPExchange``) feeds it events from the run thread and the event loop and performs the
/// action it returns, so the rules are testable without I/O.
struct HTTPExchangeState: Equatable {
    enum State: Equatable {
        /// Request number `hop` is in flight (0: the first; each followed redirect adds one).
        case sending(hop: Int)
        /// The outcome was handed to the task.
        case finished
        /// The task was cancelled: the request is aborted and nothing is delivered.
        case cancelled
    }

    /// What to do with a response.
    enum ResponseAction: Equatable {
        /// Send the next hop.
        case follow
        /// Hand this response to the task.
        case deliver
        /// Fail the call: more redirects than allowed.
        case tooManyRedirects
        /// Nothing: the call was cancelled.
        case drop
    }

    private(set) var state: State = .sending(hop: 0)
    /// Redirects followed at most; 0 delivers a redirect response as it is.
    let maxRedirects: Int

    init(maxRedirects: Int) {
        self.maxRedirects = maxRedirects
    }

    /// A response arrived; `redirect` says whether it points somewhere that can be followed.
    mutating func received(redirect: Bool) -> ResponseAction {
        guard case .sending(let hop) = state else { return .drop }
        guard redirect, maxRedirects > 0 else {
            state = .finished
            return .deliver
        }
        guard hop < maxRedirects else {
            state = .finished
            return .tooManyRedirects
        }
        state = .sending(hop: hop + 1)
        return .follow
    }

    /// The request failed; returns whether to deliver the failure (not after a cancel).
    mutating func failed() -> Bool {
        guard case .sending = state else { return false }
        state = .finished
        return true
    }

    /// The task was cancelled; returns whether a request is in flight to abort.
    mutating func cancel() -> Bool {
        guard case .sending = state else { return false }
        state = .cancelled
        return true
    }

    /// Whether the call was cancelled (a hop about to start must not).
    var isCancelled: Bool { state == .cancelled }
}

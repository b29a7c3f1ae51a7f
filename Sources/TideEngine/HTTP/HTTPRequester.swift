// HTTPRequester.swift: a run's http calls: started from the run thread, results to its mailbox.
import Synchronization

/// Starts http calls for a run. Results come back through the run's mailbox.
protocol HTTPLauncher: AnyObject {
    /// Starts `call`; its outcome is delivered later under `id`.
    func launch(_ call: HTTPCall, id: Int)
    /// Aborts the call started under `id` (its connection is closed); nothing is delivered.
    func cancel(id: Int)
}

/// The run's ``HTTPLauncher`` on the shared client: no Swift task per call, the event loop
/// posts each outcome to the mailbox.
final class HTTPRequester: HTTPLauncher, Sendable {
    private let mailbox: Mailbox
    private let live = Mutex<[Int: HTTPExchange]>([:])

    init(mailbox: Mailbox) {
        self.mailbox = mailbox
    }

    deinit {
        cancelAll()
    }

    func launch(_ call: HTTPCall, id: Int) {
        guard let client = SharedHTTPClient.client() else {
            let failure = HTTPFailure(reason: .shutdown, message: "\(call.method) \(call.url): tide is shutting down and sends no more requests")
            mailbox.post(.httpFinished(id: id, outcome: .failure(failure)))
            return
        }
        let exchange = HTTPExchange(call, client: client) { [weak self, mailbox] outcome in
            _ = self?.live.withLock { $0.removeValue(forKey: id) }
            if let outcome { mailbox.post(.httpFinished(id: id, outcome: outcome)) }
        }
        live.withLock { $0[id] = exchange }
        exchange.start()
    }

    func cancel(id: Int) {
        live.withLock { $0.removeValue(forKey: id) }?.cancel()
    }

    /// Aborts every call still in flight (the run is over).
    func cancelAll() {
        let all = live.withLock { live in
            defer { live.removeAll() }
            return Array(live.values)
        }
        for exchange in all { exchange.cancel() }
    }
}

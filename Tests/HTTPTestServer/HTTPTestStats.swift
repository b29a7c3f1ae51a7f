// HTTPTestStats.swift: what the test server has seen, read by tests while it runs.
import Synchronization

/// Counters of an ``HTTPTestServer`` (thread-safe).
public final class HTTPTestStats: Sendable {
    struct Counters {
        var requests = 0
        var inFlight = 0
        var maxInFlight = 0
        var aborted: [String] = []
        var bytesStreamed = 0
        var connections = 0
        var closed = 0
        var paths: [String] = []
        var hanging = 0
    }

    private let counters = Mutex(Counters())

    /// Requests received (complete heads and bodies).
    public var requests: Int { counters.withLock { $0.requests } }
    /// The most requests that were being answered at the same time.
    public var maxInFlight: Int { counters.withLock { $0.maxInFlight } }
    /// Requests being answered now.
    public var inFlight: Int { counters.withLock { $0.inFlight } }
    /// Paths of requests whose connection closed before their response was complete.
    public var aborted: [String] { counters.withLock { $0.aborted } }
    /// Body bytes written by the streaming routes.
    public var bytesStreamed: Int { counters.withLock { $0.bytesStreamed } }
    /// Connections accepted.
    public var connections: Int { counters.withLock { $0.connections } }
    /// Connections accepted that are still open.
    public var openConnections: Int { counters.withLock { $0.connections - $0.closed } }
    /// Paths requested, in order of arrival.
    public var paths: [String] { counters.withLock { $0.paths } }

    /// The counters in one line, for test failure messages.
    public var summary: String {
        counters.withLock {
            "requests \($0.requests), connections \($0.connections) (\($0.closed) closed), in flight \($0.inFlight), aborted \($0.aborted), streamed \($0.bytesStreamed) bytes"
        }
    }

    /// How many aborted requests had a path starting with `prefix`.
    public func abortedCount(_ prefix: String) -> Int {
        counters.withLock { $0.aborted.filter { $0.hasPrefix(prefix) }.count }
    }

    /// Whether a call to `path` that gave up on its own (a timeout) was abandoned: its request
    /// was aborted, or, when it had not reached the server yet (a loaded machine can take longer
    /// than the timeout to send it), no connection was left open and nothing arrived.
    public func abandoned(_ path: String) -> Bool {
        counters.withLock { c in
            c.aborted.filter { $0.hasPrefix(path) }.count == 1
                || (c.requests == 0 && c.connections == c.closed)
        }
    }

    /// `/hang` requests in flight now.
    public var hangingNow: Int { counters.withLock { $0.hanging } }

    func hanging(_ delta: Int) { counters.withLock { $0.hanging += delta } }

    func connected() { counters.withLock { $0.connections += 1 } }

    func disconnected() { counters.withLock { $0.closed += 1 } }

    func began(_ path: String) {
        counters.withLock {
            $0.requests += 1
            $0.inFlight += 1
            $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
            $0.paths.append(path)
        }
    }

    func ended(_ path: String, aborted: Bool) {
        counters.withLock {
            $0.inFlight -= 1
            if aborted { $0.aborted.append(path) }
        }
    }

    func streamed(_ count: Int) { counters.withLock { $0.bytesStreamed += count } }
}

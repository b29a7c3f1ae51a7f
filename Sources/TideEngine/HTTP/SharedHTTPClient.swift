// SharedHTTPClient.swift: the one HTTP client of the process, created on first use.
import AsyncHTTPClient
import NIOCore
import NIOPosix
import Synchronization

/// The process's async-http-client, shared by every run: one connection pool (keep-alive
/// connections are reused across tasks and runs), on NIO's shared event loop group.
///
/// It is created by the first http call and shut down by ``shutdown()``, which `tide exec` and
/// `tide serve` call on their way out (after every run has ended). A process that never made a
/// call never creates it.
public enum SharedHTTPClient {
    private enum State {
        case none
        case running(HTTPClient)
        case shutDown
    }

    private static let state = Mutex<State>(.none)

    /// Connections kept per host (more requests to one host wait for a free connection).
    static let connectionsPerHost = 64

    /// The client, created now if needed; nil once shut down.
    static func client() -> HTTPClient? {
        state.withLock { state in
            switch state {
            case .running(let client):
                return client
            case .shutDown:
                return nil
            case .none:
                let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
                state = .running(client)
                return client
            }
        }
    }

    /// Shuts the client down if it was created (requests still in flight fail); later calls
    /// fail with a `shutdown` error. Call once, when the process is done running flows.
    public static func shutdown() async {
        let client = state.withLock { state -> HTTPClient? in
            defer { state = .shutDown }
            if case .running(let client) = state { return client }
            return nil
        }
        try? await client?.shutdown()
    }

    /// Redirects are followed by tide (per call, see ``HTTPRedirect``); a refused connection fails
    /// at once instead of being retried until the deadline; every call has its own deadline, so
    /// there is no read timeout; bodies are returned as sent (no decompression).
    private static var configuration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(30)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost))
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }
}

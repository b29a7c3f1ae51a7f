// HTTPTestSupport.swift: a loopback server per test.
import Foundation
import HTTPTestServer
import TideEngine
import TideProtocol

/// Starts a fresh server (its counters belong to this test alone), runs `body`, stops it.
func withHTTPServer<T>(tls: Bool = false, _ body: (HTTPTestServer) async throws -> T) async throws -> T {
    try await HTTPTestServer.with(tls: tls ? try await HTTPTestCertificate.shared() : nil, body)
}

/// A loopback port nothing listens on (bound once, then released).
func closedPort() async throws -> Int {
    let server = try await HTTPTestServer.start()
    let port = server.port
    await server.stop()
    return port
}

extension JSONValue {
    /// The integer, if this is one.
    var int: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }

    /// The array's elements, if this is an array.
    var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

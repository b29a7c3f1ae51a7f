// HTTPTestServer.swift: a real HTTP/1.1 server on loopback for tests and benchmarks (NIO).
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An HTTP server on 127.0.0.1 with routes made for testing a client (see ``HTTPTestRoutes``),
/// optionally over TLS, that counts what it sees: requests, requests in flight at once, and
/// requests whose connection closed before their response was complete (aborted).
public final class HTTPTestServer: Sendable {
    /// The port it listens on.
    public let port: Int
    /// "http" or "https".
    public let scheme: String
    /// What the server has seen.
    public let stats: HTTPTestStats
    private let channel: Channel
    private let group: MultiThreadedEventLoopGroup?

    /// The URL of `path` on this server, e.g. `url("/echo")`.
    public func url(_ path: String) -> String { "\(scheme)://127.0.0.1:\(port)\(path)" }

    /// Starts a server on an ephemeral port (or `port`). With `tls`, it speaks HTTPS with that
    /// certificate. `threads` > 0 gives it its own event loop group (benchmarks); 0 uses NIO's
    /// shared one.
    public static func start(tls: HTTPTestCertificate? = nil, port: Int = 0, threads: Int = 0) async throws -> HTTPTestServer {
        let stats = HTTPTestStats()
        let group = threads > 0 ? MultiThreadedEventLoopGroup(numberOfThreads: threads) : nil
        let sslContext = try tls.map { tls in
            try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificatePath).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.keyPath, format: .pem))))
        }
        let bootstrap = ServerBootstrap(group: group ?? MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HTTPTestHandler(stats: stats))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
        return HTTPTestServer(
            port: channel.localAddress?.port ?? 0, scheme: tls == nil ? "http" : "https", stats: stats, channel: channel,
            group: group)
    }

    private init(port: Int, scheme: String, stats: HTTPTestStats, channel: Channel, group: MultiThreadedEventLoopGroup?) {
        self.port = port
        self.scheme = scheme
        self.stats = stats
        self.channel = channel
        self.group = group
    }

    /// Starts a server, runs `body` with it, and stops it whether `body` returns or throws.
    public static func with<T>(tls: HTTPTestCertificate? = nil, _ body: (HTTPTestServer) async throws -> T) async throws -> T {
        let server = try await start(tls: tls)
        do {
            let value = try await body(server)
            await server.stop()
            return value
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Stops listening (open connections are left to their clients).
    public func stop() async {
        try? await channel.close()
        try? await group?.shutdownGracefully()
    }

    /// Blocks until the listening socket closes (a server process's main loop).
    public func wait() async {
        try? await channel.closeFuture.get()
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, made with `openssl req -x509`.
public struct HTTPTestCertificate: Sendable {
    public var certificatePath: String
    public var keyPath: String

    /// One certificate for the whole test process, generated on first use on a thread of its own:
    /// the RSA key takes a while, and a cooperative thread blocked on it would stall every test
    /// of the process (there are as many of those threads as cores).
    public static func shared() async throws -> HTTPTestCertificate { try await sharedGeneration.value }

    private static let sharedGeneration = Task<HTTPTestCertificate, Error> {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    let dir = FileManager.default.temporaryDirectory.appending(path: "tide-http-tests-\(getpid())").path
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    return try generate(in: dir)
                })
            }.start()
        }
    }

    /// Generates one in `directory`, waiting for openssl: call it off the cooperative pool.
    public static func generate(in directory: String) throws -> HTTPTestCertificate {
        let certificate = directory + "/cert.pem", key = directory + "/key.pem"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl req -x509 failed"])
        }
        return HTTPTestCertificate(certificatePath: certificate, keyPath: key)
    }
}

// ControlServer.swift: the Unix socket (SPEC §7): JSON-RPC 2.0 lines, many requests per connection.
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TideProtocol

/// The control socket's server.
///
/// Each connection is a child task; each request on it another, so slow requests (a run with
/// `wait`, a subscription) never hold up the others. Only the daemon's own user and root may
/// connect: the peer's credentials are checked when it connects, besides the socket's 0600 mode.
///
/// Back-pressure: a connection has at most ``maxRequestsInFlight`` requests between read and
/// written; while it is at that bound its serving task stops pulling lines, the inbound stream's
/// watermarks then stop NIO reading the socket, and the client's writes block in its kernel.
/// Answers wait for the channel to be writable, so what is held for one client is bounded.
public final class ControlServer: Service {
    private let path: String
    private let api: ControlAPI
    private let logger: Logger
    private let channel: NIOAsyncChannel<Connection, Never>
    private let connections: Mutex<ConnectionTable<any Channel>>

    /// The most requests of one connection between read and answered; more wait unread.
    static let maxRequestsInFlight = 256
    /// The default limit on connections held at once.
    public static let defaultMaxConnections = 4096

    /// A connected client: its channel, its user id, and the end of its channel.
    struct Connection: Sendable {
        var channel: NIOAsyncChannel<LineFrame, ByteBuffer>
        var uid: UInt32?
        /// Finishes when the channel closes (the client went away entirely, or a write failed).
        var closed: AsyncStream<Never>
    }

    /// The layout of Linux's `struct ucred` (SO_PEERCRED).
    private struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// Binds the socket at `path` (removing a stale one: the caller holds the home's lock) with
    /// mode 0600; at most `maxConnections` connections are held at once.
    public init(path: String, api: ControlAPI, group: MultiThreadedEventLoopGroup, maxConnections: Int = defaultMaxConnections,
                logger: Logger) async throws {
        self.path = path
        self.api = api
        self.logger = logger
        connections = Mutex(ConnectionTable(limit: maxConnections))
        let previous = umask(0o177)  // the socket file is created 0600, never briefly wider
        defer { umask(previous) }
        // a stale socket of a daemon that died (the caller holds the home's lock); never a file
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw DaemonError("\(path) exists and is not a socket: choose another --socket (tide never deletes it)")
            }
            unlink(path)
        }
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            // a client that shuts down its writing side still reads the answers to what it sent
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(to: SocketAddress(Self.address(path))) { child in
                let credentials: EventLoopFuture<PeerCredentials>
                if let provider = child as? SocketOptionProvider {
                    credentials = provider.unsafeGetSocketOption(level: .init(SOL_SOCKET), name: .init(SO_PEERCRED))
                } else {
                    credentials = child.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
                }
                return credentials.map(Optional.some).recover { _ in nil }.flatMapThrowing { peer in
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder()))
                    let async = try NIOAsyncChannel<LineFrame, ByteBuffer>(wrappingChannelSynchronously: child)
                    let (closed, ended) = AsyncStream<Never>.makeStream()
                    child.closeFuture.whenComplete { _ in ended.finish() }
                    return Connection(channel: async, uid: peer?.uid, closed: closed)
                }
            }
        chmod(path, 0o600)
    }

    /// The socket address of `path`, built here because NIO's own check stops at macOS's 103
    /// bytes, while Linux takes 107 (the caller checks that limit).
    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await channel.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        admit(connection, into: &group)
                    }
                    // the listener closed (graceful shutdown): end the open connections too, or
                    // an idle client or a subscription would keep the daemon alive
                    group.cancelAll()
                }
            }
        } onGracefulShutdown: { [channel] in
            channel.channel.close(promise: nil)
        }
        unlink(path)
    }

    /// Serves a new connection, or refuses it at the limit, making room first if a quiet
    /// connection can give its place.
    private func admit(_ connection: Connection, into group: inout ThrowingDiscardingTaskGroup<any Error>) {
        let (admission, warn, limit) = connections.withLock { table in
            let (admission, warn) = table.open(connection.channel.channel)
            return (admission, warn, table.limit)
        }
        if warn {
            logger.warning("at the connection limit (\(limit) connections): refusing new connections and closing those that sent no request; --max-connections raises the limit (not logged again until the connections fall to \(limit * 3 / 4))")
        }
        switch admission {
        case .accept(let id):
            group.addTask { await self.serve(connection, id: id) }
        case .acceptEvicting(let id, let evicted):
            let error = RPCError(tide: "too_many_connections", "closed: the daemon is at its limit of \(limit) connections and this connection had sent no request; connect again when you have one to send")
            let line = ByteBuffer(bytes: Self.line(error.response))
            evicted.writeAndFlush(line).whenComplete { _ in evicted.close(promise: nil) }
            group.addTask { await self.serve(connection, id: id) }
        case .refuse:
            let error = RPCError(tide: "too_many_connections", "the daemon is serving its limit of \(limit) connections, each with a request in progress; close some, or raise tide serve --max-connections, then try again")
            group.addTask { await self.refuse(connection, error) }
        }
    }

    /// Answers `error` (id null) at once, then closes.
    private func refuse(_ connection: Connection, _ error: RPCError) async {
        let channel = connection.channel.channel
        try? await channel.writeAndFlush(ByteBuffer(bytes: Self.line(error.response))).get()
        try? await channel.close()
    }

    private func serve(_ connection: Connection, id: Int) async {
        defer {
            if let ended = connections.withLock({ $0.closed(id) }) {
                logger.notice("below the connection limit again: \(ended.refused) connections refused, \(ended.evicted) closed for sending no request")
            }
        }
        if let refusal = refusal(of: connection.uid) {
            logger.warning("refused a connection from \(Self.describe(uid: connection.uid))")
            await refuse(connection, refusal)
            return
        }
        do {
            try await connection.channel.executeThenClose { inbound, outbound in
                let sink = LineWriter(outbound)
                // the requests until the input ends, or everything once the channel closes
                await withTaskGroup(of: Void.self) { race in
                    race.addTask { for await _ in connection.closed {} }
                    race.addTask { await self.answer(inbound, sink, connection: id) }
                    await race.next()
                    race.cancelAll()
                }
            }
        } catch {
            logger.debug("connection ended: \(error)")
        }
    }

    /// Reads lines and answers them, at most ``maxRequestsInFlight`` at once; returns once the
    /// input has ended and every request read is answered.
    private func answer(_ inbound: NIOAsyncChannelInboundStream<LineFrame>, _ sink: LineWriter, connection id: Int) async {
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            var active = false
            do {
                for try await frame in inbound {
                    switch frame {
                    case .line(let bytes):
                        guard bytes.readableBytes > 0 else { continue }
                        if !active {
                            guard connections.withLock({ $0.requested(id) }) else { return }  // closed to make room
                            active = true
                        }
                        if inFlight == Self.maxRequestsInFlight {
                            await group.next()
                            inFlight -= 1
                        }
                        inFlight += 1
                        group.addTask { await self.answer(bytes, sink) }
                    case .tooLong:
                        await sink.send(RPCError(.invalidRequest, "line longer than 1 MiB: closing the connection").response)
                        group.cancelAll()
                        return
                    }
                }
            } catch {
                logger.debug("reading a connection failed: \(error)")
            }
            // the input ended (the client shut down its writing side, or closed): what was read
            // is still answered; if the client is gone entirely, the channel closes and the
            // caller cancels this
        }
    }

    /// Parses a line and answers it (a request, or a batch).
    private func answer(_ bytes: ByteBuffer, _ sink: LineWriter) async {
        switch RPCInput(line: bytes.readableBytesView) {
        case .invalid(let error):
            await sink.send(error.response)
        case .single(let request):
            if let response = await respond(to: request, sink: sink, inBatch: false) { await sink.send(response) }
        case .batch(let items):
            let responses = await withTaskGroup(of: (Int, RPCResponse?).self) { group in
                for (i, item) in items.enumerated() {
                    group.addTask { (i, await self.respond(to: item, sink: sink, inBatch: true)) }
                }
                var out: [(Int, RPCResponse)] = []
                for await (i, response) in group { if let response { out.append((i, response)) } }
                return out.sorted { $0.0 < $1.0 }.map(\.1)
            }
            if !responses.isEmpty { await sink.send(batch: responses) }
        }
    }

    /// The response to one request; nil for notifications and for methods that answered by
    /// themselves.
    private func respond(to item: Result<RPCRequest, RPCError>, sink: LineWriter, inBatch: Bool) async -> RPCResponse? {
        let request: RPCRequest
        switch item {
        case .success(let r): request = r
        case .failure(let error): return error.response
        }
        do throws(RPCError) {
            if inBatch && (ControlAPI.streaming.contains(request.method) || (try? request.bool("follow")) == true) {
                throw RPCError(.invalidParams, "\(request.method) streams notifications and cannot be part of a batch", id: request.id)
            }
            let result = try await api.handle(request, sink: sink)
            guard let id = request.id, let result else { return nil }
            return .result(result, id: id)
        } catch {
            guard request.id != nil else { return nil }  // notifications get no answer, even errors
            return error.answering(request.id).response
        }
    }

    // MARK: - Who may connect

    /// The error for a peer that may not connect, nil for one that may (the daemon's user, root).
    private func refusal(of uid: UInt32?) -> RPCError? {
        let me = getuid()
        if let uid, uid == me || uid == 0 { return nil }
        let allowed = me == 0 ? "root (uid 0)" : "\(Self.describe(uid: me)) and root (uid 0)"
        return RPCError(tide: "permission_denied", "permission denied: only \(allowed) may use this daemon's socket, and this connection is from \(Self.describe(uid: uid)); run tide as that user (e.g. sudo -u \(Self.userName(me) ?? "#\(me)"))")
    }

    /// "nobody (uid 65534)", or "uid 1234" without a user name, or "an unknown user".
    static func describe(uid: UInt32?) -> String {
        guard let uid else { return "an unknown user (its credentials could not be read)" }
        return userName(uid).map { "\($0) (uid \(uid))" } ?? "uid \(uid)"
    }

    static func userName(_ uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }

    static func line(_ response: RPCResponse) -> [UInt8] {
        var line: [UInt8] = []
        response.write(into: &line)
        line.append(UInt8(ascii: "\n"))
        return line
    }
}

/// Writes messages to one connection as lines; safe to use from many tasks at once. A write
/// waits while the channel is not writable (the client is not reading).
struct LineWriter: NotificationSink {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    init(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.outbound = outbound
    }

    func send(_ message: JSONValue) async {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        message.write(into: &line)
        line.append(UInt8(ascii: "\n"))
        await write(line)
    }

    func send(_ response: RPCResponse) async {
        await write(ControlServer.line(response))
    }

    func send(batch responses: [RPCResponse]) async {
        var line: [UInt8] = []
        RPCResponse.write(batch: responses, into: &line)
        line.append(UInt8(ascii: "\n"))
        await write(line)
    }

    private func write(_ line: [UInt8]) async {
        try? await outbound.write(ByteBuffer(bytes: line))  // fails only once the connection is gone
    }
}

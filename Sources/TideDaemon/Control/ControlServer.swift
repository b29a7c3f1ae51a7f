// ControlServer.swift: the Unix socket (SPEC §7): JSON-RPC 2.0 lines, many requests per connection.
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TideProtocol

/// The control socket's server.
///
/// Each connection is a child task; each request on it another, so slow requests (a run with
/// `wait`, a subscription) never hold up the others. Only the daemon's own user and root may
/// connect: the peer's credentials are checked when it connects, besides the socket's 0600 mode.
public final class ControlServer: Service {
    private let path: String
    private let api: ControlAPI
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let channel: NIOAsyncChannel<Connection, Never>

    /// A connected client: its channel and its user id.
    struct Connection: Sendable {
        var channel: NIOAsyncChannel<LineFrame, ByteBuffer>
        var uid: UInt32?
    }

    /// The layout of Linux's `struct ucred` (SO_PEERCRED).
    private struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// Binds the socket at `path` (removing a stale one: the caller holds the home's lock) with
    /// mode 0600.
    public init(path: String, api: ControlAPI, group: MultiThreadedEventLoopGroup, logger: Logger) async throws {
        self.path = path
        self.api = api
        self.group = group
        self.logger = logger
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
                    return Connection(channel: async, uid: peer?.uid)
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
                        group.addTask { await self.serve(connection) }
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

    private func serve(_ connection: Connection) async {
        do {
            try await connection.channel.executeThenClose { inbound, outbound in
                let sink = LineWriter(outbound)
                let me = getuid()
                guard let uid = connection.uid, uid == me || uid == 0 else {
                    let who = connection.uid.map { "uid \($0)" } ?? "an unknown user"
                    logger.warning("refused a connection from \(who)")
                    await sink.send(RPCError(tide: "permission_denied", "only the daemon's user (uid \(me)) and root may use this socket; you are \(who)").response)
                    return
                }
                try await withThrowingDiscardingTaskGroup { group in
                    for try await frame in inbound {
                        switch frame {
                        case .line(let bytes):
                            guard bytes.readableBytes > 0 else { continue }
                            group.addTask { await self.answer(bytes, sink) }
                        case .tooLong:
                            await sink.send(RPCError(.invalidRequest, "line longer than 1 MiB: closing the connection").response)
                            group.cancelAll()
                            return
                        }
                    }
                    // the client closed its side: requests in progress (subscriptions) end
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("connection ended: \(error)")
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

    static func line(_ response: RPCResponse) -> [UInt8] {
        var line: [UInt8] = []
        response.write(into: &line)
        line.append(UInt8(ascii: "\n"))
        return line
    }
}

/// Writes messages to one connection as lines; safe to use from many tasks at once.
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

// HTTPTestHandler.swift: the test server's routes, one connection per handler.
import Foundation
import NIOCore
import NIOHTTP1

/// Routes (any method unless noted):
/// - `/echo`: a JSON object with the request's `method`, `path`, `query`, `headers` (names in
///   lower case, repeated values joined with ", ") and `body`.
/// - `/json`: a fixed JSON document; `/not-json`: HTML.
/// - `/status/N`: status N with body "status N".
/// - `/headers`: repeated `set-cookie` and `x-multi` headers, and `X-Mixed-Case`.
/// - `/redirect/N`: 302 to `/redirect/N-1`; `/redirect/0` answers "landed".
/// - `/redirect-to?status=S&location=L`: status S with `Location: L`.
/// - `/loop`: 302 to itself.
/// - `/slow?ms=N`: answers "slow" after N ms.
/// - `/hang`: never answers.
/// - `/when-hanging`: answers "hanging" once a `/hang` request is in flight (a client's way to
///   know that its other request has reached the server).
/// - `/stream?bytes=N`: N bytes, chunked, written as the client reads them.
/// - `/declared?bytes=N`: the same with `Content-Length: N` announced up front.
/// - `/bench`: "ok".
final class HTTPTestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)

    private let stats: HTTPTestStats
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    /// The path of the request being answered, until its response has been written.
    private var active: String?

    init(stats: HTTPTestStats) {
        self.stats = stats
    }

    func channelActive(context: ChannelHandlerContext) {
        stats.connected()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let active {
            if active == "/hang" { stats.hanging(-1) }
            stats.ended(active, aborted: true)
            self.active = nil
        }
        stats.disconnected()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let head else { return }
            let (path, query) = Self.split(head.uri)
            active = path
            stats.began(path)
            route(context, head, path, query)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func route(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ path: String, _ query: [String: String]) {
        switch path {
        case "/bench":
            respond(context, body: "ok")
        case "/echo":
            var headers: [String: String] = [:]
            for (name, value) in head.headers {
                let key = name.lowercased()
                headers[key] = headers[key].map { $0 + ", " + value } ?? value
            }
            let object: [String: Any] = [
                "method": head.method.rawValue, "path": path, "query": query, "headers": headers,
                "body": String(decoding: body.readableBytesView, as: UTF8.self),
            ]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            respond(context, headers: [("content-type", "application/json")], body: String(decoding: data, as: UTF8.self))
        case "/json":
            respond(
                context, headers: [("content-type", "application/json")],
                body: #"{"hello":"world","list":[1,2,3],"nested":{"ok":true}}"#)
        case "/not-json":
            respond(context, headers: [("content-type", "text/html")], body: "<html>oops, not JSON</html>")
        case "/headers":
            respond(
                context,
                headers: [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2"), ("X-Multi", "one"), ("X-Multi", "two"), ("X-Mixed-Case", "yes")],
                body: "headers")
        case "/loop":
            respond(context, status: .found, headers: [("location", "/loop")], body: "")
        case "/redirect-to":
            let status = HTTPResponseStatus(statusCode: Int(query["status"] ?? "") ?? 302)
            respond(context, status: status, headers: [("location", query["location"] ?? "/")], body: "moved")
        case "/slow":
            let ms = Int64(query["ms"] ?? "") ?? 100
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(ms)) {
                guard self.active == path, context.channel.isActive else { return }
                self.respond(context, body: "slow")
            }
        case "/hang":
            stats.hanging(+1)  // never answers; the client's closing is counted as an abort
        case "/when-hanging":
            whenHanging(context, path: path)
        case "/stream", "/declared":
            let total = Int(query["bytes"] ?? "") ?? 1024
            var headers = HTTPHeaders([("content-type", "application/octet-stream")])
            if path == "/declared" { headers.add(name: "content-length", value: String(total)) }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
            stream(context, remaining: total, path: path)
        default:
            if path.hasPrefix("/status/"), let code = Int(path.dropFirst("/status/".count)) {
                respond(context, status: HTTPResponseStatus(statusCode: code), body: "status \(code)")
            } else if path.hasPrefix("/redirect/"), let n = Int(path.dropFirst("/redirect/".count)) {
                if n <= 0 {
                    respond(context, body: "landed")
                } else {
                    respond(context, status: .found, headers: [("location", "/redirect/\(n - 1)")], body: "")
                }
            } else {
                respond(context, status: .notFound, body: "no route \(path)")
            }
        }
    }

    private func whenHanging(_ context: ChannelHandlerContext, path: String) {
        guard active == path, context.channel.isActive else { return }
        if stats.hangingNow > 0 {
            respond(context, body: "hanging")
        } else {
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(5)) { self.whenHanging(context, path: path) }
        }
    }

    /// Writes the body one chunk at a time, each after the previous one reached the socket, so a
    /// client that stops reading stops the server too (and a closed connection ends it).
    private func stream(_ context: ChannelHandlerContext, remaining: Int, path: String) {
        guard remaining > 0 else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in self.finished(path) }
            return
        }
        let size = min(remaining, Self.chunk.readableBytes)
        let part = Self.chunk.getSlice(at: Self.chunk.readerIndex, length: size)!
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(part)))).assumeIsolated().whenComplete { result in
            guard case .success = result else { return }  // the connection closed: channelInactive counts it
            self.stats.streamed(size)
            // through the loop, not recursion: a write that completes at once would nest deeper and deeper
            context.eventLoop.assumeIsolated().execute { self.stream(context, remaining: remaining - size, path: path) }
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, status: HTTPResponseStatus = .ok, headers: [(String, String)] = [], body text: String
    ) {
        guard let head else { return }
        var fields = HTTPHeaders(headers)
        fields.add(name: "content-length", value: String(text.utf8.count))
        if fields.first(name: "content-type") == nil { fields.add(name: "content-type", value: "text/plain") }
        let path = active ?? ""
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: fields))), promise: nil)
        if !text.isEmpty, head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in self.finished(path) }
    }

    private func finished(_ path: String) {
        guard active == path else { return }
        active = nil
        stats.ended(path, aborted: false)
    }

    private static func split(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let key = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            query[key] = value
        }
        return (String(uri[..<mark]), query)
    }
}

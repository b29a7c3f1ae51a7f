// HTTPBodyCollector.swift: gathers one response, refusing a body over the cap as it streams.
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// The async-http-client delegate of one request: keeps the head and the body up to `maxBody`
/// bytes. A larger body fails the request as soon as it shows (a `content-length` over the cap,
/// or the first part past it): the connection is closed, the rest is never downloaded.
///
/// `@unchecked Sendable`: async-http-client calls a delegate on one event loop, one call at a
/// time, and reads the result only after the last call; nothing else touches its fields.
final class HTTPBodyCollector: HTTPClientResponseDelegate, @unchecked Sendable {
    /// The response of one hop.
    struct Response: Sendable {
        var status: UInt
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    private let maxBody: Int
    private let headRequest: Bool
    private let describe: @Sendable () -> String
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?

    /// `describe` gives "METHOD URL" for the over-the-cap message.
    init(maxBody: Int, headRequest: Bool, describe: @escaping @Sendable () -> String) {
        self.maxBody = maxBody
        self.headRequest = headRequest
        self.describe = describe
    }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        self.head = head
        let status = head.status.code
        if !headRequest, status != 204, status != 304, let declared = head.headers.first(name: "content-length").flatMap(Int.init) {
            if declared > maxBody { return task.eventLoop.makeFailedFuture(tooLarge(declared: declared)) }
            // reserved up to 1 MiB: a server's announcement alone does not make tide reserve the cap
            if declared > 0 { body = ByteBufferAllocator().buffer(capacity: min(declared, 1 << 20)) }
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ part: ByteBuffer) -> EventLoopFuture<Void> {
        guard var collected = body else {
            if part.readableBytes > maxBody { return task.eventLoop.makeFailedFuture(tooLarge(declared: nil)) }
            body = part  // the common case, one part: kept without a copy
            return task.eventLoop.makeSucceededVoidFuture()
        }
        if collected.readableBytes + part.readableBytes > maxBody {
            body = nil
            return task.eventLoop.makeFailedFuture(tooLarge(declared: nil))
        }
        body = nil  // unique, so the write below does not copy the storage
        var part = part
        collected.writeBuffer(&part)
        body = collected
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        guard let head else { throw HTTPFailure(reason: .io, message: "\(describe()): the response ended before its head") }
        return Response(status: head.status.code, headers: head.headers, body: body ?? ByteBuffer())
    }

    private func tooLarge(declared: Int?) -> HTTPFailure {
        let limit = formatBytes(maxBody)
        let what = declared.map { "the response body (\(formatBytes($0)) announced) is larger than max_body = \(limit)" }
            ?? "the response body passed max_body = \(limit)"
        return HTTPFailure(reason: .tooLarge, message: "\(describe()): \(what); the download was stopped (raise max_body to accept more)")
    }
}

/// "64 MiB", "1.5 KiB", "512 bytes".
func formatBytes(_ count: Int) -> String {
    let units = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
    for (size, name) in units where count >= size {
        let value = Double(count) / Double(size)
        return value == value.rounded() ? "\(Int(value)) \(name)" : "\((value * 10).rounded() / 10) \(name)"
    }
    return "\(count) bytes"
}

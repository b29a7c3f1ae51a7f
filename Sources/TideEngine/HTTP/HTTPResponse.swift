// HTTPResponse.swift: what an http call came to, as the run thread receives it.
import NIOCore
import NIOHTTP1

/// What an http call came to: the final response, or why there is none.
typealias HTTPOutcome = Result<HTTPResponse, HTTPFailure>

/// The final response of an http call.
struct HTTPResponse: Sendable {
    var status: UInt
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// The URL that answered (after redirects).
    var url: String
}

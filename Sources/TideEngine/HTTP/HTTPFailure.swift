// HTTPFailure.swift: why an http call produced no response, in words that name the URL.

/// A failed http call: a reason Lua code can match on (`err.reason`) and a message for people.
struct HTTPFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong; the raw value is the `reason` field of the Lua error.
    enum Reason: String, Sendable {
        /// The URL cannot be parsed, or has no host.
        case url
        /// The URL's scheme is not http or https.
        case scheme
        /// The host name does not resolve.
        case dns
        /// The connection was refused, reset, or the host is unreachable.
        case connect
        /// The TLS handshake failed (an untrusted or invalid certificate, most often).
        case tls
        /// The deadline (the `timeout` option) passed first. Raised with code `timeout`.
        case timeout
        /// The response body is larger than `max_body`.
        case tooLarge = "too_large"
        /// More redirects than `follow_redirects` allows, or a redirect that cannot be followed.
        case redirects
        /// An option cannot be used (an unreadable `ca_file`, a header that cannot be sent).
        case options
        /// The connection broke or the server broke the protocol.
        case io
        /// tide is shutting down and starts no new requests.
        case shutdown
    }

    /// What went wrong.
    var reason: Reason
    /// The full message, starting with the method and URL.
    var message: String

    /// The error code of the Lua error: `timeout` for deadlines, `http` for everything else.
    var code: String { reason == .timeout ? "timeout" : "http" }

    var description: String { message }
}
